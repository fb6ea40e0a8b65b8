"""Distance-map losses: hand values, reference definitions (scipy), MONAI/kornia parity, behaviour."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from scipy import ndimage

from edgewise.losses import (
    BoundaryLoss,
    DistancePenalizedCELoss,
    RegionWiseLoss,
    active_contour_loss,
    boundary_loss,
    check_stability,
    cross_entropy_loss,
    hausdorff_dt_loss,
    hausdorff_er_loss,
    normalized_signed_distance,
    penalized_ce_loss,
    perimeter_loss,
    region_wise_loss,
    signed_distance_loss,
    soft_perimeter,
)
from edgewise.maps import penalty_map, signed_distance


def _disc(h: int, w: int, cy: float, cx: float, r: float) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    return ((yy - cy) ** 2 + (xx - cx) ** 2) <= r * r


def _labels(seed: int, b: int = 2, c: int = 3, shape=(12, 10)) -> torch.Tensor:
    """Blobby label maps with every class present and one class absent from sample 0."""
    g = torch.Generator().manual_seed(seed)
    t = torch.zeros(b, 1, *shape, dtype=torch.long)
    for i in range(b):
        for k in range(1, c):
            if i == 0 and k == c - 1:
                continue
            cy, cx = (torch.rand(2, generator=g) * torch.tensor(shape)).tolist()
            t[i, 0][_disc(*shape, cy, cx, 2.5 + k)] = k
    return t


def _probs(seed: int, b: int, c: int, shape, dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(torch.randn(b, c, *shape, generator=g, dtype=dtype), 1)


# --- boundary loss -------------------------------------------------------------------------

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


# --- region-wise ---------------------------------------------------------------------------

def _rrw_reference(onehot: np.ndarray) -> np.ndarray:
    out = np.ones(onehot.shape, dtype=np.float64)
    for k in range(onehot.shape[0]):
        m = onehot[k].astype(bool)
        if m.any():
            r = ndimage.distance_transform_edt(m)
            out[k][m] = -r[m] / r.max()
    return out


def test_region_wise_rrw_definition_and_stability():
    t = _labels(3)
    probs = _probs(4, 2, 3, (12, 10))
    onehot = torch.nn.functional.one_hot(t[:, 0], 3).permute(0, 3, 1, 2).numpy()
    maps = np.stack([_rrw_reference(o) for o in onehot])
    ref = (probs.numpy() * maps).mean()
    assert region_wise_loss(probs, t, softmax=False).item() == pytest.approx(ref, rel=1e-6)
    report = check_stability(torch.from_numpy(maps), t)
    assert report.ok and report.max_abs == pytest.approx(1.0)
    # boundary-loss maps of the foreground only: ties with the implicit zero background map
    bl = signed_distance(t, num_classes=3, classes=[1, 2])
    bad = check_stability(bl, t, classes=[1, 2])
    assert not bad.ok and bad.tie_fraction > 0 and not bad.bounded


def test_region_wise_module_warns_once():
    t = _labels(5)
    x = torch.randn(2, 3, 12, 10)

    def bl_maps(onehot, spacing):
        return signed_distance(onehot, spacing)

    loss = RegionWiseLoss(map_fn=bl_maps)
    with pytest.warns(RuntimeWarning, match="stability"):
        loss(x, t)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss(x, t)
        RegionWiseLoss()(x, t)  # RRW maps pass


# --- distance-penalised CE -----------------------------------------------------------------

def test_penalized_ce_applies_the_penalty():
    t = _labels(6)
    x = torch.randn(2, 3, 12, 10, dtype=torch.float64)
    phi = penalty_map(t, num_classes=3).double()
    ce = cross_entropy_loss(x, t, reduction="none")
    pen = penalized_ce_loss(x, t, reduction="none")
    torch.testing.assert_close(pen, (1 + phi[:, 0]) * ce)
    diff = penalized_ce_loss(x, t) - cross_entropy_loss(x, t)
    torch.testing.assert_close(diff, (phi[:, 0] * ce).mean())
    assert diff > 0
    torch.testing.assert_close(penalized_ce_loss(x, t, dist_map=torch.zeros_like(phi)), cross_entropy_loss(x, t))
    torch.testing.assert_close(penalized_ce_loss(x, t, dist_map=torch.ones_like(phi)), 2 * cross_entropy_loss(x, t))


def _penalty_reference(labels: np.ndarray, num_classes: int, sampling) -> np.ndarray:
    """Calivá's inverted inner distance from its definition, with scipy: each pixel's distance
    to the boundary set of its own class (class pixels with a face-neighbour of another class),
    divided by that class's largest distance, subtracted from 1 (1 where the class has no interior)."""
    phi = np.zeros(labels.shape, dtype=np.float64)
    for k in range(num_classes):
        m = labels == k
        if not m.any():
            continue
        if m.all():
            boundary = np.ones_like(m)
            boundary[tuple(slice(1, -1) for _ in m.shape)] = False
        else:
            interior = m.copy()
            for ax in range(m.ndim):
                fwd = [slice(None)] * m.ndim
                bwd = [slice(None)] * m.ndim
                fwd[ax], bwd[ax] = slice(1, None), slice(None, -1)
                interior[tuple(fwd)] &= m[tuple(bwd)]
                interior[tuple(bwd)] &= m[tuple(fwd)]
            boundary = m & ~interior
        d = ndimage.distance_transform_edt(~boundary, sampling=sampling)
        top = d[m].max()
        phi[m] = 1.0 - d[m] / top if top > 0 else 1.0
    return phi


