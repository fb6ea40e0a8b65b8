"""edgewise.maps.edt against scipy, hand-checked values, validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from edgewise.maps import edt

from ._helpers import CPU_BACKENDS, cuda, scipy_edt

SETTINGS = settings(max_examples=30, deadline=None)


def _masks(nd: int, max_side: int):
    shapes = st.tuples(*[st.integers(1, max_side)] * nd)
    return shapes.flatmap(lambda s: arrays(np.bool_, s))


spacings2 = st.tuples(st.floats(0.3, 3.0), st.floats(0.3, 3.0))
spacings3 = st.tuples(st.floats(0.3, 3.0), st.floats(0.3, 3.0), st.floats(0.3, 3.0))


@pytest.mark.parametrize("be", CPU_BACKENDS)
@SETTINGS
@given(mask=_masks(2, 14), spacing=spacings2)
def test_edt_2d_matches_scipy(be, mask, spacing):
    got = edt(torch.from_numpy(mask), spacing, backend=be)
    assert got.dtype == torch.float32
    np.testing.assert_allclose(got.numpy(), scipy_edt(mask, spacing), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("be", CPU_BACKENDS)
@SETTINGS
@given(mask=_masks(3, 8), spacing=spacings3)
def test_edt_3d_matches_scipy(be, mask, spacing):
    got = edt(torch.from_numpy(mask), spacing, backend=be)
    np.testing.assert_allclose(got.numpy(), scipy_edt(mask, spacing), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("be", CPU_BACKENDS)
def test_edt_batch_and_sparse_masks(be):
    rng = np.random.default_rng(0)
    # mostly-True masks with few False elements: long distances, all envelope offsets used
    m = rng.random((2, 3, 9, 10, 11)) > 0.995
    m = ~m
    m[0, 0] = True  # a sample with no False at all
    m[1, 2] = False  # a sample with no True
    got = edt(torch.from_numpy(m), (2.5, 0.8, 0.8), backend=be).numpy()
    for i in range(2):
        for j in range(3):
            ref = scipy_edt(m[i, j], (2.5, 0.8, 0.8))
            np.testing.assert_allclose(got[i, j], ref, rtol=1e-4, atol=1e-5)
    assert np.isfinite(got).all()


@pytest.mark.parametrize("be", CPU_BACKENDS)
def test_edt_per_sample_spacing(be):
    rng = np.random.default_rng(1)
    m = rng.random((3, 2, 12, 13)) > 0.2
    sp = torch.tensor([[1.0, 1.0], [2.0, 0.5], [0.7, 3.0]])
    got = edt(torch.from_numpy(m), sp, backend=be).numpy()
    for b in range(3):
        for c in range(2):
            ref = scipy_edt(m[b, c], tuple(sp[b].tolist()))
            np.testing.assert_allclose(got[b, c], ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("be", CPU_BACKENDS)
def test_edt_disc_and_ball_values(be):
    n = 41
    yy, xx = np.mgrid[:n, :n] - 20
    disc = yy**2 + xx**2 <= 15**2
    d = edt(torch.from_numpy(disc), backend=be).numpy()
    # nearest outside pixels of the centre: (15, 1) and its symmetric copies
    assert d[20, 20] == pytest.approx(math.sqrt(226))
    assert d[20, 35] == pytest.approx(1.0)
    assert d[0, 0] == 0.0
    zz, yy, xx = np.mgrid[:21, :21, :21] - 10
    ball = zz**2 + yy**2 + xx**2 <= 8**2
    d3 = edt(torch.from_numpy(ball), (2.0, 1.0, 1.0), backend=be).numpy()
    # nearest outside voxel in the z = 0 plane at (8, 1): sqrt(65); any z step costs 2.0
    assert d3[10, 10, 10] == pytest.approx(math.sqrt(65))


@pytest.mark.parametrize("be", CPU_BACKENDS)
def test_edt_full_sample_is_distance_beyond_border(be):
    m = torch.ones(2, 4, 5, dtype=torch.bool)
    d = edt(m, (2.0, 1.0), backend=be)
    # nearest point beyond the border: along the rows (1.0) unless a row border is closer
    expected = torch.tensor(
        [
            [1.0, 2.0, 2.0, 2.0, 1.0],
            [1.0, 2.0, 3.0, 2.0, 1.0],
            [1.0, 2.0, 3.0, 2.0, 1.0],
            [1.0, 2.0, 2.0, 2.0, 1.0],
        ]
    )
    torch.testing.assert_close(d[0], expected)
    torch.testing.assert_close(d[1], expected)


def test_edt_square_hand_values():
    m = torch.zeros(7, 7, dtype=torch.bool)
    m[1:6, 1:6] = True
    d = edt(m)
    assert d[3].tolist() == [0.0, 1.0, 2.0, 3.0, 2.0, 1.0, 0.0]
    assert edt(m, 0.5)[3, 3].item() == 1.5


def test_edt_accepts_01_and_numpy():
    m = np.zeros((5, 6), dtype=np.int64)
    m[1:4, 1:5] = 1
    a = edt(m)
    b = edt(torch.from_numpy(m).float())
    c = edt(torch.from_numpy(m.astype(bool)))
    torch.testing.assert_close(a, c)
    torch.testing.assert_close(b, c)


def test_edt_backends_agree_on_thin_lines():
    m = np.ones((3, 20, 20), dtype=bool)
    m[0, 10, :] = False
    m[1, :, 3] = False
    m[2, 7, 12] = False  # single False voxel
    ref = edt(torch.from_numpy(m), (1.5, 0.6), spatial_dims=2, backend="scipy")
    for be in CPU_BACKENDS:
        got = edt(torch.from_numpy(m), (1.5, 0.6), spatial_dims=2, backend=be)
        torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-5)
    assert ref[2, 7, 14].item() == pytest.approx(1.2)
    assert ref[2, 9, 12].item() == pytest.approx(3.0)
    assert ref[2, 8, 13].item() == pytest.approx(math.hypot(1.5, 0.6))


def test_edt_validation():
    with pytest.raises(ValueError, match="spatial_dims"):
        edt(torch.zeros(2, 3, 4, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="values in"):
        edt(torch.tensor([[0, 2], [1, 1]]))
    with pytest.raises(ValueError, match="3 entries"):
        edt(torch.zeros(4, 5, dtype=torch.bool), (1.0, 1.0, 1.0), spatial_dims=2)
    with pytest.raises(ValueError, match="batch"):
        edt(torch.zeros(3, 4, 5, dtype=torch.bool), torch.ones(2, 2))
    with pytest.raises(ValueError, match="positive"):
        edt(torch.zeros(4, 5, dtype=torch.bool), (1.0, -1.0))
    with pytest.raises(ValueError, match="backend"):
        edt(torch.zeros(4, 5, dtype=torch.bool), backend="nope")
    with pytest.raises(ValueError, match="cupy"):
        edt(torch.zeros(4, 5, dtype=torch.bool), backend="cupy")
    with pytest.raises(TypeError):
        edt([[0, 1]])


@cuda
@pytest.mark.cuda
@pytest.mark.parametrize("be", ["auto", "torch", "cupy", "edt"])
def test_edt_cuda_matches_scipy(be):
    if be == "cupy":
        pytest.importorskip("cupy")
    rng = np.random.default_rng(2)
    m = rng.random((2, 3, 10, 12, 14)) > 0.05
    got = edt(torch.from_numpy(m).cuda(), (2.5, 0.8, 0.8), backend=be)
    assert got.device.type == "cuda"
    got = got.cpu().numpy()
    for i in range(2):
        for j in range(3):
            ref = scipy_edt(m[i, j], (2.5, 0.8, 0.8))
            np.testing.assert_allclose(got[i, j], ref, rtol=1e-4, atol=1e-5)
