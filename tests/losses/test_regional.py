"""Regional losses: hand-computed values and agreement with torch / MONAI."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from edgewise.losses import (
    CrossEntropyLoss,
    DiceLoss,
    FocalLoss,
    GeneralizedDiceLoss,
    TverskyLoss,
    cross_entropy_loss,
    dice_loss,
    focal_loss,
    generalized_dice_loss,
    tversky_loss,
)

# 1 x 2 image, two classes: target [0, 1]; probabilities chosen by hand.
TARGET = torch.tensor([[[[0, 1]]]])
PROBS = torch.tensor([[[[0.8, 0.3]], [[0.2, 0.7]]]], dtype=torch.float64)


def test_ce_hand_value_and_torch_parity():
    assert cross_entropy_loss(torch.zeros(1, 2, 2, 2), torch.tensor([[[[0, 1], [1, 0]]]])).item() == pytest.approx(math.log(2))
    expected = -(math.log(0.8) + math.log(0.7)) / 2
    assert cross_entropy_loss(PROBS, TARGET, softmax=False).item() == pytest.approx(expected, rel=1e-6)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 4, 5, 6, generator=g)
    t = torch.randint(0, 4, (3, 1, 5, 6), generator=g)
    t[0, 0, 0, :3] = 255
    w = torch.tensor([0.1, 1.0, 2.0, 0.5])
    ours = cross_entropy_loss(x, t, weight=w, ignore_index=255)
    ref = F.cross_entropy(x, t[:, 0], weight=w, ignore_index=255)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6)
    none = cross_entropy_loss(x, t, weight=w, ignore_index=255, reduction="none")
    torch.testing.assert_close(none, F.cross_entropy(x, t[:, 0], weight=w, ignore_index=255, reduction="none"))
    # sigmoid: per-channel binary CE against the one-hot target
    onehot = F.one_hot(t.clamp_max(3)[:, 0], 4).permute(0, 3, 1, 2).float()
    torch.testing.assert_close(cross_entropy_loss(x, onehot, sigmoid=True),
                               F.binary_cross_entropy_with_logits(x, onehot))
    assert CrossEntropyLoss()(x, onehot).item() == pytest.approx(F.cross_entropy(x, onehot).item(), rel=1e-6)


def test_dice_hand_value_and_shapes():
    loss = dice_loss(PROBS, TARGET, softmax=False, smooth_nr=0, smooth_dr=0, reduction="none")
    expected = torch.tensor([[1 - 1.6 / 2.1, 1 - 1.4 / 1.9]], dtype=torch.float64)
    torch.testing.assert_close(loss, expected)
    fg = dice_loss(PROBS, TARGET, softmax=False, include_background=False, smooth_nr=0, smooth_dr=0)
    assert fg.item() == pytest.approx(1 - 1.4 / 1.9)
    assert DiceLoss(batch=True, reduction="none")(torch.randn(3, 2, 4, 4), torch.randint(0, 2, (3, 1, 4, 4))).shape == (1, 2)


def test_dice_matches_monai():
    monai = pytest.importorskip("monai")
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 6, 7, generator=g)
    t = torch.randint(0, 3, (2, 1, 6, 7), generator=g)
    ref = monai.losses.DiceLoss(softmax=True, to_onehot_y=True)(x, t)
    torch.testing.assert_close(dice_loss(x, t), ref, rtol=1e-5, atol=1e-6)
    ref_gdl = monai.losses.GeneralizedDiceLoss(softmax=True, to_onehot_y=True)(x, t)
    torch.testing.assert_close(generalized_dice_loss(x, t), ref_gdl, rtol=1e-5, atol=1e-6)
    # a class absent from the whole batch and one absent from a sample; both class choices, both pools
    x4 = torch.randn(2, 4, 6, 7, generator=g)
    t4 = t.clone()
    t4[1][t4[1] == 2] = 0
    for bg in (True, False):
        for pool in (False, True):
            kw = {"softmax": True, "to_onehot_y": True, "include_background": bg, "batch": pool}
            torch.testing.assert_close(generalized_dice_loss(x4, t4, include_background=bg, batch=pool),
                                       monai.losses.GeneralizedDiceLoss(**kw)(x4, t4), rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(
                tversky_loss(x4, t4, include_background=bg, batch=pool, alpha=0.3, beta=0.7),
                monai.losses.TverskyLoss(alpha=0.3, beta=0.7, **kw)(x4, t4), rtol=1e-5, atol=1e-6)


def test_gdl_hand_values_and_absent_class():
    v = generalized_dice_loss(PROBS, TARGET, softmax=False, smooth_nr=0, smooth_dr=0)
    assert v.item() == pytest.approx(0.25)
    # class 1 absent: its infinite weight becomes the largest finite one (1/2^2)
    absent = torch.tensor([[[[0, 0]]]])
    v = generalized_dice_loss(PROBS, absent, softmax=False, smooth_nr=0, smooth_dr=0, reduction="none")
    assert v.shape == (1, 1)
    assert v.item() == pytest.approx(1 - 0.55 / 1.0)
    assert torch.isfinite(GeneralizedDiceLoss()(torch.randn(2, 3, 4, 4), torch.zeros(2, 1, 4, 4, dtype=torch.long)))


def test_focal_hand_values():
    expected = (0.2**2 * -math.log(0.8) + 0.3**2 * -math.log(0.7)) / 2
    assert focal_loss(PROBS, TARGET, softmax=False).item() == pytest.approx(expected, rel=1e-6)
    # sigmoid, logit 0: p = 0.5; positive: alpha * 0.25 * log 2; negative: (1 - alpha) * 0.25 * log 2
    x = torch.zeros(1, 1, 1, 2)
    t = torch.tensor([[[[1.0, 0.0]]]])
    none = focal_loss(x, t, sigmoid=True, alpha=0.25, reduction="none")
    torch.testing.assert_close(none, torch.tensor([[[[0.0625 * math.log(2), 0.1875 * math.log(2)]]]]))
    # gamma = 0 is cross-entropy
    g = torch.Generator().manual_seed(2)
    xr = torch.randn(2, 3, 4, 4, generator=g)
    tr = torch.randint(0, 3, (2, 1, 4, 4), generator=g)
    torch.testing.assert_close(FocalLoss(gamma=0.0)(xr, tr), cross_entropy_loss(xr, tr))


def test_tversky_hand_value():
    v = tversky_loss(PROBS, TARGET, softmax=False, alpha=0.3, beta=0.7, include_background=False,
                     smooth_nr=0, smooth_dr=0)
    assert v.item() == pytest.approx(1 - 0.7 / 0.97)
    x, t = torch.randn(2, 3, 5, 5), torch.randint(0, 3, (2, 1, 5, 5))
    torch.testing.assert_close(TverskyLoss()(x, t), dice_loss(x, t))


@pytest.mark.parametrize("fn", [dice_loss, generalized_dice_loss, tversky_loss, focal_loss, cross_entropy_loss])
@pytest.mark.parametrize("sigmoid", [False, True])
def test_ignore_index_regional(fn, sigmoid):
    """Ignored pixels are as if cropped away, for the value and for the "mean" denominator."""
    g = torch.Generator().manual_seed(5)
    x = torch.randn(2, 3, 2, 4, generator=g, dtype=torch.float64)
    t = torch.randint(0, 3, (2, 1, 2, 4), generator=g)
    t[..., 3] = 9  # the last column is ignored
    kw = {"sigmoid": True} if sigmoid else {}
    if fn in (dice_loss, generalized_dice_loss, tversky_loss):
        kw.update(smooth_nr=0, smooth_dr=0)
    masked = fn(x, t, ignore_index=9, **kw)
    cropped = fn(x[..., :3], t[..., :3], **kw)
    torch.testing.assert_close(masked, cropped)


def test_single_channel_probabilities_are_binary():
    """C = 1 probabilities hold the foreground probability: background pixels must cost
    -log(1 - p). Before the fix only -t log p was summed, so p = 1 everywhere scored 0."""
    p = torch.tensor([[[[0.9, 0.9, 0.2]]]], dtype=torch.float64)
    t = torch.tensor([[[[0.0, 1.0, 0.0]]]], dtype=torch.float64)
    bce = [-math.log(0.1), -math.log(0.9), -math.log(0.8)]
    none = cross_entropy_loss(p, t, softmax=False, reduction="none")
    torch.testing.assert_close(none, torch.tensor(bce, dtype=torch.float64).view(1, 1, 1, 3))
    assert cross_entropy_loss(p, t, softmax=False).item() == pytest.approx(sum(bce) / 3)
    torch.testing.assert_close(cross_entropy_loss(p, t, softmax=False), F.binary_cross_entropy(p, t))
    # the same values as a sigmoid head given logit(p)
    torch.testing.assert_close(cross_entropy_loss(torch.logit(p), t, sigmoid=True),
                               cross_entropy_loss(p, t, softmax=False))
    # focal, gamma = 2, alpha = 0.25: positives weighted 0.25 * (1-p)^2, negatives 0.75 * p^2
    focal = [0.75 * 0.9**2 * bce[0], 0.25 * 0.1**2 * bce[1], 0.75 * 0.2**2 * bce[2]]
    assert focal_loss(p, t, softmax=False, alpha=0.25).item() == pytest.approx(sum(focal) / 3)


def test_focal_softmax_logits_hand_formula():
    """Softmax focal loss from logits, written out with math on a 3-class, 2-pixel case."""
    logits = [[1.0, -0.5], [0.2, 2.0], [-1.0, 0.3]]  # [class][pixel]
    x = torch.tensor(logits, dtype=torch.float64).view(1, 3, 1, 2)
    t = torch.tensor([[[[2, 1]]]])

    def prob(c, j):
        z = [math.exp(logits[k][j]) for k in range(3)]
        return z[c] / sum(z)

    def term(c, j, gamma):
        return -((1 - prob(c, j)) ** gamma) * math.log(prob(c, j))

    for gamma in (0.0, 0.5, 2.0):
        expected = (term(2, 0, gamma) + term(1, 1, gamma)) / 2
        assert focal_loss(x, t, gamma=gamma).item() == pytest.approx(expected, rel=1e-9)
    # per-class alpha multiplies the true class's term; a float alpha is [1 - a, a, a]
    assert focal_loss(x, t, alpha=[0.1, 0.3, 0.6]).item() == pytest.approx(
        (0.6 * term(2, 0, 2.0) + 0.3 * term(1, 1, 2.0)) / 2, rel=1e-9)
    t0 = torch.tensor([[[[0, 1]]]])
    assert focal_loss(x, t0, alpha=0.25).item() == pytest.approx(
        (0.75 * term(0, 0, 2.0) + 0.25 * term(1, 1, 2.0)) / 2, rel=1e-9)
    none = focal_loss(x, t, reduction="none")
    torch.testing.assert_close(none, torch.tensor([[[term(2, 0, 2.0), term(1, 1, 2.0)]]], dtype=torch.float64))


def test_tversky_alpha_weighs_false_positives_beta_false_negatives():
    # foreground channel: p = [0.9, 0.6, 0.1, 0.0], target [1, 0, 0, 1]
    fg = torch.tensor([0.9, 0.6, 0.1, 0.0], dtype=torch.float64)
    probs = torch.stack([1 - fg, fg]).view(1, 2, 1, 4)
    t = torch.tensor([[[[1, 0, 0, 1]]]])
    tp, fp, fn = 0.9, 0.7, 1.1  # fp = 0.6 + 0.1, fn = 0.1 + 1.0

    def v(alpha, beta):
        return tversky_loss(probs, t, softmax=False, alpha=alpha, beta=beta, include_background=False,
                            smooth_nr=0, smooth_dr=0).item()

    assert v(0.2, 0.8) == pytest.approx(1 - tp / (tp + 0.2 * fp + 0.8 * fn))
    assert v(0.8, 0.2) == pytest.approx(1 - tp / (tp + 0.8 * fp + 0.2 * fn))
    # fn > fp here, so weighting false negatives more gives the larger loss
    assert v(0.2, 0.8) > v(0.8, 0.2)
    assert v(1.0, 0.0) == pytest.approx(1 - tp / (tp + fp))  # 1 - precision
    assert v(0.0, 1.0) == pytest.approx(1 - tp / (tp + fn))  # 1 - recall


def test_gdl_absent_class_per_sample_weights():
    """Sample 0 lacks class 2: its weight is sample 0's largest finite one, not sample 1's."""
    t = torch.tensor([[[[0, 0, 0, 1]]], [[[0, 1, 2, 2]]]])
    p = torch.full((2, 3, 1, 4), 1 / 3, dtype=torch.float64)
    v = generalized_dice_loss(p, t, softmax=False, smooth_nr=0, smooth_dr=0, reduction="none")
    # sample 0: counts [3, 1, 0] -> w [1/9, 1, 1]; tp_c = counts/3, sp_c = 4/3
    w0, st0 = [1 / 9, 1.0, 1.0], [3, 1, 0]
    num0 = 2 * sum(w * s / 3 for w, s in zip(w0, st0))
    den0 = sum(w * (4 / 3 + s) for w, s in zip(w0, st0))
    # sample 1: counts [1, 1, 2] -> w [1, 1, 1/4]
    w1, st1 = [1.0, 1.0, 0.25], [1, 1, 2]
    num1 = 2 * sum(w * s / 3 for w, s in zip(w1, st1))
    den1 = sum(w * (4 / 3 + s) for w, s in zip(w1, st1))
    torch.testing.assert_close(v, torch.tensor([[1 - num0 / den0], [1 - num1 / den1]], dtype=torch.float64))


def test_dice_squared_pred_matches_monai():
    monai_losses = pytest.importorskip("monai.losses")
    g = torch.Generator().manual_seed(5)
    logits = torch.randn(2, 3, 7, 6, generator=g)
    target = torch.randint(0, 3, (2, 1, 7, 6), generator=g)
    for batch in (False, True):
        ours = dice_loss(logits, target, squared_pred=True, batch=batch)
        ref = monai_losses.DiceLoss(softmax=True, to_onehot_y=True, squared_pred=True,
                                    batch=batch)(logits, target)
        torch.testing.assert_close(ours, ref)


# --- helpers that replaced slow full-size passes (all_finite, class_argmax) ---------------

def test_all_finite_agrees_with_isfinite():
    from edgewise.losses._utils import all_finite

    x = torch.randn(2, 3, 8, 8)
    assert all_finite(x)
    assert all_finite(torch.empty(0, 3))
    big = torch.full((4, 4), 3e38)  # finite values whose sum overflows to inf
    assert all_finite(big)
    for bad in (float("nan"), float("inf"), float("-inf")):
        y = x.clone()
        y[1, 2, 3, 4] = bad
        assert not all_finite(y)
    y = x.clone()
    y[0, 0, 0, 0], y[0, 0, 0, 1] = float("inf"), float("-inf")
    assert not all_finite(y)
    assert not all_finite(torch.tensor([float("inf")], dtype=torch.float16))


@pytest.mark.parametrize("c", [1, 2, 3, 5])
def test_class_argmax_equals_argmax_including_ties(c):
    from edgewise.losses._utils import class_argmax

    g = torch.Generator().manual_seed(c)
    for x in (torch.randn(2, c, 7, 9, generator=g),
              torch.randint(0, 2, (2, c, 5, 6, 7), generator=g).float(),  # ties everywhere
              torch.nn.functional.one_hot(torch.randint(0, c, (3, 10, 10), generator=g), c).movedim(-1, 1).double()):
        assert torch.equal(class_argmax(x), x.argmax(1, keepdim=True))