def test_penalized_ce_equals_independent_penalty_times_ce():
    t = _labels(12, b=2, c=3, shape=(12, 10))
    x = torch.randn(2, 3, 12, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    sp = torch.tensor([[1.0, 2.0], [0.7, 0.4]])
    phi = np.stack([_penalty_reference(t[i, 0].numpy(), 3, sp[i].tolist()) for i in range(2)])
    ce = torch.nn.functional.cross_entropy(x, t[:, 0], reduction="none")
    expected = ((1 + torch.from_numpy(phi)) * ce).mean()
    assert penalized_ce_loss(x, t, spacing=sp).item() == pytest.approx(expected.item(), rel=1e-6)
    # the penalty really changes the value (SegLossOdyssey's port returns the plain CE)
    assert expected.item() > ce.mean().item() * 1.2


def test_penalized_ce_single_channel_probabilities_is_weighted_bce():
    t = _disc(10, 10, 4.5, 4.5, 3).long()[None, None]
    p = torch.rand(1, 1, 10, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(4)) * 0.98 + 0.01
    phi = torch.from_numpy(_penalty_reference(t[0, 0].numpy(), 2, (1.0, 1.0)))
    bce = torch.nn.functional.binary_cross_entropy(p, t.double(), reduction="none")
    expected = ((1 + phi) * bce).mean()
    assert penalized_ce_loss(p, t, softmax=False).item() == pytest.approx(expected.item(), rel=1e-6)
    assert penalized_ce_loss(torch.logit(p), t, sigmoid=True).item() == pytest.approx(expected.item(), rel=1e-6)


def test_penalized_ce_edge_cases():
    empty = torch.zeros(1, 1, 8, 8, dtype=torch.long)  # B = 1, no foreground
    x = torch.randn(1, 2, 8, 8)
    v = DistancePenalizedCELoss()(x, empty, spacing=(1.0, 3.0))
    assert torch.isfinite(v) and v.dim() == 0
    binary = _disc(8, 8, 4, 4, 2).long()[None, None]
    v = penalized_ce_loss(torch.randn(1, 1, 8, 8), binary, sigmoid=True)
    assert torch.isfinite(v)
    t = _labels(7)
    t[0, 0, 0, :4] = 255
    v = penalized_ce_loss(torch.randn(2, 3, 12, 10), t, ignore_index=255)
    assert torch.isfinite(v)


# --- perimeter -----------------------------------------------------------------------------

def test_perimeter_of_square_disc_cube_ball():
    sq = torch.zeros(1, 1, 32, 32)
    sq[..., 5:15, 8:18] = 1
    assert soft_perimeter(sq).item() == 4 * 10 - 4
    # The reference operator measures a city-block length: the analytic value for a disc of
    # radius R is 8R (mean of |cos|+|sin| is 4/pi), the pixel count 8R - 4 like the square's
    # 4L - 4 (the Euclidean 2*pi*R is 21% lower); tolerance 2% around 8R - 4.
    for r in (10, 20):
        d = _disc(64, 64, 31.5, 31.5, r).float()[None, None]
        assert soft_perimeter(d).item() == pytest.approx(8 * r - 4, rel=0.02)
    cube = torch.zeros(1, 1, 16, 16, 16)
    cube[..., 3:11, 4:12, 2:10] = 1
    assert soft_perimeter(cube).item() == 6 * 64 - 12 * 8 + 8
    zz, yy, xx = torch.meshgrid(*(torch.arange(48),) * 3, indexing="ij")
    ball = (((zz - 23.5) ** 2 + (yy - 23.5) ** 2 + (xx - 23.5) ** 2) <= 400).float()[None, None]
    # city-block area of a sphere: mean(|n_x|+|n_y|+|n_z|) = 3/2 times 4*pi*R^2; tolerance 10%
    assert soft_perimeter(ball).item() == pytest.approx(6 * math.pi * 400, rel=0.10)


def test_perimeter_loss_hand_value():
    t = torch.zeros(1, 1, 8, 8, dtype=torch.long)
    t[..., 2:6, 2:6] = 1  # perimeter 12
    probs = torch.zeros(1, 2, 8, 8)
    probs[:, 1, 2:7, 2:7] = 1  # perimeter 16
    probs[:, 0] = 1 - probs[:, 1]
    v = perimeter_loss(probs, t, softmax=False, include_background=False)
    assert v.item() == pytest.approx((16 - 12) ** 2 / 64)
    t3 = torch.zeros(1, 1, 8, 8, 8, dtype=torch.long)
    t3[..., 2:6, 2:6, 2:6] = 1
    assert perimeter_loss(torch.randn(1, 2, 8, 8, 8), t3).dim() == 0


# --- Hausdorff -----------------------------------------------------------------------------

def test_hausdorff_dt_matches_monai_boundary_definition():
    monai = pytest.importorskip("monai")
    t = _labels(8)
    x = torch.randn(2, 3, 12, 10)
    ref = monai.losses.HausdorffDTLoss(softmax=True, to_onehot_y=True, include_background=True)(x, t)
    torch.testing.assert_close(hausdorff_dt_loss(x, t, distance="boundary"), ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("binary", ["softmax", "sigmoid"])
def test_hausdorff_dt_binary_matches_monai(binary):
    """Binary targets take one multi-label transform per map (edgewise.maps.unsigned_distance);
    the loss and its gradient are still MONAI's."""
    monai = pytest.importorskip("monai")
    t = torch.zeros(2, 1, 20, 18, dtype=torch.long)
    t[0, 0] = _disc(20, 18, 8.0, 9.0, 5.0)
    t[1, 0, 3:15, 2:9] = 1
    x = torch.randn(2, 2 if binary == "softmax" else 1, 20, 18, generator=torch.Generator().manual_seed(4))
    opts = {"softmax": True, "to_onehot_y": True} if binary == "softmax" else {"sigmoid": True}
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    # a float target for MONAI: its distance field takes the target's dtype (zeros_like), so
    # an integer target would truncate the distances
    ref = monai.losses.HausdorffDTLoss(include_background=True, **opts)(xa, t.float())
    got = hausdorff_dt_loss(xb, t, distance="boundary", **opts)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-6)
    ref.backward()
    got.backward()
    torch.testing.assert_close(xb.grad, xa.grad, rtol=1e-5, atol=1e-8)


def test_hausdorff_dt_differs_from_monai_where_a_target_channel_is_all_ones():
    """docs/losses.md: MONAI's HausdorffDTLoss zeroes the target field of a channel that fills
    the sample (as for an empty one); edgewise uses the distance to just beyond the image border
    there. Both behaviours pinned: with that channel's field zeroed, edgewise gives MONAI's value."""
    from pathlib import Path

    monai = pytest.importorskip("monai")
    from edgewise.maps import unsigned_distance

    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 2, 8, 8, generator=g, dtype=torch.float64)
    t = torch.zeros(2, 1, 8, 8, dtype=torch.long)
    t[0, :, 2:5, 2:6] = 1
    t[1] = 1  # sample 1: the foreground fills the image, the background is absent
    for include_background in (False, True):
        ref = monai.losses.HausdorffDTLoss(softmax=True, to_onehot_y=True, reduction="none",
                                           include_background=include_background)(x, t)
        ref = ref.flatten(2).mean(2)  # MONAI's "none" keeps (B, C) plus singleton spatial dims
        ours = hausdorff_dt_loss(x, t, include_background=include_background, reduction="none")
        fg = ours.shape[1] - 1
        # same where no channel is all ones: sample 0, and sample 1's absent background (d_t = 0)
        torch.testing.assert_close(ours[0], ref[0], rtol=1e-6, atol=1e-9)
        if include_background:
            torch.testing.assert_close(ours[1, 0], ref[1, 0], rtol=1e-6, atol=1e-9)
        # the full channel: edgewise's field is positive there, so its loss is larger than MONAI's
        # (the values docs/losses.md quotes)
        assert ours[1, fg].item() == pytest.approx(2.0532, abs=1e-4)
        assert ref[1, fg].item() == pytest.approx(0.5427, abs=1e-4)
        field = unsigned_distance(t, num_classes=2).double()
        assert field[1, 1].min() == 1.0  # distance to just beyond the border, never 0
        zeroed = field.clone()
        zeroed[1, 1] = 0.0
        classes = slice(None) if include_background else slice(1, None)
        torch.testing.assert_close(
            hausdorff_dt_loss(x, t, include_background=include_background, reduction="none",
                              dist_map=zeroed[:, classes]),
            ref, rtol=1e-6, atol=1e-9)
        torch.testing.assert_close(
            hausdorff_dt_loss(x, t, include_background=include_background, reduction="none",
                              dist_map=field[:, classes]),
            ours, rtol=1e-6, atol=1e-9)
    doc = " ".join((Path(__file__).resolve().parents[2] / "docs" / "losses.md").read_text().split())
    assert "except where a target channel is all ones: MONAI zeroes the field" in doc
    assert "2.053 against 0.543" in doc


