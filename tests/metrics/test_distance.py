"""Distance metrics: hand-computed cases and agreement with deepmind surface-distance."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch

from edgewise.metrics import (
    average_surface_distance,
    boundary_f1,
    hausdorff_distance,
    one_hot_from_labels,
    surface_dice,
    surface_distances,
)

from ._helpers import ball, bc, blob

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def deepmind(pred: np.ndarray, target: np.ndarray, spacing, tol=1.0) -> dict[str, float]:
    """The reference values from google-deepmind/surface-distance (test-only dependency)."""
    sdm = pytest.importorskip("surface_distance")
    d = sdm.compute_surface_distances(target.astype(bool), pred.astype(bool), spacing)
    gt_to_pred, pred_to_gt = sdm.compute_average_surface_distance(d)
    n_gt, n_pred = d["surfel_areas_gt"].sum(), d["surfel_areas_pred"].sum()
    return {
        "hd": sdm.compute_robust_hausdorff(d, 100),
        "hd95": sdm.compute_robust_hausdorff(d, 95),
        "hd50": sdm.compute_robust_hausdorff(d, 50),
        "pred_to_target": pred_to_gt,
        "assd": (gt_to_pred * n_gt + pred_to_gt * n_pred) / (n_gt + n_pred),
        "masd": 0.5 * (gt_to_pred + pred_to_gt),
        "nsd": sdm.compute_surface_dice_at_tolerance(d, tol),
        "bf1": _f1(*sdm.compute_surface_overlap_at_tolerance(d, tol)),
    }


def _f1(recall: float, precision: float) -> float:
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def ours(pred, target, spacing, tol=1.0, **kw) -> dict[str, float]:
    sd = surface_distances(bc(pred), bc(target), spacing=spacing, **kw)
    return {
        "hd": sd.hausdorff().item(),
        "hd95": sd.hausdorff(95).item(),
        "hd50": sd.hausdorff(50).item(),
        "pred_to_target": sd.average(symmetric=False).item(),
        "assd": sd.average().item(),
        "masd": sd.average(assd_method="mean_of_directed").item(),
        "nsd": sd.surface_dice(tol).item(),
        "bf1": sd.boundary_f1(tol).item(),
    }


def assert_same(a: dict[str, float], b: dict[str, float]) -> None:
    for k in a:
        assert a[k] == pytest.approx(b[k], rel=1e-5, abs=1e-6), (k, a, b)


# -- hand-computed values -------------------------------------------------------------------


@pytest.mark.parametrize("shift", [1, 2, 5])
def test_square_shift(shift):
    t = np.zeros((32, 32), bool)
    t[8:18, 8:18] = True
    p = np.roll(t, shift, axis=1)
    got = ours(p, t, (1.0, 1.0), tol=shift - 0.5)
    # the two vertical sides are `shift` apart; horizontal sides overlap
    assert got["hd"] == pytest.approx(shift)
    assert got["hd95"] == pytest.approx(shift)
    # voxel model: boundary voxels shifted by the same amount
    assert hausdorff_distance(bc(p), bc(t), surface="voxel").item() == pytest.approx(shift)


def test_square_shift_anisotropic_spacing():
    t = np.zeros((20, 20), bool)
    t[5:12, 5:12] = True
    p = np.roll(t, 2, axis=0)
    assert hausdorff_distance(bc(p), bc(t), spacing=(1.5, 0.5)).item() == pytest.approx(3.0)
    assert hausdorff_distance(bc(p), bc(t), spacing=[(1.5, 0.5)]).item() == pytest.approx(3.0)


def test_disc_ring_true_value_vs_voxel_model():
    # filled 20x20 square vs the same square with an 8x8 hole: the hole's edge lies 6 from the
    # outer edge; voxel centres see 6 - 1 because erosion puts both boundaries half a voxel in
    filled = np.zeros((30, 30), bool)
    filled[5:25, 5:25] = True
    frame = filled.copy()
    frame[11:19, 11:19] = False
    assert hausdorff_distance(bc(frame), bc(filled)).item() == pytest.approx(6.0)
    assert hausdorff_distance(bc(frame), bc(filled), surface="voxel").item() == pytest.approx(5.0)
    # a ring and a disc
    y, x = np.mgrid[:40, :40]
    r = np.hypot(y - 19.5, x - 19.5)
    disc, ring = r <= 10, (r <= 10) & (r > 4)
    assert_same(ours(ring, disc, (1.0, 1.0)), deepmind(ring, disc, (1.0, 1.0)))


def test_single_pixels_corner_vs_voxel():
    a = np.zeros((9, 9), bool)
    b = np.zeros((9, 9), bool)
    a[4, 2], b[4, 4] = True, True
    assert average_surface_distance(bc(a), bc(b)).item() == pytest.approx(1.5)
    assert average_surface_distance(bc(a), bc(b), surface="voxel").item() == pytest.approx(2.0)
    assert hausdorff_distance(bc(a), bc(b)).item() == pytest.approx(2.0)
    # identical single pixels agree perfectly
    assert average_surface_distance(bc(a), bc(a)).item() == 0.0
    assert surface_dice(bc(a), bc(a), 0.0).item() == 1.0


def test_thin_lines():
    t = np.zeros((16, 24), bool)
    t[8, 3:20] = True
    p = np.roll(t, 1, axis=0)
    got = ours(p, t, (1.0, 1.0))
    assert got["hd"] == pytest.approx(1.0)
    assert got["nsd"] == pytest.approx(1.0)
    assert_same(got, deepmind(p, t, (1.0, 1.0)))
    # a line two rows away: NSD at tolerance 1 keeps only the facing sides
    p2 = np.roll(t, 2, axis=0)
    assert hausdorff_distance(bc(p2), bc(t)).item() == pytest.approx(2.0)
    assert_same(ours(p2, t, (0.5, 2.0)), deepmind(p2, t, (0.5, 2.0)))


def test_border_objects():
    t = np.zeros((12, 12), bool)
    t[:5, :6] = True
    p = np.zeros((12, 12), bool)
    p[:5, :8] = True
    # the image border is surface on both, so the shared top edge and left edge are at 0
    got = ours(p, t, (1.0, 1.0))
    assert got["hd"] == pytest.approx(2.0)
    assert_same(got, deepmind(p, t, (1.0, 1.0)))
    # without border surfaces only the right edge (at column 6 vs 8) and the bottom count
    hd_in = hausdorff_distance(bc(p), bc(t), border_is_surface=False).item()
    assert hd_in == pytest.approx(2.0)
    full = np.ones((6, 6), bool)
    assert hausdorff_distance(bc(full), bc(full), border_is_surface=False).item() == 0.0


def test_several_objects_and_mm():
    t = np.zeros((30, 30), bool)
    t[3:8, 3:8] = True
    t[20:26, 18:27] = True
    p = t.copy()
    p[20:26, 18:27] = False
    p[21:26, 18:27] = True
    assert_same(ours(p, t, (0.75, 1.25)), deepmind(p, t, (0.75, 1.25)))
    assert hausdorff_distance(bc(p), bc(t), spacing=(0.75, 1.25)).item() == pytest.approx(0.75)


def test_ball_radius_difference_3d():
    spacing = (2.0, 1.0, 1.0)
    t = ball((24, 40, 40), (23.0, 20.0, 20.0), 12.0, spacing)
    p = ball((24, 40, 40), (23.0, 20.0, 20.0), 9.0, spacing)
    got = ours(p, t, spacing, tol=2.0)
    # concentric balls of radii 12 and 9 mm are 3 mm apart; corner points spread over a shell
    # about one voxel thick, so nearest-point distances fall below 3 on average but the
    # farthest one reaches it
    assert 2.0 < got["assd"] < 3.0
    assert 3.0 <= got["hd"] <= 3.0 + 2.0
    assert_same(got, deepmind(p, t, spacing, tol=2.0))


def test_tube_anisotropic_3d():
    spacing = (2.5, 0.8, 0.8)
    shape = (10, 30, 30)
    y, x = np.mgrid[:30, :30] * 0.8
    t = np.broadcast_to(np.hypot(y - 12, x - 12) <= 6, shape).copy()
    p = np.broadcast_to(np.hypot(y - 13.6, x - 12) <= 5, shape).copy()
    assert_same(ours(p, t, spacing, tol=1.5), deepmind(p, t, spacing, tol=1.5))


@pytest.mark.parametrize("ndim,spacing", [(2, (1.0, 1.0)), (2, (0.5, 1.25)), (3, (1.5, 0.75, 1.0))])
def test_random_shapes_match_deepmind(ndim, spacing):
    rng = np.random.default_rng(ndim)
    shape = (36, 44) if ndim == 2 else (16, 20, 22)
    for _ in range(3):
        p, t = blob(rng, shape), blob(rng, shape)
        assert_same(ours(p, t, spacing, tol=1.5), deepmind(p, t, spacing, tol=1.5))


def test_boundary_f1_differs_from_nsd():
    # a small object inside a large one: NSD pools the long target surface; F1 weighs P and R
    t = np.zeros((40, 40), bool)
    t[5:35, 5:35] = True
    p = np.zeros((40, 40), bool)
    p[5:10, 5:10] = True
    sd = surface_distances(bc(p), bc(t))
    precision = 2 * 4 / sd.pred_weights[0].sum().item()  # two of the four sides touch
    nsd, f1 = sd.surface_dice(0.0).item(), sd.boundary_f1(0.0).item()
    assert nsd != pytest.approx(f1)
    assert_same(ours(p, t, (1.0, 1.0), tol=0.0), deepmind(p, t, (1.0, 1.0), tol=0.0))
    assert precision > 0


def test_percentile_methods():
    rng = np.random.default_rng(7)
    p, t = blob(rng, (40, 40)), blob(rng, (40, 40))
    sd = surface_distances(bc(p), bc(t), surface="voxel")
    dp, dt = sd.pred_to_target[0].double().numpy(), sd.target_to_pred[0].double().numpy()
    assert sd.hausdorff(95, "linear_directed").item() == pytest.approx(
        max(np.percentile(dp, 95), np.percentile(dt, 95)), rel=1e-6
    )
    assert sd.hausdorff(95, "linear_pooled").item() == pytest.approx(
        np.percentile(np.concatenate([dp, dt]), 95), rel=1e-6
    )
    assert sd.hausdorff(100).item() == pytest.approx(max(dp.max(), dt.max()))


# -- empty masks -----------------------------------------------------------------------------


def test_empty_policy():
    z = np.zeros((1, 3, 10, 10), bool)
    p, t = z.copy(), z.copy()
    t[0, 1, 2:5, 2:5] = True  # class 1: prediction misses the target
    p[0, 2, 2:5, 2:5] = True  # class 2: spurious prediction; class 0: both empty
    hd = hausdorff_distance(p, t, percentile=95)
    assert hd[0, 0] == 0 and math.isinf(hd[0, 1]) and math.isinf(hd[0, 2])
    assert torch.equal(surface_dice(p, t, 1.0), torch.tensor([[1.0, 0.0, 0.0]]))
    assert torch.equal(boundary_f1(p, t, 1.0), torch.tensor([[1.0, 0.0, 0.0]]))
    assd = average_surface_distance(p, t, max_distance=50.0)
    assert torch.equal(assd, torch.tensor([[0.0, 50.0, 50.0]]))
    diag = hausdorff_distance(p, t, spacing=(2.0, 1.0), max_distance="diagonal")
    assert diag[0, 1].item() == pytest.approx(math.hypot(20, 10))
    nan = hausdorff_distance(p, t, empty="nan")
    assert torch.isnan(nan).all()
    assert torch.isnan(surface_dice(p, t, 1.0, empty="nan")).all()
    # the mean over cases is never improved by missing a structure
    assert not torch.isnan(hd).any()


# -- multi-class, batching, devices, inputs ------------------------------------------------


def test_multiclass_label_map_matches_per_class_binary():
    rng = np.random.default_rng(11)
    labels_t = np.zeros((2, 30, 30), np.int64)
    labels_p = np.zeros((2, 30, 30), np.int64)
    for b in range(2):
        labels_t[b][blob(rng, (30, 30), 0.4)] = 1
        labels_t[b][blob(rng, (30, 30), 0.2)] = 2
        labels_p[b][blob(rng, (30, 30), 0.4)] = 1
        labels_p[b][blob(rng, (30, 30), 0.2)] = 2
    p = one_hot_from_labels(torch.from_numpy(labels_p)[:, None], 3)
    t = one_hot_from_labels(torch.from_numpy(labels_t), 3)
    spacing = torch.tensor([[1.0, 1.0], [0.5, 2.0]])
    hd95 = hausdorff_distance(p, t, spacing=spacing, percentile=95, include_background=False)
    nsd = surface_dice(p, t, [1.0, 2.0], spacing=spacing, include_background=False)
    assert hd95.shape == (2, 2)
    for b in range(2):
        for c in (1, 2):
            ref = deepmind(
                labels_p[b] == c, labels_t[b] == c, tuple(spacing[b].tolist()), tol=float(c)
            )
            assert hd95[b, c - 1].item() == pytest.approx(ref["hd95"], rel=1e-5)
            assert nsd[b, c - 1].item() == pytest.approx(ref["nsd"], rel=1e-5)


def test_numpy_and_integer_inputs_and_dtype():
    t = np.zeros((1, 1, 10, 10), np.uint8)
    t[..., 2:6, 2:6] = 1
    out = hausdorff_distance(t, np.roll(t, 1, -1))
    assert out.dtype == torch.float32 and out.shape == (1, 1) and out.item() == pytest.approx(1.0)


def test_input_errors():
    t = torch.zeros(1, 2, 8, 8)
    with pytest.raises(ValueError, match="one-hot"):
        hausdorff_distance(t + 0.5, t)
    with pytest.raises(ValueError, match="same shape"):
        hausdorff_distance(t, t[:, :1])
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        hausdorff_distance(t[0], t[0])
    with pytest.raises(ValueError, match="spacing"):
        hausdorff_distance(t, t, spacing=(1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="spacing"):
        hausdorff_distance(t, t, spacing=-1.0)
    with pytest.raises(ValueError, match="percentile_method"):
        bad_method: Any = "nearest"
        hausdorff_distance(t, t, percentile=95, percentile_method=bad_method)
    with pytest.raises(ValueError, match="empty"):
        hausdorff_distance(t, t, empty="zero")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tolerance"):
        surface_dice(t, t, [1.0, 2.0, 3.0])
    with pytest.raises(TypeError):
        hausdorff_distance([[0]], t)  # type: ignore[arg-type]


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    rng = np.random.default_rng(5)
    p = torch.from_numpy(np.stack([blob(rng, (20, 24, 28)) for _ in range(2)]))[:, None]
    t = torch.from_numpy(np.stack([blob(rng, (20, 24, 28)) for _ in range(2)]))[:, None]
    cpu = surface_distances(p, t, spacing=(1.5, 1.0, 0.5))
    gpu = surface_distances(p.cuda(), t.cuda(), spacing=(1.5, 1.0, 0.5))
    out = gpu.hausdorff(95)
    assert out.device.type == "cuda"
    torch.testing.assert_close(out.cpu(), cpu.hausdorff(95))
    torch.testing.assert_close(gpu.surface_dice(1.0).cpu(), cpu.surface_dice(1.0))
    torch.testing.assert_close(gpu.average().cpu(), cpu.average())


def test_chunking_does_not_change_values(monkeypatch):
    import edgewise.metrics._nearest_surface as engine
    import edgewise.metrics.distance as distance

    rng = np.random.default_rng(13)
    p = torch.from_numpy(np.stack([[blob(rng, (30, 34), f) for f in (0.1, 0.3)] for _ in range(3)]))
    t = torch.from_numpy(np.stack([[blob(rng, (30, 34), f) for f in (0.1, 0.3)] for _ in range(3)]))
    p[1, 0] = False  # an empty prediction inside the batch
    spacing = torch.tensor([[1.0, 0.5], [2.0, 1.0], [0.75, 0.75]])
    whole = distance.surface_distances(p, t, spacing=spacing)
    monkeypatch.setattr(engine, "_CHUNK_ELEMENTS", 1)  # one pair per chunk
    single = distance.surface_distances(p, t, spacing=spacing)
    for a, b in (
        (whole.hausdorff(95), single.hausdorff(95)),
        (whole.average(), single.average()),
        (whole.surface_dice(1.0), single.surface_dice(1.0)),
    ):
        torch.testing.assert_close(a, b)
    assert math.isinf(whole.hausdorff()[1, 0])
    for b in range(3):
        ref = deepmind(p[b, 1].numpy(), t[b, 1].numpy(), tuple(spacing[b].tolist()))
        assert whole.hausdorff(95)[b, 1].item() == pytest.approx(ref["hd95"], rel=1e-5)
