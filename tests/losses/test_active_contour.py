"""The active contour loss (``edgewise.losses.active_contour``): hand values, the hand-written
length backward against autograd, gradcheck."""

from __future__ import annotations

import math

import pytest
import torch

from edgewise.losses import active_contour_loss
from edgewise.losses.active_contour import _ContourLength


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


def _plain_length(p: torch.Tensor, eps: float) -> torch.Tensor:
    """The length term as written before ``_ContourLength``."""
    nd = p.dim() - 2
    base = p[(..., *([slice(None, -1)] * nd))]
    sq = torch.zeros_like(base)
    for axis in range(nd):
        idx = [slice(None, -1)] * nd
        idx[axis] = slice(1, None)
        sq = sq + (p[(..., *idx)] - base).pow(2)
    return torch.sqrt(sq + eps).flatten(2).sum(-1)


@pytest.mark.parametrize("shape", [(2, 3, 11, 13), (2, 2, 5, 7, 9), (1, 1, 2, 2), (1, 1, 2, 1, 3)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_contour_length_matches_autograd(shape, dtype):
    g = torch.Generator().manual_seed(len(shape))
    p = torch.softmax(torch.randn(shape, generator=g, dtype=dtype) * 3, 1)
    if shape[-2] > 1:
        p[..., :1, :] = p[..., 1:2, :]  # flat rows: differences of exactly 0, where eps matters
    a = p.clone().requires_grad_(True)
    b = p.clone().requires_grad_(True)
    ref, out = _plain_length(a, 1e-8), _ContourLength.apply(b, 1e-8)
    tol = dict(rtol=1e-6, atol=0) if dtype == torch.float32 else dict(rtol=1e-12, atol=0)
    torch.testing.assert_close(out, ref, **tol)
    w = torch.randn(out.shape, generator=g, dtype=dtype)
    (ref * w).sum().backward()
    (out * w).sum().backward()
    scale = a.grad.abs().max().clamp_min(torch.finfo(dtype).tiny)  # a single channel: all zero
    assert float((a.grad - b.grad).abs().max() / scale) < (1e-5 if dtype == torch.float32 else 1e-12)


@pytest.mark.parametrize("shape", [(1, 2, 4, 5), (1, 2, 3, 4, 3)])
def test_contour_length_gradcheck(shape):
    p = torch.rand(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    assert torch.autograd.gradcheck(lambda x: _ContourLength.apply(x, 1e-3), (p.requires_grad_(True),))


def test_active_contour_loss_gradcheck_3d():
    t = torch.zeros(1, 1, 4, 5, 5, dtype=torch.long)
    t[..., 1:3, 1:4, 1:4] = 1
    x = torch.randn(1, 2, 4, 5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(8))
    assert torch.autograd.gradcheck(lambda z: active_contour_loss(z, t, eps=1e-3), (x.requires_grad_(True),))