def test_hausdorff_dt_precomputed_maps_equal_on_the_fly_with_absent_class():
    """edgewise.maps fills an absent class with the image diagonal; fed back as dist_map it
    weighed that class's errors by diagonal^2 (17.8 instead of 0.27 here)."""
    from edgewise.maps import inside_distance, unsigned_distance

    t = _labels(13)  # class 2 absent from sample 0
    x = torch.randn(2, 3, 12, 10, dtype=torch.float64)
    sp = (1.0, 0.6)
    for distance, fn in (("boundary", unsigned_distance), ("inside", inside_distance)):
        maps = fn(t, sp, num_classes=3)
        torch.testing.assert_close(
            hausdorff_dt_loss(x, t, spacing=sp, distance=distance, dist_map=maps, reduction="none"),
            hausdorff_dt_loss(x, t, spacing=sp, distance=distance, reduction="none"))


def test_hausdorff_dt_inside_definition():
    """SegWithDistMap's hd_loss with compute_dtm (distance inside the object), from scipy."""
    t = _labels(9, b=2, c=2)
    probs = _probs(10, 2, 2, (12, 10))
    gt = t[:, 0].numpy() == 1
    seg = probs[:, 1].numpy() > 0.5

    def dtm(mask):
        return np.stack([ndimage.distance_transform_edt(m) if m.any() else np.zeros(m.shape) for m in mask])

    ref = ((probs[:, 1].numpy() - gt) ** 2 * (dtm(seg) ** 2 + dtm(gt) ** 2)).mean()
    ours = hausdorff_dt_loss(probs, t, softmax=False, include_background=False, distance="inside")
    assert ours.item() == pytest.approx(ref, rel=1e-6)


