"""clDice and Skeleton Recall: agreement with MONAI and the authors' code, edge cases, maps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from edgewise.losses import (
    ClDiceLoss,
    CrossEntropyLoss,
    SkeletonRecallLoss,
    build_loss,
    cldice_loss,
    dice_cldice_loss,
    loss_from_config,
    skeleton_recall_loss,
    soft_skeleton,
)
from edgewise.maps import MapCache, skeleton, skeleton_tube

monai_cldice = pytest.importorskip("monai.losses.cldice", reason="MONAI is not installed")


def _vessels(shape=(24, 24), b=2, seed=0, classes=1):
    """Random thin lines (1-3 pixels wide) as an index map (B, 1, *shape)."""
    rng = np.random.default_rng(seed)
    t = np.zeros((b, 1, *shape), dtype=np.int64)
    for i in range(b):
        for c in range(1, classes + 1):
            for _ in range(2):
                line = np.zeros(shape, dtype=bool)
                axis = int(rng.integers(len(shape)))
                pos = [slice(None)] * len(shape)
                for a in range(len(shape)):
                    if a != axis:
                        k = int(rng.integers(2, shape[a] - 4))
                        pos[a] = slice(k, k + int(rng.integers(1, 4)))
                line[tuple(pos)] = True
                t[i, 0][line & (t[i, 0] == 0)] = c
    return torch.from_numpy(t)


def _logits(target, c, seed=1, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    onehot = F.one_hot(target[:, 0], c).movedim(-1, 1).to(dtype)
    return 3 * onehot + torch.randn(onehot.shape, generator=g, dtype=dtype)


# --- the authors' code (jocpae/clDice, cldice_loss/pytorch), written out -----------------


def _authors_soft_skel(img, iter_):
    def erode(x):
        if x.dim() == 4:
            return torch.min(-F.max_pool2d(-x, (3, 1), (1, 1), (1, 0)), -F.max_pool2d(-x, (1, 3), (1, 1), (0, 1)))
        p1 = -F.max_pool3d(-x, (3, 1, 1), (1, 1, 1), (1, 0, 0))
        p2 = -F.max_pool3d(-x, (1, 3, 1), (1, 1, 1), (0, 1, 0))
        p3 = -F.max_pool3d(-x, (1, 1, 3), (1, 1, 1), (0, 0, 1))
        return torch.min(torch.min(p1, p2), p3)

    def dilate(x):
        return F.max_pool2d(x, (3, 3), (1, 1), (1, 1)) if x.dim() == 4 else F.max_pool3d(x, (3, 3, 3), (1, 1, 1), (1, 1, 1))

    img1 = dilate(erode(img))
    skel = F.relu(img - img1)
    for _ in range(iter_):
        img = erode(img)
        img1 = dilate(erode(img))
        delta = F.relu(img - img1)
        skel = skel + F.relu(delta - skel * delta)
    return skel


def _authors_soft_cldice(y_true, y_pred, iter_=3, smooth=1.0):
    skel_pred = _authors_soft_skel(y_pred, iter_)
    skel_true = _authors_soft_skel(y_true, iter_)
    tprec = (torch.sum(skel_pred * y_true) + smooth) / (torch.sum(skel_pred) + smooth)
    tsens = (torch.sum(skel_true * y_pred) + smooth) / (torch.sum(skel_true) + smooth)
    return 1.0 - 2.0 * (tprec * tsens) / (tprec + tsens)


def _authors_soft_dice_cldice(y_true, y_pred, iter_=3, alpha=0.5, smooth=1.0):
    intersection = torch.sum(y_true * y_pred)
    dice = 1.0 - (2.0 * intersection + 1) / (torch.sum(y_true) + torch.sum(y_pred) + 1)
    return (1.0 - alpha) * dice + alpha * _authors_soft_cldice(y_true, y_pred, iter_, smooth)


# --- the Skeleton Recall authors' code (MIC-DKFZ/Skeleton-Recall), written out ----------


def _authors_tube(seg):
    """SkeletonTransform(do_tube=True) on one sample's label map."""
    from skimage.morphology import dilation, skeletonize

    bin_seg = seg > 0
    out = np.zeros_like(seg, dtype=np.int16)
    if bin_seg.sum():
        skel = (skeletonize(bin_seg) > 0).astype(np.int16)
        skel = dilation(dilation(skel))
        out = skel * seg.astype(np.int16)
    return out


