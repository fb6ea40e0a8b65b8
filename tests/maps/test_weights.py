"""RRW maps, penalty maps, soft contour, map cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage

from edgewise.maps import MapCache, penalty_map, rrw_map, signed_distance, soft_contour

from ._helpers import CPU_BACKENDS, brute_distance, scipy_edt

SETTINGS = settings(max_examples=25, deadline=None)

label_maps = st.tuples(st.integers(1, 2), st.integers(2, 10), st.integers(2, 10)).flatmap(
    lambda s: arrays(np.int64, s, elements=st.integers(0, 2))
)


def ref_rrw(mask: np.ndarray) -> np.ndarray:
    """Valverde & Tohka's RRW map of one class, from the paper's definition."""
    if not mask.any():
        return np.ones(mask.shape)
    r = scipy_edt(mask)
    return np.where(mask, -r / r.max(), 1.0)


def ref_penalty(lab: np.ndarray, num_classes: int, spacing) -> np.ndarray:
    out = np.zeros(lab.shape)
    for k in range(num_classes):
        m = lab == k
        if not m.any():
            continue
        border = 0 if m.all() else 1
        bset = m & ~ndimage.binary_erosion(m, border_value=border)
        d = brute_distance(bset, spacing)
        top = d[m].max()
        out[m] = 1.0 - d[m] / top if top > 0 else 1.0
    return out


@pytest.mark.parametrize("be", CPU_BACKENDS)
@SETTINGS
@given(lab=label_maps)
def test_rrw_matches_definition(be, lab):
    got = rrw_map(torch.from_numpy(lab)[:, None], num_classes=3, backend=be).numpy()
    for b in range(lab.shape[0]):
        for k in range(3):
            np.testing.assert_allclose(got[b, k], ref_rrw(lab[b] == k), rtol=1e-5, atol=1e-6)
        # stability: the true class has the strictly lowest value everywhere
        true_val = np.take_along_axis(got[b], lab[b][None], 0)[0]
        assert (got[b] >= true_val[None]).all()
        assert ((got[b] > true_val[None]).sum(0) == 2).all()


@pytest.mark.parametrize("be", CPU_BACKENDS)
@SETTINGS
@given(lab=label_maps, spacing=st.tuples(st.floats(0.5, 2.0), st.floats(0.5, 2.0)))
def test_penalty_matches_brute_force(be, lab, spacing):
    got = penalty_map(torch.from_numpy(lab)[:, None], spacing, num_classes=3, backend=be)
    assert got.shape == (lab.shape[0], 1, *lab.shape[1:])
    for b in range(lab.shape[0]):
        ref = ref_penalty(lab[b], 3, spacing)
        np.testing.assert_allclose(got[b, 0].numpy(), ref, rtol=1e-4, atol=1e-5)


def test_rrw_and_penalty_hand_values_and_edge_cases():
    t = torch.zeros(2, 1, 7, 7, dtype=torch.long)
    t[0, 0, 1:6, 1:6] = 1
    r = rrw_map(t, num_classes=3)
    assert torch.isfinite(r).all()
    assert (r[:, 2] == 1).all()  # absent class: +1 everywhere
    assert r[0, 1, 3, 3].item() == -1.0  # centre of the 5x5 square, r = 3
    assert r[0, 1, 1, 1].item() == pytest.approx(-1 / 3)
    # class 0 fills sample 1: r is the distance to just beyond the border, max 4 at the centre
    assert r[1, 0, 3, 3].item() == -1.0
    assert r[1, 0, 0, 3].item() == pytest.approx(-0.25)
    p = penalty_map(t, num_classes=3)
    assert p.shape == (2, 1, 7, 7)
    assert p[0, 0, 1, 1].item() == 1.0  # square boundary
    assert p[0, 0, 3, 3].item() == 0.0  # square centre, 2 from its boundary
    assert p[0, 0, 2, 3].item() == 0.5
    assert p[0, 0, 0, 3].item() == 1.0  # background touching the square
    assert p[0, 0, 0, 0].item() == 0.0  # background corner: its deepest element (1 away)
    assert p[1, 0, 0, 0].item() == 1.0  # full class: border ring is its boundary
    assert p[1, 0, 3, 3].item() == 0.0
    assert p[1, 0, 2, 3].item() == pytest.approx(1 / 3)  # 2 from the ring, centre 3
    with pytest.raises(ValueError, match="exactly one class"):
        penalty_map(torch.zeros(1, 2, 4, 4))


def test_soft_contour_square_and_gradient():
    for side in (3, 4, 7):
        x = torch.zeros(1, 1, 12, 12)
        x[..., 2 : 2 + side, 3 : 3 + side] = 1
        assert soft_contour(x).sum().item() == 4 * side - 4
    line = torch.zeros(1, 1, 8, 8)
    line[..., 4, :] = 1
    assert soft_contour(line).sum().item() == 0  # thinner than 3 px vanishes
    cube = torch.zeros(1, 2, 8, 8, 8)
    cube[:, 0, 2:6, 2:6, 2:6] = 1
    c3 = soft_contour(cube)
    assert c3[:, 0].sum().item() == 4**3 - 2**3  # the cube's outer shell
    assert c3[:, 1].sum().item() == 0
    x = torch.rand(1, 2, 6, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: soft_contour(v).sum(), (x,))
    with pytest.raises(ValueError, match="B, C, H, W"):
        soft_contour(torch.zeros(4, 4))
    with pytest.raises(TypeError):
        soft_contour(torch.zeros(1, 1, 4, 4, dtype=torch.long))


def test_cache_round_trip_and_key_invalidation(tmp_path):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, (6, 7, 8)).astype(np.uint8)
    cache = MapCache(tmp_path)
    kw = dict(kind="signed", spacing=(2.5, 0.8, 0.8), num_classes=3)
    m = cache.get_or_compute(labels, **kw)
    assert isinstance(m, np.memmap) and m.dtype == np.float16 and m.shape == (3, 6, 7, 8)
    t = torch.from_numpy(labels)[None, None].long()
    ref = signed_distance(t, (2.5, 0.8, 0.8), num_classes=3)
    np.testing.assert_allclose(m.astype(np.float32), ref[0].numpy(), rtol=2e-3, atol=2e-3)
    files = sorted(p for p in tmp_path.iterdir() if p.name != ".edgewise")  # the folder's marker
    assert len(files) == 1 and not any(f.name.startswith(".tmp") for f in files)
    # same content (even a copy), same key; the backend does not change the values
    again = cache.get_or_compute(labels.copy(), backend="scipy", **kw)
    assert len(list(tmp_path.glob("*.npy"))) == 1
    np.testing.assert_array_equal(again, m)
    # any change of labels, spacing, kind, dtype or parameters gives a new file
    changed = labels.copy()
    changed[0, 0, 0] = (changed[0, 0, 0] + 1) % 3
    cache.get_or_compute(changed, **kw)
    cache.get_or_compute(labels.astype(np.int16), **kw)
    cache.get_or_compute(labels, kind="signed", spacing=(1.0, 0.8, 0.8), num_classes=3)
    cache.get_or_compute(labels, kind="rrw", spacing=(2.5, 0.8, 0.8), num_classes=3)
    cache.get_or_compute(labels, classes=[1], **kw)
    assert len(list(tmp_path.glob("*.npy"))) == 6
    pen = MapCache(tmp_path, dtype=np.float32).get_or_compute(
        labels, kind="penalty", num_classes=3
    )
    assert pen.shape == (1, 6, 7, 8) and pen.dtype == np.float32
    with pytest.raises(ValueError, match="kind"):
        cache.get_or_compute(labels, kind="nope", num_classes=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="label map"):
        cache.get_or_compute(labels[None], num_classes=3)


@pytest.mark.parametrize("axis", [0, 2])
def test_cache_per_slice_maps_equal_2d_maps_of_each_slice(tmp_path, axis):
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, (5, 7, 6)).astype(np.uint8)
    labels[:, :2] = 0  # some slices lose a class: their own 2D map, not the volume's
    spacing = (2.5, 0.8, 0.6)
    cache = MapCache(tmp_path, dtype=np.float32)
    m = cache.get_or_compute(labels, kind="signed", spacing=spacing, num_classes=3, slice_axis=axis)
    assert m.shape == (3, 5, 7, 6)
    inplane = tuple(s for a, s in enumerate(spacing) if a != axis)
    for k in range(labels.shape[axis]):
        sl = torch.from_numpy(np.take(labels, k, axis=axis))[None, None].long()
        ref = signed_distance(sl, inplane, num_classes=3)[0].numpy()
        np.testing.assert_allclose(np.take(m, k, axis=1 + axis), ref, rtol=1e-6, atol=1e-6)
    # per-slice and whole-volume maps are different files; the whole-volume key is unchanged
    whole = cache.get_or_compute(labels, kind="signed", spacing=spacing, num_classes=3)
    assert not np.allclose(whole, m)
    assert cache.path(labels, kind="signed", spacing=spacing, num_classes=3).exists()
    assert len(list(tmp_path.glob("*.npy"))) == 2
    with pytest.raises(ValueError, match="slice_axis"):
        cache.get_or_compute(labels[0], kind="signed", num_classes=3, slice_axis=0)


@pytest.mark.parametrize("shape", [(3, 9, 11), (2, 5, 6, 7), (2, 1, 8), (1, 1, 1), (2, 4, 1, 3)])
@pytest.mark.parametrize("c", [1, 2, 3])
def test_penalty_boundary_from_labels_equals_boundary_set(shape, c):
    """The penalty's boundary of a partition, from labels, is the union of the classes'
    boundary sets (including a full class's border ring)."""
    from edgewise.maps import boundary_set
    from edgewise.maps._input import onehot_from_labels
    from edgewise.maps.penalty import _own_boundary

    lab = torch.randint(0, c, shape, generator=torch.Generator().manual_seed(c))
    lab[0] = 0  # a sample holding one label: a full class
    assert torch.equal(_own_boundary(lab), boundary_set(onehot_from_labels(lab, 3)).any(1))


@pytest.mark.parametrize("c", [1, 3, 300])
def test_disjoint_labels_running_sum_equals_weighted_sum(c):
    """The multi-label input of the inside maps: label i + 1 of the mask holding an element,
    None when masks overlap; the input masks are left unchanged."""
    from edgewise.maps.distance import _disjoint_labels

    g = torch.Generator().manual_seed(c)
    lab = torch.randint(0, c + 1, (2, 6, 7), generator=g)  # c + 1: in no mask
    sel = lab.unsqueeze(1) == torch.arange(c).view(1, c, 1, 1)
    before = sel.clone()
    expected = torch.where(lab < c, lab + 1, 0)
    assert torch.equal(_disjoint_labels(sel).long(), expected)
    assert torch.equal(sel, before)
    if c > 1:
        sel[0, 1, 0, 0] = sel[0, 0, 0, 0] = True
        assert _disjoint_labels(sel) is None