def test_hausdorff_er_matches_kornia_and_has_gradients():
    """kornia's HausdorffERLoss against the form its version implements: the convolution form up
    to 0.9.0, the morphological (Eq. 12) form from 0.9.2 (issue #24). The forms against
    references that do not depend on kornia, and more kornia cases: test_hausdorff_er_variants.py."""
    kornia = pytest.importorskip("kornia")
    from packaging.version import Version

    version = Version(kornia.__version__)
    if version >= Version("0.9.2"):
        variant = "morphological"
    elif version <= Version("0.9.0"):
        variant = "convolution"
    else:
        pytest.skip(f"kornia {kornia.__version__}: which HausdorffERLoss form it implements is not known")
    t = _labels(11)
    x = torch.randn(2, 3, 12, 10, requires_grad=True)
    p = torch.softmax(x, 1)
    torch.testing.assert_close(hausdorff_er_loss(p, t, softmax=False, variant=variant),
                               kornia.losses.HausdorffERLoss()(p, t), rtol=1e-5, atol=1e-7)
    t3 = torch.zeros(1, 1, 8, 8, 8, dtype=torch.long)
    t3[..., 2:6, 2:6, 2:6] = 1
    x3 = torch.randn(1, 2, 8, 8, 8)
    p3 = torch.softmax(x3, 1)
    torch.testing.assert_close(hausdorff_er_loss(p3, t3, softmax=False, variant=variant),
                               kornia.losses.HausdorffERLoss3D()(p3, t3), rtol=1e-5, atol=1e-7)
    # gradients reach the logits in both forms where the prediction misses a thick region
    x = torch.zeros(2, 3, 12, 10)
    x[:, 0] = 4.0
    for form in ("morphological", "convolution"):
        xg = x.clone().requires_grad_(True)
        hausdorff_er_loss(xg, t, variant=form).backward()
        assert xg.grad is not None and float(xg.grad.abs().sum()) > 0


