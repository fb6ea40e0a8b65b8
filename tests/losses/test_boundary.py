"""The boundary loss (``edgewise.losses.boundary``): hand values, LIVIAETS parity, absent classes,
spacing."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from edgewise.losses import BoundaryLoss, boundary_loss
from edgewise.maps import signed_distance

from ._helpers import _disc, _labels, _probs


def test_boundary_hand_value():
    t = torch.zeros(1, 1, 1, 7, dtype=torch.long)
    t[..., 2:5] = 1  # boundary-convention map of class 1: [2, 1, 0, -1, 0, 1, 2]
    probs = torch.full((1, 2, 1, 7), 0.5)
    v = boundary_loss(probs, t, softmax=False, include_background=False)
    assert v.item() == pytest.approx(0.5 * 5 / 7)
    v = boundary_loss(probs, t, softmax=False, include_background=False, spacing=(1.0, 2.0))
    assert v.item() == pytest.approx(0.5 * 10 / 7)


def _livia_one_hot2dist(onehot: np.ndarray, resolution) -> np.ndarray:
    """LIVIAETS utils.one_hot2dist, written from its definition (float output)."""
    res = np.zeros(onehot.shape, dtype=np.float64)
    for k in range(onehot.shape[0]):
        posmask = onehot[k].astype(bool)
        if posmask.any():
            negmask = ~posmask
            res[k] = (ndimage.distance_transform_edt(negmask, sampling=resolution) * negmask
                      - (ndimage.distance_transform_edt(posmask, sampling=resolution) - 1) * posmask)
    return res


def test_boundary_livia_parity():
    t = _labels(0)
    probs = _probs(1, 2, 3, (12, 10))
    spacing = (1.0, 0.5)
    onehot = torch.nn.functional.one_hot(t[:, 0], 3).permute(0, 3, 1, 2).numpy()
    dist = np.stack([_livia_one_hot2dist(o, spacing) for o in onehot])
    idc = [1, 2]  # SurfaceLoss(idc=[1, 2]): einsum over selected classes, then mean
    ref = (probs[:, idc].numpy() * dist[:, idc]).mean()
    ours = boundary_loss(probs, t, softmax=False, include_background=False, convention="livia", spacing=spacing)
    assert ours.item() == pytest.approx(ref, rel=1e-6)


def test_boundary_perfect_prediction_is_negative_and_dist_map():
    t = _disc(24, 24, 12, 11, 6).long()[None, None]
    onehot = torch.cat([t == 0, t == 1], 1).float()
    for bg in (True, False):
        assert boundary_loss(onehot, t, softmax=False, include_background=bg).item() < 0
    maps = signed_distance(t, num_classes=2)
    x = torch.randn(1, 2, 24, 24)
    torch.testing.assert_close(boundary_loss(x, t, dist_map=maps), boundary_loss(x, t))
    torch.testing.assert_close(BoundaryLoss(include_background=False)(x, t, dist_map=maps[:, 1:]),
                               boundary_loss(x, t, include_background=False))
    with pytest.raises(ValueError, match="dist_map"):
        boundary_loss(x, t, dist_map=maps[..., 1:])
    with pytest.raises(ValueError, match="convention"):
        BoundaryLoss(convention="kervadec")


def test_boundary_absent_class_penalises_false_positives():
    """With empty="diagonal" (edgewise's rule before #28) an absent class's map is positive."""
    t = torch.zeros(1, 1, 8, 8, dtype=torch.long)
    probs = torch.zeros(1, 2, 8, 8)
    probs[:, 0] = 1
    clean = boundary_loss(probs, t, softmax=False, include_background=False, empty="diagonal")
    probs[:, 1, 3, 3], probs[:, 0, 3, 3] = 1.0, 0.0
    assert boundary_loss(probs, t, softmax=False, include_background=False, empty="diagonal") > clean


def test_boundary_absent_class_is_ignored_by_default():
    """The default (#28) is LIVIAETS' zero map: an absent class's false positives cost nothing."""
    t = torch.zeros(1, 1, 8, 8, dtype=torch.long)
    probs = torch.zeros(1, 2, 8, 8)
    probs[:, 0] = 1
    probs[:, 1, 3, 3], probs[:, 0, 3, 3] = 1.0, 0.0
    assert boundary_loss(probs, t, softmax=False, include_background=False).item() == 0.0


def test_boundary_3d_and_per_sample_spacing():
    t = torch.zeros(2, 1, 6, 7, 8, dtype=torch.long)
    t[:, :, 2:4, 2:5, 3:6] = 1
    t[0, :, 1:5, 1:3, 1:7] = 1
    x = torch.randn(2, 2, 6, 7, 8)
    sp = torch.tensor([[0.8, 1.0, 3.0], [2.0, 1.0, 0.5]])
    per = boundary_loss(x, t, spacing=sp, reduction="none")
    assert per.shape == (2, 2)
    for i in range(2):
        alone = boundary_loss(x[i:i + 1], t[i:i + 1], spacing=tuple(sp[i].tolist()), reduction="none")[0]
        torch.testing.assert_close(per[i], alone)
    # swapping the samples' spacings changes the values: each sample really uses its own row
    swapped = boundary_loss(x, t, spacing=sp.flip(0), reduction="none")
    assert not torch.allclose(swapped, per)


def test_boundary_anisotropic_hand_map():
    """3x3 square in a 5x5 image, spacing (2.0, 0.5) in array order (rows 2 apart): the map
    written by hand from the boundary-set definition (0 on the ring of the square)."""
    t = torch.zeros(1, 1, 5, 5, dtype=torch.long)
    t[..., 1:4, 1:4] = 1
    c = math.hypot(2.0, 0.5)
    phi = torch.tensor([
        [c, 2.0, 2.0, 2.0, c],
        [0.5, 0.0, 0.0, 0.0, 0.5],
        [0.5, 0.0, -0.5, 0.0, 0.5],
        [0.5, 0.0, 0.0, 0.0, 0.5],
        [c, 2.0, 2.0, 2.0, c],
    ], dtype=torch.float64)
    p = torch.rand(1, 1, 5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    probs = torch.cat([1 - p, p], 1)
    v = boundary_loss(probs, t, softmax=False, include_background=False, spacing=(2.0, 0.5))
    assert v.item() == pytest.approx((p[0, 0] * phi).mean().item(), rel=1e-6)


def test_boundary_alone_collapses_to_empty_foreground():
    """The known collapse (LIVIAETS #15, #57): the shared, translation-invariant part of a model
    (here a bias on the foreground logit) receives ``mean(p(1-p) * phi)``, dominated by the large
    positive outside, so the foreground is pushed down everywhere and saturates at empty."""
    torch.manual_seed(0)
    t = _disc(32, 32, 16, 16, 4).long()[None, None]
    free = torch.zeros(1, 2, 32, 32, requires_grad=True)
    bias = torch.zeros(1, requires_grad=True)
    opt = torch.optim.Adam([free, bias], lr=0.1)
    for _ in range(150):
        logits = torch.stack([free[:, 0], free[:, 1] + 10 * bias], 1)
        loss = boundary_loss(logits, t, include_background=False)
        opt.zero_grad()
        loss.backward()
        opt.step()
    fg = torch.softmax(logits, 1)[:, 1] > 0.5
    assert int(t.sum()) == 49 and int(fg.sum()) == 0


@pytest.mark.parametrize("spacing", ["1,1", b"1", [1.0, "a"], {"x": 1}])
def test_a_spacing_that_is_not_numbers_is_a_type_error_naming_it(spacing):
    # it was torch's "new(): invalid data type 'str'"
    from edgewise.losses import BoundaryLoss

    t = torch.zeros(1, 1, 8, 8, dtype=torch.long)
    t[..., 2:6, 2:6] = 1
    with pytest.raises(TypeError) as info:
        BoundaryLoss()(torch.randn(1, 2, 8, 8), t, spacing=spacing)
    assert str(info.value).startswith("expected spacing as None, a number, a sequence of 2 numbers")
    assert repr(spacing) in str(info.value)