def _authors_skeleton_recall(x, y, smooth=1.0, batch_dice=False):
    """SoftSkeletonRecallLoss.forward on probabilities x (B, C, ...) and a tube label map y."""
    x = x[:, 1:]
    axes = list(range(2, x.dim()))
    y_onehot = torch.zeros((x.shape[0], x.shape[1] + 1, *x.shape[2:]), dtype=x.dtype)
    y_onehot.scatter_(1, y.long(), 1)
    y_onehot = y_onehot[:, 1:]
    sum_gt = y_onehot.sum(axes)
    inter_rec = (x * y_onehot).sum(axes)
    if batch_dice:
        inter_rec, sum_gt = inter_rec.sum(0), sum_gt.sum(0)
    rec = (inter_rec + smooth) / torch.clip(sum_gt + smooth, 1e-8)
    return -rec.mean()


# --- soft skeleton ------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(17, 19), (9, 10, 11)])
def test_soft_skeleton_matches_monai_and_authors(shape):
    x = torch.rand(2, 3, *shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    for it in (0, 1, 5):
        ours = soft_skeleton(x, it)
        torch.testing.assert_close(ours, monai_cldice.soft_skel(x, it), rtol=0, atol=0)
        torch.testing.assert_close(ours, _authors_soft_skel(x, it), rtol=0, atol=0)


@pytest.mark.parametrize("shape", [(2, 3, 31, 29), (2, 2, 13, 11, 12), (1, 1, 1, 5)])
def test_soft_skeleton_binary_path_equals_the_pooled_one(shape):
    # the Boolean path (binary input, no gradient) against the pooled path on the same values,
    # forced by requires_grad, and MONAI's; blobs of several radii so that every step erodes
    g = torch.Generator().manual_seed(1)
    smooth = torch.nn.functional.avg_pool2d if len(shape) == 4 else torch.nn.functional.avg_pool3d
    for p in (0.3, 0.6):
        m = (smooth(torch.rand(shape, generator=g), 3, 1, 1) > p).float()
        for it in (0, 1, 3, 6):
            fast = soft_skeleton(m, it)
            pooled = soft_skeleton(m.clone().requires_grad_(), it).detach()
            assert fast.dtype == m.dtype
            torch.testing.assert_close(fast, pooled, rtol=0, atol=0)
            torch.testing.assert_close(fast, monai_cldice.soft_skel(m, it), rtol=0, atol=0)
    if min(shape[2:]) > 1:  # the masks are not all skeleton-free
        assert 0 < soft_skeleton((smooth(torch.rand(shape, generator=g), 3, 1, 1) > 0.4).float()).sum()


def test_soft_skeleton_gradient_matches_monai():
    x = torch.rand(2, 2, 15, 17, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    a = x.clone().requires_grad_()
    b = x.clone().requires_grad_()
    soft_skeleton(a, 4).pow(2).sum().backward()
    monai_cldice.soft_skel(b, 4).pow(2).sum().backward()
    torch.testing.assert_close(a.grad, b.grad, rtol=1e-12, atol=1e-12)
    assert a.grad.abs().sum() > 0


def test_soft_skeleton_of_a_bar_is_its_centreline():
    x = torch.zeros(1, 1, 7, 12)
    x[0, 0, 1:6, 1:11] = 1  # 5 x 10 bar: centre row 3
    s = soft_skeleton(x, iter_=3)[0, 0]
    assert set(s.unique().tolist()) <= {0.0, 1.0}
    assert s[3].sum() >= 4 and s[[0, 1, 5, 6]].sum() == 0
    assert soft_skeleton(torch.zeros(1, 1, 5, 5)).sum() == 0


# --- clDice -------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(24, 24), (10, 12, 14)])
def test_cldice_matches_monai_binary(shape):
    t = _vessels(shape, b=3)
    x = _logits(t, 2)
    for it in (1, 3, 10):
        ref = monai_cldice.SoftclDiceLoss(iter_=it, softmax=True, to_onehot_y=True,
                                          include_background=False, reduction="none")(x, t)
        ours = cldice_loss(x, t, iter_=it, include_background=False, reduction="none")
        torch.testing.assert_close(ours[:, 0], ref, rtol=1e-5, atol=1e-6)
    # a sigmoid head: one channel
    z = x[:, 1:] - x[:, :1]
    ref = monai_cldice.SoftclDiceLoss(sigmoid=True)(z, t.float())
    torch.testing.assert_close(cldice_loss(z, t, sigmoid=True), ref, rtol=1e-5, atol=1e-6)


def test_cldice_multiclass_is_monai_per_channel():
    """MONAI pools the channels of a sample; edgewise keeps one value per class, each equal
    to MONAI's loss on that channel alone."""
    t = _vessels((24, 24), b=2, classes=3)
    x = _logits(t, 4)
    ours = cldice_loss(x, t, reduction="none")
    assert ours.shape == (2, 4)
    p = torch.softmax(x, 1)
    onehot = F.one_hot(t[:, 0], 4).movedim(-1, 1).float()
    for c in range(4):
        ref = monai_cldice.SoftclDiceLoss(reduction="none")(p[:, c:c + 1], onehot[:, c:c + 1])
        torch.testing.assert_close(ours[:, c], ref, rtol=1e-5, atol=1e-6)


def test_cldice_batch_is_the_authors_formula():
    t = _vessels((20, 22), b=3, seed=4)
    x = _logits(t, 2, seed=5, dtype=torch.float64)
    p = torch.softmax(x, 1)[:, 1:]
    y = (t == 1).double()
    ours = cldice_loss(x, t, include_background=False, batch=True, smooth=0.0, iter_=4)
    torch.testing.assert_close(ours, _authors_soft_cldice(y, p, iter_=4))
    both = dice_cldice_loss(x, t, include_background=False, batch=True, smooth=0.0, iter_=4,
                            alpha=0.3)
    torch.testing.assert_close(both, _authors_soft_dice_cldice(y, p, iter_=4, alpha=0.3))


@pytest.mark.parametrize("shape", [(24, 24), (10, 12, 14)])
def test_dice_cldice_matches_monai(shape):
    t = _vessels(shape, b=2, seed=2)
    x = _logits(t, 2, seed=3)
    for alpha in (0.0, 0.5, 1.0):
        ref = monai_cldice.SoftDiceclDiceLoss(iter_=3, alpha=alpha, softmax=True, to_onehot_y=True,
                                              include_background=False)(x, t)
        ours = build_loss("dice_cldice", alpha=alpha, include_background=False)(x, t)
        torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6)


def test_cldice_perfect_empty_and_full_classes():
    t = _vessels((24, 24), b=2)
    perfect = 60.0 * F.one_hot(t[:, 0], 2).movedim(-1, 1).float() - 30
    assert float(cldice_loss(perfect, t, reduction="none").abs().max()) < 1e-3
    # an absent class predicted absent: 1 - 2 / (2 + smooth); a predicted blob: its skeleton
    # lies outside the (empty) class, so the precision and the loss are bad
    empty = torch.zeros(1, 1, 16, 16, dtype=torch.long)
    absent = torch.full((1, 2, 16, 16), -30.0).index_fill(1, torch.tensor([0]), 30.0)
    v = cldice_loss(absent, empty, include_background=False)
    torch.testing.assert_close(v, torch.tensor(1 - 2 / (2 + 1e-4)))
    blob = absent.clone()
    blob[:, :, 4:12, 4:12] = blob[:, :, 4:12, 4:12].flip(1)
    assert float(cldice_loss(blob, empty, include_background=False)) > 0.5
    # a full class: finite values and finite gradients
    full = torch.ones(2, 1, 16, 16, dtype=torch.long)
    x = torch.randn(2, 2, 16, 16, requires_grad=True)
    for loss in (cldice_loss(x, full), skeleton_recall_loss(x, full),
                 cldice_loss(x, empty.expand(2, 1, 16, 16)), skeleton_recall_loss(x, empty.expand(2, 1, 16, 16))):
        assert torch.isfinite(loss)
        (g,) = torch.autograd.grad(loss, x)
        assert torch.isfinite(g).all()


def test_gradcheck_3d_and_autocast():
    t = _vessels((7, 7, 8), b=1, seed=6)
    x = _logits(t, 2, seed=7, dtype=torch.float64).requires_grad_(True)
    tube = skeleton_tube(t, num_classes=2, radius=1, dtype=torch.float64)
    for loss, kw in ((ClDiceLoss(iter_=2), {}), (SkeletonRecallLoss(radius=1), {"dist_map": tube}),
                     (build_loss("dice_cldice"), {})):
        assert torch.autograd.gradcheck(lambda inp, f=loss, kw=kw: f(inp, t, **kw), (x,), eps=1e-6,
                                        atol=1e-5)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            v = loss(x.float().to(torch.bfloat16), t)
        assert v.dtype == torch.float32 and torch.isfinite(v)


def test_cldice_in_a_compound_loss_with_ce():
    t = _vessels((24, 24), b=2)
    x = _logits(t, 2)
    loss = loss_from_config({"terms": [{"name": "ce"},
                                       {"name": "cldice", "weight": 0.5,
                                        "args": {"iter_": 5, "include_background": False}}]})
    total = loss(x, t, spacing=(1.0, 1.0))
    expected = CrossEntropyLoss()(x, t) + 0.5 * cldice_loss(x, t, iter_=5, include_background=False)
    torch.testing.assert_close(total, expected)
    assert sorted(loss.last_terms) == ["ce", "cldice"]


def test_bad_options_raise():
    t = _vessels((12, 12), b=1)
    x = _logits(t, 2)
    with pytest.raises(ValueError, match="iter_"):
        ClDiceLoss(iter_=-1)
    with pytest.raises(ValueError, match="iter_"):
        soft_skeleton(torch.rand(1, 1, 4, 4), iter_=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="alpha"):
        dice_cldice_loss(x, t, alpha=1.5)
    with pytest.raises(ValueError, match="radius"):
        SkeletonRecallLoss(radius=-2)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        cldice_loss(torch.randn(1, 2, 9), torch.zeros(1, 1, 9, dtype=torch.long))
    with pytest.raises(ValueError, match=r"values in \[0, 1\]"):
        skeleton_recall_loss(x, t, dist_map=torch.full((1, 2, 12, 12), 2.0))


# --- Skeleton Recall ------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(32, 30), (12, 14, 16)])
def test_tube_matches_the_authors_transform(shape):
    t = _vessels(shape, b=3, seed=8)
    ours = skeleton_tube(t, num_classes=2, classes=[1])
    for b in range(3):
        ref = _authors_tube(t[b, 0].numpy())
        np.testing.assert_array_equal(ours[b, 0].numpy(), ref > 0)
    # inside the class and containing the skeleton
    assert bool((ours <= (t == 1)).all())
    assert bool((skeleton(t, num_classes=2, classes=[1]) <= ours).all())


@pytest.mark.parametrize("shape", [(32, 30), (12, 14, 16)])
def test_skeleton_recall_matches_the_authors_loss(shape):
    t = _vessels(shape, b=3, seed=9, classes=2)
    x = _logits(t, 3, seed=10, dtype=torch.float64)
    p = torch.softmax(x, 1)
    for batch in (False, True):
        # binary (one foreground class): the authors' union skeleton is the class skeleton
        tb = (t == 1).long()
        xb = x[:, :2]
        tube_lab = torch.from_numpy(np.stack([_authors_tube(s[0]) for s in tb.numpy()]))[:, None]
        ref = _authors_skeleton_recall(torch.softmax(xb, 1), tube_lab, batch_dice=batch)
        ours = skeleton_recall_loss(xb, tb, include_background=False, batch=batch)
        torch.testing.assert_close(ours, 1 + ref)
    # multi-class, per-class tubes given as the label map the authors' loss reads
    tubes = skeleton_tube(t, num_classes=3, classes=[1, 2], dtype=torch.long)
    tube_lab = (tubes * torch.tensor([1, 2]).view(1, 2, *([1] * len(shape)))).amax(1, keepdim=True)
    ref = _authors_skeleton_recall(p, tube_lab)
    ours = skeleton_recall_loss(x, t, include_background=False)
    torch.testing.assert_close(ours, 1 + ref)


def test_skeleton_recall_values_and_cached_tubes(tmp_path):
    t = torch.zeros(1, 1, 9, 20, dtype=torch.long)
    t[0, 0, 3:6, 2:18] = 1
    tube = skeleton_tube(t, num_classes=2)
    # the prediction covers exactly the tube of class 1: recall 1, loss 0
    perfect = torch.cat([1 - tube[:, 1:], tube[:, 1:]], 1)
    assert float(skeleton_recall_loss(perfect, t, softmax=False, include_background=False)) == 0.0
    # half the probability on the tube: (n/2 + 1) / (n + 1)
    half = torch.full((1, 2, 9, 20), 0.5)
    n = float(tube[0, 1].sum())
    expected = 1 - (n / 2 + 1) / (n + 1)
    v = skeleton_recall_loss(half, t, softmax=False, include_background=False)
    torch.testing.assert_close(v, torch.tensor(expected))
    # the dataset cache stores the same tubes, all classes or the selected ones
    cached = MapCache(tmp_path).get_or_compute(t[0, 0].numpy(), kind="skeleton_tube", num_classes=2)
    np.testing.assert_array_equal(np.asarray(cached, dtype=np.float32), tube[0].numpy())
    x = torch.randn(1, 2, 9, 20)
    on_the_fly = SkeletonRecallLoss(include_background=False)(x, t)
    for dm in (torch.from_numpy(np.asarray(cached, np.float32))[None], tube[:, 1:]):
        torch.testing.assert_close(SkeletonRecallLoss(include_background=False)(x, t, dist_map=dm), on_the_fly)


def test_skeleton_recall_absent_class_is_zero_and_radius_matters():
    t = _vessels((24, 24), b=2, seed=11)
    x = _logits(t, 3, seed=12)  # class 2 never occurs
    v = skeleton_recall_loss(x, t, reduction="none")
    assert v.shape == (2, 3) and float(v[:, 2].abs().max()) == 0.0
    thick = torch.zeros(1, 1, 15, 20, dtype=torch.long)
    thick[0, 0, 2:13, 3:17] = 1
    assert skeleton_tube(thick, num_classes=2, radius=0).sum() < skeleton_tube(thick, num_classes=2).sum()
    assert torch.equal(skeleton_tube(thick, num_classes=2, radius=0), skeleton(thick, num_classes=2))
