"""Signed, unsigned and inside distance maps: brute force, LIVIA parity, edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage

from edgewise.maps import (
    as_one_hot,
    available_backends,
    boundary_set,
    edt,
    inside_distance,
    signed_distance,
    unsigned_distance,
)

from ._helpers import CPU_BACKENDS, brute_distance, cuda, scipy_edt

SETTINGS = settings(max_examples=25, deadline=None)


def ref_boundary(mask: np.ndarray) -> np.ndarray:
    """Boundary set of one class mask, computed independently with scipy morphology."""
    if mask.all():
        eroded = ndimage.binary_erosion(mask, border_value=0)
    else:
        eroded = ndimage.binary_erosion(mask, border_value=1)
    return mask & ~eroded


EMPTY = st.sampled_from(["zero", "diagonal"])


def ref_empty(mask: np.ndarray, spacing, empty: str) -> np.ndarray:
    """An absent class's map: 0 (the references', default) or the image extent's diagonal."""
    diag = math.sqrt(sum((n * s) ** 2 for n, s in zip(mask.shape, spacing)))
    return np.full(mask.shape, diag if empty == "diagonal" else 0.0)


def ref_signed(mask: np.ndarray, spacing, empty: str = "zero") -> np.ndarray:
    if not mask.any():
        return ref_empty(mask, spacing, empty)
    d = brute_distance(ref_boundary(mask), spacing)
    return np.where(mask, -d, d)


def ref_livia(mask: np.ndarray, spacing) -> np.ndarray:
    """LIVIAETS/boundary-loss one_hot2dist for one class, written from its formula."""
    if not mask.any():
        return np.zeros(mask.shape)
    neg = ~mask
    return (
        ndimage.distance_transform_edt(neg, sampling=spacing) * neg
        - (scipy_edt(mask, spacing) - 1) * mask
    )


def _label_maps(nd: int, max_side: int, max_classes: int = 4):
    shapes = st.tuples(st.integers(1, 3), *[st.integers(2, max_side)] * nd)
    return st.integers(2, max_classes).flatmap(
        lambda c: shapes.flatmap(
            lambda s: st.tuples(st.just(c), arrays(np.int64, s, elements=st.integers(0, c - 1)))
        )
    )


