"""Hand-written backwards that replaced autograd graphs: same values and gradients as the plain
expressions they replaced (kept here as the reference), float64 gradcheck."""

from __future__ import annotations

import pytest
import torch

from edgewise.losses import active_contour_loss
from edgewise.losses.active_contour import _ContourLength


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


@pytest.mark.parametrize("spacing", [None, (2.5, 0.8, 0.7)])
def test_normalized_signed_distance_equals_where_formula(spacing):
    """The SDF target without torch.where: the formula it replaced, bit for bit (3D, an absent
    class, a full class, anisotropic spacing)."""
    from edgewise.losses import normalized_signed_distance
    from edgewise.maps import signed_distance

    g = torch.Generator().manual_seed(9)
    lab = torch.randint(0, 2, (3, 1, 6, 7, 8), generator=g)
    lab[1] = 0  # class 1 absent, class 0 full
    masks = torch.cat([lab == k for k in range(3)], 1)
    phi = signed_distance(masks, spacing)
    flat = phi.flatten(2)
    pos = flat.clamp_min(0).amax(-1).clamp_min(1e-12)[..., None, None, None]
    neg = (-flat).clamp_min(0).amax(-1).clamp_min(1e-12)[..., None, None, None]
    assert torch.equal(normalized_signed_distance(masks, spacing), torch.where(phi > 0, phi / pos, phi / neg))
