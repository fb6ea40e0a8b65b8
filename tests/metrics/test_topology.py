"""Topology (clDice, Betti errors) metrics against references, and in SegmentationMetrics with a
field of view (the pixel metrics' own tests are in test_pixel.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from edgewise.metrics import (
    SegmentationMetrics,
    betti_error,
    betti_numbers,
    cldice,
    dice,
    roc_auc,
    specificity,
    topology_precision,
    topology_sensitivity,
)
from edgewise.maps import skeleton

skimage_morph = pytest.importorskip("skimage.morphology", reason="scikit-image is not installed")
skimage_measure = pytest.importorskip("skimage.measure", reason="scikit-image is not installed")


def _random_masks(shape, b=3, c=2, seed=0, density=0.04, grow=1):
    rng = np.random.default_rng(seed)
    seeds = rng.random((b, c, *shape)) < density
    st = ndimage.generate_binary_structure(len(shape), 1)
    out = np.stack([np.stack([ndimage.binary_dilation(seeds[i, j], st, iterations=grow)
                              for j in range(c)]) for i in range(b)])
    return torch.from_numpy(out)


def _odd_rods_3d(shape=(15, 16, 17), b=2, seed=0):
    """Rods of odd thickness (1 or 3), which scikit-image's 3D thinning keeps."""
    rng = np.random.default_rng(seed)
    out = np.zeros((b, 1, *shape), dtype=bool)
    for i in range(b):
        for _ in range(3):
            axis = int(rng.integers(3))
            w = int(rng.choice([1, 3]))
            sl = [slice(None)] * 3
            for a in range(3):
                if a != axis:
                    k = int(rng.integers(1, shape[a] - 4))
                    sl[a] = slice(k, k + w)
                else:
                    k = int(rng.integers(0, 4))
                    sl[a] = slice(k, shape[a] - int(rng.integers(0, 4)))
            out[(i, 0, *sl)] = True
    return torch.from_numpy(out)


# --- the authors' metric (jocpae/clDice, cldice_metric/cldice.py), written out -------------


def _cl_score(v, s):
    return np.sum(v * s) / np.sum(s)


def _authors_cldice(v_p, v_l):
    tprec = _cl_score(v_p, skimage_morph.skeletonize(v_l))
    tsens = _cl_score(v_l, skimage_morph.skeletonize(v_p))
    return 2 * tprec * tsens / (tprec + tsens)


@pytest.mark.parametrize("dims", [2, 3])
def test_cldice_matches_the_authors_cl_score(dims):
    if dims == 2:
        t = _random_masks((40, 44), seed=1, grow=2)
        p = _random_masks((40, 44), seed=2, grow=2) | (t & _random_masks((40, 44), seed=3, density=0.6))
    else:
        t = _odd_rods_3d(seed=4)
        p = _odd_rods_3d(seed=5) | t
        p[..., 5:7, :, :] = False  # cut through
    ours = cldice(p, t)
    prec = topology_precision(p, t)
    sens = topology_sensitivity(p, t)
    for b in range(t.shape[0]):
        for c in range(t.shape[1]):
            vp, vl = p[b, c].numpy(), t[b, c].numpy()
            assert ours[b, c].item() == pytest.approx(_authors_cldice(vp, vl), abs=1e-6)
            # the paper's names: precision on the prediction's skeleton (the code's "tsens")
            assert prec[b, c].item() == pytest.approx(_cl_score(vl, skimage_morph.skeletonize(vp)), abs=1e-6)
            assert sens[b, c].item() == pytest.approx(_cl_score(vp, skimage_morph.skeletonize(vl)), abs=1e-6)


def test_cldice_hand_cases_and_empty_policy():
    t = torch.zeros(1, 2, 7, 12, dtype=torch.bool)
    t[0, 1, 3, 1:11] = True                       # a 10-pixel line
    t[0, 0] = ~t[0, 1]
    p = t.clone()
    p[0, 1, 3, 5:7] = False                       # two pixels missing: Tsens 8/10, Tprec 1
    p[0, 0] = ~p[0, 1]
    v = cldice(p, t, include_background=False)
    assert v.item() == pytest.approx(2 * 0.8 / 1.8, abs=1e-6)
    assert topology_sensitivity(p, t, include_background=False).item() == pytest.approx(0.8)
    assert topology_precision(p, t, include_background=False).item() == 1.0
    assert cldice(t, t).tolist() == [[1.0, 1.0]]
    empty = torch.zeros(1, 1, 6, 6, dtype=torch.bool)
    blob = empty.clone()
    blob[..., 2:4, 2:4] = True
    assert cldice(empty, empty).item() == 1.0
    assert np.isnan(cldice(empty, empty, empty="nan").item())
    assert cldice(blob, empty).item() == 0.0 and cldice(empty, blob).item() == 0.0
    assert topology_precision(empty, blob).item() == 0.0


def test_skeleton_3d_keeps_even_thickness_components():
    m = torch.zeros(1, 2, 8, 8, 10, dtype=torch.bool)
    m[0, 0, 2:4, 2:4, 1:9] = True                 # 2 x 2 x 8 rod: skimage alone deletes it
    m[0, 1, 1:5, 1:5, 1:5] = True                 # 4 x 4 x 4 cube
    assert skimage_morph.skeletonize(m[0, 0].numpy()).sum() == 0
    s = skeleton(m, dtype=torch.bool)
    assert s[0, 0].sum() >= 1 and s[0, 1].sum() >= 1
    assert bool((s <= m).all())
    assert cldice(m, m).tolist() == [[1.0, 1.0]]