@pytest.mark.parametrize("be", CPU_BACKENDS)
@SETTINGS
@given(data=_label_maps(2, 10), spacing=st.tuples(st.floats(0.4, 2.5), st.floats(0.4, 2.5)), empty=EMPTY)
def test_signed_boundary_2d_brute_force(be, data, spacing, empty):
    c, lab = data
    got = signed_distance(torch.from_numpy(lab)[:, None], spacing, num_classes=c, backend=be, empty=empty)
    assert got.shape == (lab.shape[0], c, *lab.shape[1:])
    for b in range(lab.shape[0]):
        for k in range(c):
            ref = ref_signed(lab[b] == k, spacing, empty)
            np.testing.assert_allclose(got[b, k].numpy(), ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("be", CPU_BACKENDS)
@SETTINGS
@given(
    data=_label_maps(3, 6, 3),
    spacing=st.tuples(st.floats(0.4, 2.5), st.floats(0.4, 2.5), st.floats(0.4, 2.5)),
    empty=EMPTY,
)
def test_signed_boundary_3d_brute_force(be, data, spacing, empty):
    c, lab = data
    got = signed_distance(torch.from_numpy(lab)[:, None], spacing, num_classes=c, backend=be, empty=empty)
    for b in range(lab.shape[0]):
        for k in range(c):
            ref = ref_signed(lab[b] == k, spacing, empty)
            np.testing.assert_allclose(got[b, k].numpy(), ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("be", CPU_BACKENDS)
@SETTINGS
@given(data=_label_maps(2, 12), spacing=st.tuples(st.floats(0.4, 2.5), st.floats(0.4, 2.5)))
def test_livia_parity(be, data, spacing):
    c, lab = data
    got = signed_distance(
        torch.from_numpy(lab)[:, None], spacing, num_classes=c, convention="livia", backend=be
    )
    for b in range(lab.shape[0]):
        for k in range(c):
            ref = ref_livia(lab[b] == k, spacing)
            np.testing.assert_allclose(got[b, k].numpy(), ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("be", CPU_BACKENDS)
@SETTINGS
@given(data=_label_maps(2, 12), spacing=st.tuples(st.floats(0.4, 2.5), st.floats(0.4, 2.5)), empty=EMPTY)
def test_unsigned_and_inside_match_scipy(be, data, spacing, empty):
    c, lab = data
    t = torch.from_numpy(lab)[:, None]
    un = unsigned_distance(t, spacing, num_classes=c, backend=be, empty=empty).numpy()
    ins = inside_distance(t, spacing, num_classes=c, backend=be, empty=empty).numpy()
    for b in range(lab.shape[0]):
        for k in range(c):
            m = lab[b] == k
            if not m.any():
                np.testing.assert_allclose(un[b, k], ref_empty(m, spacing, empty), rtol=1e-6)
                np.testing.assert_allclose(ins[b, k], ref_empty(m, spacing, empty), rtol=1e-6)
                continue
            inside = scipy_edt(m, spacing)
            outside = ndimage.distance_transform_edt(~m, sampling=spacing)
            np.testing.assert_allclose(ins[b, k], inside, rtol=1e-4, atol=1e-5)
            np.testing.assert_allclose(un[b, k], inside + outside, rtol=1e-4, atol=1e-5)


def test_signed_square_hand_values_and_zero_on_boundary():
    t = torch.zeros(1, 1, 8, 8, dtype=torch.long)
    t[0, 0, 2:6, 2:6] = 1
    phi = signed_distance(t, (2.0, 0.5), num_classes=2, classes=[1])[0, 0]
    bset = boundary_set(as_one_hot(t, num_classes=2))[0, 1]
    assert bset.sum() == 12
    assert (phi[bset] == 0).all()
    assert phi[3, 3].item() == pytest.approx(-0.5)  # one column step of 0.5 to the boundary
    assert phi[0, 3].item() == pytest.approx(4.0)  # two row steps of 2.0
    assert phi[3, 0].item() == pytest.approx(1.0)
    # LIVIA's voxel offset leaves 1 - 0.5 = 0.5 on its inner boundary under this spacing
    liv = signed_distance(t, (2.0, 0.5), num_classes=2, classes=[1], convention="livia")[0, 0]
    assert liv[3, 2].item() == pytest.approx(0.5)
    assert liv[3, 3].item() == pytest.approx(0.0)


def test_signed_disc_and_ball():
    n = 33
    yy, xx = np.mgrid[:n, :n] - 16
    disc = (yy**2 + xx**2 <= 10**2).astype(np.int64)
    phi = signed_distance(torch.from_numpy(disc)[None, None], num_classes=2)[0]
    # nearest boundary pixel of the centre: offset (9, 1) (its neighbour (10, 1) is outside)
    assert phi[1, 16, 16].item() == pytest.approx(-math.sqrt(82))
    assert phi[1, 16, 26].item() == 0.0
    assert phi[1, 16, 30].item() == pytest.approx(4.0)
    # the background class is the mirror: its boundary ring is just outside the disc
    assert phi[0, 16, 27].item() == 0.0
    assert phi[0, 16, 16].item() == pytest.approx(math.sqrt(101))  # nearest outside: (10, 1)
    zz, yy, xx = np.mgrid[:17, :17, :17] - 8
    ball = (zz**2 + yy**2 + xx**2 <= 6**2).astype(np.int64)
    ball_t = torch.from_numpy(ball)[None, None]
    phi3 = signed_distance(ball_t, (3.0, 1.0, 1.0), num_classes=2, classes=[1])
    # nearest boundary voxel in the z = 0 plane at (5, 1); z steps cost 3.0
    assert phi3[0, 0, 8, 8, 8].item() == pytest.approx(-math.sqrt(26))
    assert phi3[0, 0, 8, 8, 16].item() == pytest.approx(2.0)


@pytest.mark.parametrize("be", CPU_BACKENDS)
@pytest.mark.parametrize("fn", [signed_distance, unsigned_distance, inside_distance])
@pytest.mark.parametrize("empty", ["zero", "diagonal"])
def test_empty_and_full_classes_finite(be, fn, empty):
    t = torch.zeros(2, 1, 6, 7, dtype=torch.long)
    t[1, 0, 2:4, 2:5] = 2
    out = fn(t, (1.5, 1.0), num_classes=3, backend=be, empty=empty)
    assert torch.isfinite(out).all()
    fill = math.hypot(6 * 1.5, 7 * 1.0) if empty == "diagonal" else 0.0
    # class 1 is absent everywhere, class 2 absent in sample 0: a constant map, 0 (the
    # references') or the image diagonal (strictly positive)
    torch.testing.assert_close(out[:, 1], torch.full((2, 6, 7), fill))
    torch.testing.assert_close(out[0, 2], torch.full((6, 7), fill))
    full = out[0, 0]  # class 0 fills sample 0
    if fn is signed_distance:
        ring = torch.zeros(6, 7, dtype=torch.bool)
        ring[0] = ring[-1] = True
        ring[:, 0] = ring[:, -1] = True
        assert (full[ring] == 0).all()
        assert (full[~ring] < 0).all()
        assert full[2, 3].item() == pytest.approx(-3.0)  # 2 rows of 1.5, or 3 columns
    else:
        assert (full > 0).all()
        assert full[0, 3].item() == pytest.approx(1.5)
    liv = signed_distance(t, (1.5, 1.0), num_classes=3, convention="livia", backend=be)
    assert torch.isfinite(liv).all()
    assert (liv[:, 1] == 0).all()


def test_onehot_input_classes_order_and_dtype():
    rng = np.random.default_rng(0)
    lab = torch.from_numpy(rng.integers(0, 3, (2, 1, 9, 9)))
    oh = as_one_hot(lab, num_classes=3)
    assert oh.dtype == torch.bool and oh.shape == (2, 3, 9, 9)
    a = signed_distance(lab, num_classes=3, classes=[2, 0])
    b = signed_distance(oh.float(), classes=[2, 0], dtype=torch.float64)
    assert b.dtype == torch.float64
    torch.testing.assert_close(a, b.float())
    full = signed_distance(oh)
    torch.testing.assert_close(a[:, 0], full[:, 2])
    torch.testing.assert_close(a[:, 1], full[:, 0])
    # (B, *spatial) index map with spatial_dims; numpy input
    c = signed_distance(lab[:, 0].numpy(), num_classes=3, spatial_dims=2, classes=[2, 0])
    torch.testing.assert_close(a, c)


def test_overlapping_onehot_and_per_sample_spacing():
    rng = np.random.default_rng(3)
    oh = rng.random((2, 2, 7, 8, 6)) > 0.5  # multi-label, not a partition
    sp = torch.tensor([[2.5, 0.8, 0.8], [1.0, 1.0, 1.0]])
    for be in CPU_BACKENDS:
        got = unsigned_distance(torch.from_numpy(oh), sp, backend=be).numpy()
        for b in range(2):
            for k in range(2):
                m = oh[b, k]
                spb = tuple(sp[b].tolist())
                ref = scipy_edt(m, spb) + ndimage.distance_transform_edt(~m, sampling=spb)
                np.testing.assert_allclose(got[b, k], ref, rtol=1e-4, atol=1e-5)


def test_validation_errors():
    lab = torch.zeros(2, 1, 5, 5, dtype=torch.long)
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        signed_distance(lab + 2, num_classes=2)
    with pytest.raises(ValueError, match="spatial_dims"):
        signed_distance(lab[:, 0], num_classes=2)
    with pytest.raises(ValueError, match="one-hot"):
        signed_distance(torch.zeros(5, 5))
    with pytest.raises(ValueError, match=r"\{0, 1\}"):
        signed_distance(torch.full((1, 2, 4, 4), 0.5))
    with pytest.raises(ValueError, match="classes"):
        signed_distance(lab, num_classes=2, classes=[2])
    with pytest.raises(ValueError, match="convention"):
        signed_distance(lab, num_classes=2, convention="nope")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="integer"):
        signed_distance(lab.float() + 0.5, num_classes=3)
    with pytest.raises(ValueError, match="entries"):
        signed_distance(lab, (1.0, 1.0, 1.0), num_classes=2)
    with pytest.raises(ValueError, match="num_classes"):
        signed_distance(lab, num_classes=0)


@cuda
@pytest.mark.cuda
@pytest.mark.parametrize("be", ["auto", "torch", "edt"])
def test_signed_cuda_matches_cpu(be):
    rng = np.random.default_rng(5)
    lab = torch.from_numpy(rng.integers(0, 3, (2, 1, 8, 9, 10)))
    ref = signed_distance(lab, (2.5, 0.8, 0.8), num_classes=3, backend="scipy")
    got = signed_distance(lab.cuda(), (2.5, 0.8, 0.8), num_classes=3, backend=be)
    assert got.device.type == "cuda"
    torch.testing.assert_close(got.cpu(), ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("be", CPU_BACKENDS)
def test_onehot_partition_matches_index_map_for_every_map(be):
    rng = np.random.default_rng(7)
    lab = torch.from_numpy(rng.integers(0, 3, (2, 1, 6, 7, 5)))
    lab[1] = 1  # class 1 fills sample 1
    oh = as_one_hot(lab, num_classes=3).to(torch.uint8)
    sp = (2.5, 0.8, 0.8)
    for fn, kw in [
        (signed_distance, {"convention": "livia"}),
        (signed_distance, {}),
        (unsigned_distance, {}),
        (inside_distance, {}),
    ]:
        a = fn(lab, sp, num_classes=3, backend=be, **kw)
        b = fn(oh, sp, backend=be, **kw)
        torch.testing.assert_close(a, b)
        assert torch.isfinite(a).all()
        ref = fn(lab, sp, num_classes=3, backend="scipy", **kw)
        torch.testing.assert_close(a, ref, rtol=1e-4, atol=1e-5)


@pytest.mark.skipif("edt" not in available_backends(), reason="needs the edt package")
def test_stacked_2d_edt_path_equals_scipy_with_mixed_spacing_and_full_empty_classes():
    # 2D batches go through one stacked edt call per spacing group; nothing may leak
    # between the stacked masks, whatever their spacing or content.
    g = torch.Generator().manual_seed(3)
    lab = torch.randint(0, 4, (4, 1, 23, 17), generator=g)
    lab[0] = 0                       # class 0 fills sample 0, classes 1-3 are absent there
    lab[1, :, :12] = 2               # a large region touching the border
    sp = torch.tensor([[0.5, 2.0], [1.0, 1.0], [0.5, 2.0], [3.0, 0.25]])
    for empty in ("zero", "diagonal"):
        got = signed_distance(lab, sp, num_classes=4, backend="edt", empty=empty)
        want = signed_distance(lab, sp, num_classes=4, backend="scipy", empty=empty)
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    mask = torch.rand(4, 23, 17, generator=g) > 0.6
    torch.testing.assert_close(edt(mask, sp, backend="edt"), edt(mask, sp, backend="scipy"),
                               rtol=1e-4, atol=1e-4)
