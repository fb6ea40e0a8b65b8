"""The separable max pools behind soft_contour and the soft skeleton equal max_pool2d/3d:
values and gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from edgewise.maps.contour import _AxisMaxPool, axis_max_pools, cube_max_pool, soft_contour

SHAPES = [(2, 3, 9, 11, 13), (2, 2, 17, 19), (1, 1, 1, 5, 7), (1, 2, 3, 1, 2), (1, 1, 2, 1), (1, 1, 1, 1)]


def _plain(x: torch.Tensor) -> torch.Tensor:
    pool = F.max_pool2d if x.dim() == 4 else F.max_pool3d
    return pool(x, kernel_size=3, stride=1, padding=1)


def _cube(x: torch.Tensor) -> torch.Tensor:
    return _AxisMaxPool.apply(x, tuple(range(x.dim() - 1, 1, -1)))


def _plain_axis(x: torch.Tensor, dim: int) -> torch.Tensor:
    kernel = [1] * (x.dim() - 2)
    kernel[dim - 2] = 3
    pool = F.max_pool2d if x.dim() == 4 else F.max_pool3d
    return pool(x, tuple(kernel), 1, tuple(k // 2 for k in kernel))


def _inputs(shape: tuple[int, ...], kind: str, dtype: torch.dtype) -> torch.Tensor:
    g = torch.Generator().manual_seed(sum(shape))
    if kind == "randn":
        return torch.randn(shape, generator=g, dtype=dtype)
    if kind == "binary":
        return (torch.rand(shape, generator=g) > 0.5).to(dtype)
    return torch.randint(0, 3, shape, generator=g).to(dtype)  # many ties in every window


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kind", ["randn", "binary", "ties"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_values_and_gradients_equal_max_pool(shape, kind, dtype):
    x = _inputs(shape, kind, dtype)
    a = x.clone().requires_grad_(True)
    b = x.clone().requires_grad_(True)
    ya, yb = _plain(a), _cube(b)
    assert torch.equal(ya, yb)
    # integer weights: every sum of routed gradients is exact, so the routes must be equal
    w = torch.randint(-4, 5, shape, generator=torch.Generator().manual_seed(1)).to(dtype)
    (ya * w).sum().backward()
    (yb * w).sum().backward()
    assert torch.equal(a.grad, b.grad)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kind", ["randn", "ties"])
def test_axis_pool_values_and_gradients_equal_max_pool(shape, kind):
    x = _inputs(shape, kind, torch.float64)
    w = torch.randint(-4, 5, shape, generator=torch.Generator().manual_seed(2)).double()
    for dim in range(2, x.dim()):
        a = x.clone().requires_grad_(True)
        b = x.clone().requires_grad_(True)
        ya, yb = _plain_axis(a, dim), axis_max_pools(b, [dim])[0]
        assert torch.equal(ya, yb)
        (ya * w).sum().backward()
        (yb * w).sum().backward()
        assert torch.equal(a.grad, b.grad), dim


def test_axis_pool_gradcheck_float64():
    x = torch.randn(1, 2, 4, 5, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    for dim in (2, 3, 4):
        assert torch.autograd.gradcheck(lambda v, d=dim: axis_max_pools(v, [d])[0], (x.clone().requires_grad_(True),))


def test_without_grad_same_values():
    x = _inputs((2, 3, 8, 9, 10), "ties", torch.float32)
    assert torch.equal(_cube(x), _plain(x))


@pytest.mark.parametrize("shape", [(1, 2, 4, 5, 6), (2, 1, 6, 7)])
def test_gradcheck_float64(shape):
    x = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    assert torch.autograd.gradcheck(_cube, (x.requires_grad_(True),))


def test_non_finite_input_uses_max_pool_rule():
    x = torch.randn(1, 1, 5, 5, 5)
    x[0, 0, 2, 2, 2] = float("nan")
    x[0, 0, 0, 0, 0] = float("inf")
    y = cube_max_pool(x)
    ref = _plain(x)
    assert torch.equal(y.isnan(), ref.isnan())
    assert torch.equal(y.nan_to_num(0.0), ref.nan_to_num(0.0))


@pytest.mark.parametrize("shape", [(2, 3, 12, 13, 14), (4, 2, 30, 31)])
def test_soft_contour_matches_plain_pooling(shape):
    """soft_contour as written before the separable pool: values and gradients (float64: the
    gradients of two pools and a relu add up in another order, float32 shows that order)."""
    p = torch.softmax(torch.randn(shape, generator=torch.Generator().manual_seed(5), dtype=torch.float64), 1)
    a = p.clone().requires_grad_(True)
    b = p.clone().requires_grad_(True)
    erosion = -_plain(-a)
    ref = F.relu(_plain(erosion) - erosion)
    out = soft_contour(b)
    assert torch.equal(out, ref)
    w = torch.randn(shape, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    (ref * w).sum().backward()
    (out * w).sum().backward()
    torch.testing.assert_close(b.grad, a.grad, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("shape", [(2, 3, 12, 13, 14), (3, 2, 30, 31), (1, 1, 1, 6), (1, 2, 1, 5, 4)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_soft_contour_binary_path_equals_pooling(shape, dtype):
    """A {0, 1} input without gradient (a one-hot target) takes Boolean passes: the values of
    the pooled contour, forced here by requires_grad, and of plain max_pool."""
    g = torch.Generator().manual_seed(7)
    pool = F.avg_pool2d if len(shape) == 4 else F.avg_pool3d
    # blobs (smoothed noise) that survive an erosion, where the shape allows the smoothing
    smooth = (lambda v: pool(v, 3, 1, 1)) if min(shape[2:]) > 1 else (lambda v: v)
    for p in (0.3, 0.5, 0.7):
        m = (smooth(torch.rand(shape, generator=g)) > p).to(dtype)
        fast = soft_contour(m)
        pooled = soft_contour(m.clone().requires_grad_(True)).detach()
        erosion = -_plain(-m)
        assert fast.dtype == dtype
        assert torch.equal(fast, pooled)
        assert torch.equal(fast, F.relu(_plain(erosion) - erosion))
    square = torch.zeros(1, 1, 8, 8, dtype=dtype)
    square[..., 2:6, 2:6] = 1
    assert soft_contour(square).sum().item() == 12