@pytest.mark.parametrize("connectivity", [None, 1])
@pytest.mark.parametrize("dims", [2, 3])
def test_betti0_matches_an_independent_labelling(dims, connectivity):
    shape = (30, 33) if dims == 2 else (12, 13, 14)
    m = _random_masks(shape, b=2, c=2, seed=6, density=0.08, grow=0)
    ours = betti_numbers(m, connectivity=connectivity)
    conn = dims if connectivity is None else connectivity
    for b in range(2):
        for c in range(2):
            ref = skimage_measure.label(m[b, c].numpy(), connectivity=conn).max()
            assert ours[b, c, 0].item() == ref
            assert ours[b, c, 0].item() == ndimage.label(m[b, c].numpy(),
                                                         ndimage.generate_binary_structure(dims, conn))[1]


@pytest.mark.parametrize("connectivity", [None, 1])
def test_betti1_is_components_minus_euler_number(connectivity):
    m = _random_masks((30, 33), b=3, c=2, seed=7, density=0.25, grow=0)
    ours = betti_numbers(m, connectivity=connectivity)
    conn = 2 if connectivity is None else 1
    for b in range(3):
        for c in range(2):
            euler = skimage_measure.euler_number(m[b, c].numpy(), connectivity=conn)
            assert ours[b, c, 0].item() - ours[b, c, 1].item() == euler


def test_betti_hand_cases():
    ring = torch.ones(1, 1, 7, 7, dtype=torch.bool)
    ring[0, 0, 2:5, 2:5] = False
    ring[0, 0, 3, 3] = True                        # a ring with an island inside
    assert betti_numbers(ring)[0, 0].tolist() == [2, 1]
    diag = torch.zeros(1, 1, 4, 4, dtype=torch.bool)
    diag[0, 0, 1, 1] = diag[0, 0, 2, 2] = True     # touching by a corner only
    assert betti_numbers(diag)[0, 0, 0].item() == 1
    assert betti_numbers(diag, connectivity=1)[0, 0, 0].item() == 2
    # a 4-connected ring of diagonal steps encloses a hole for 8-connected foreground only
    diamond = torch.zeros(1, 1, 5, 5, dtype=torch.bool)
    for y, x in [(0, 2), (1, 1), (2, 0), (3, 1), (4, 2), (3, 3), (2, 4), (1, 3)]:
        diamond[0, 0, y, x] = True
    assert betti_numbers(diamond)[0, 0].tolist() == [1, 1]
    assert betti_numbers(diamond, connectivity=1)[0, 0].tolist() == [8, 0]
    t = torch.zeros(1, 1, 5, 9, dtype=torch.bool)
    t[0, 0, 2, 1:8] = True
    p = t.clone()
    p[0, 0, 2, 4] = False
    assert betti_error(p, t).item() == 1.0 and betti_error(p, t, dim=1).item() == 0.0
    assert betti_error(ring, torch.zeros_like(ring), dim=1).item() == 1.0
    empty = torch.zeros(1, 1, 4, 4, dtype=torch.bool)
    assert betti_error(empty, empty).item() == 0.0
    assert np.isnan(betti_error(empty, empty, empty="nan").item())
    with pytest.raises(ValueError, match="2D"):
        betti_error(torch.zeros(1, 1, 3, 3, 3, dtype=torch.bool), torch.zeros(1, 1, 3, 3, 3, dtype=torch.bool), dim=1)
    with pytest.raises(ValueError, match="connectivity"):
        betti_numbers(ring, connectivity=3)


# --- SegmentationMetrics ----------------------------------------------------------------------


def test_segmentation_metrics_topology_and_fov():
    rng = np.random.default_rng(9)
    label = torch.from_numpy((rng.random((2, 1, 24, 26)) < 0.3).astype(np.int64))
    probs1 = torch.from_numpy(rng.random((2, 1, 24, 26))).float()
    probs = torch.cat([1 - probs1, probs1], 1)
    pred = probs.argmax(1, keepdim=True)
    fov = torch.from_numpy(rng.random((2, 1, 24, 26)) < 0.8)
    names = ("dice", "cldice", "topology_precision", "topology_sensitivity", "betti0_error",
             "betti1_error", "sensitivity", "specificity", "accuracy", "f1", "auc")
    m = SegmentationMetrics(names, num_classes=2, include_background=False)
    with pytest.raises(ValueError, match="probs"):
        m.update(pred, label)
    v = m.update(pred, label, mask=fov, probs=probs, case_ids=["a", "b"])
    oh = lambda x: torch.nn.functional.one_hot(x[:, 0], 2).movedim(-1, 1).bool()  # noqa: E731
    cut = lambda x: torch.where(fov[:, 0], x[:, 0], 0)[:, None]  # noqa: E731
    p, t = oh(pred), oh(label)
    torch.testing.assert_close(v["dice"], dice(oh(cut(pred)), oh(cut(label)), include_background=False))
    torch.testing.assert_close(v["f1"], v["dice"])  # F1 in the FOV is the Dice of the cut masks
    torch.testing.assert_close(v["cldice"], cldice(oh(cut(pred)), oh(cut(label)), include_background=False))
    torch.testing.assert_close(v["betti0_error"], betti_error(oh(cut(pred)), oh(cut(label)), include_background=False))
    torch.testing.assert_close(v["specificity"], specificity(p, t, mask=fov, include_background=False))
    torch.testing.assert_close(v["auc"], roc_auc(probs, t, mask=fov, include_background=False))
    summary = m.summary()["metrics"]
    assert set(summary) == set(names)
    # betti errors are lower-is-better: the worst case has the largest error
    worst = summary["betti0_error"]["classes"]["class_1"]["worst"][0]["value"]
    assert worst == float(v["betti0_error"].max())