# --- signed distance regression and active contour -----------------------------------------

def test_sdf_target_and_values():
    t = torch.zeros(1, 1, 1, 9, dtype=torch.long)
    t[..., 2:7] = 1  # signed map [2, 1, 0, -1, -2, -1, 0, 1, 2]
    g = normalized_signed_distance(t.bool())
    torch.testing.assert_close(g[0, 0, 0], torch.tensor([1, 0.5, 0, -0.5, -1, -0.5, 0, 0.5, 1]))
    assert signed_distance_loss(g, t).item() == pytest.approx(-1 / 3, abs=1e-6)
    s = torch.zeros(1, 1, 1, 9)
    # s = 0: product term -(eps)/(sum g^2 + eps) ~ 0, L1 = mean|g| = 5/9
    assert signed_distance_loss(s, t).item() == pytest.approx(5 / 9, abs=1e-5)
    # an absent class: 0 (the reference's compute_sdf, default since #28) or 1 (the diagonal)
    assert normalized_signed_distance(torch.zeros(1, 1, 4, 4, dtype=torch.bool)).eq(0).all()
    assert normalized_signed_distance(torch.zeros(1, 1, 4, 4, dtype=torch.bool), empty="diagonal").eq(1).all()
    torch.testing.assert_close(signed_distance_loss(s, t, dist_map=g), signed_distance_loss(s, t))
    with pytest.raises(ValueError, match=r"normalised signed distance in \[-1, 1\]"):
        signed_distance_loss(s, t, dist_map=signed_distance(t, num_classes=2, classes=[1]))


def test_active_contour_hand_value():
    p = torch.tensor([[[[0.2, 0.6], [0.9, 0.4]]]], dtype=torch.float64)
    t = torch.tensor([[[[0, 1], [1, 1]]]])
    length = math.sqrt((0.9 - 0.2) ** 2 + (0.6 - 0.2) ** 2 + 1e-8)
    region = 0.2 + (0.4 + 0.1 + 0.6)
    v = active_contour_loss(p, t, softmax=False)
    assert v.item() == pytest.approx((length + region) / 4)
    t3 = torch.zeros(1, 1, 5, 5, 5, dtype=torch.long)
    t3[..., 1:4, 1:4, 1:4] = 1
    p3 = torch.zeros(1, 1, 5, 5, 5, dtype=torch.float64)
    p3[..., 1:4, 1:4, 1:4] = 1
    # perfect 3D prediction: region term 0, length = sum over the 4^3 grid of the gradient norm
    d = p3[..., 1:, :-1, :-1] - p3[..., :-1, :-1, :-1]
    h = p3[..., :-1, 1:, :-1] - p3[..., :-1, :-1, :-1]
    w = p3[..., :-1, :-1, 1:] - p3[..., :-1, :-1, :-1]
    expected = torch.sqrt(d**2 + h**2 + w**2 + 1e-8).sum() / 125
    assert active_contour_loss(p3, t3, softmax=False).item() == pytest.approx(expected.item())


def test_active_contour_flat_prediction_has_finite_gradient():
    """A constant prediction has zero spatial differences: the length term is sqrt(0 + eps),
    whose gradient is finite only with eps > 0 (eps = 0 gave nan and is now refused)."""
    t = torch.zeros(1, 1, 6, 6, dtype=torch.long)
    t[..., 2:4, 2:4] = 1
    x = torch.zeros(1, 2, 6, 6, requires_grad=True)
    active_contour_loss(x, t).backward()
    assert torch.isfinite(x.grad).all() and float(x.grad.abs().sum()) > 0
    with pytest.raises(ValueError, match="eps > 0"):
        active_contour_loss(x, t, eps=0.0)


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
