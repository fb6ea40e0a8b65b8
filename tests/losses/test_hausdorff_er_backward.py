"""HD-ER's hand-written erosion backward (``variant="convolution"``) against autograd of the plain formula."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from edgewise.losses import hausdorff_er_loss
from edgewise.losses.hausdorff import _ErosionLoss


def _reference(input: torch.Tensor, target: torch.Tensor, alpha: float = 2.0, k: int = 10) -> torch.Tensor:
    """The loss written op by op (pad + shifted sums, min-max with torch.where), autograd only."""
    p = torch.softmax(input, 1)
    t = torch.zeros_like(p).scatter_(1, target, 1.0)
    b, c = p.shape[:2]
    spatial = p.shape[2:]
    nd = len(spatial)
    bound = (p - t).pow(2).reshape(b * c, 1, *spatial)
    total = torch.zeros_like(bound)
    view = (b * c, 1, *([1] * nd))
    for j in range(1, k + 1):
        padded = F.pad(bound, (1, 1) * nd)
        inner = [slice(1, -1)] * nd
        s = bound.clone()
        for axis in range(nd):
            for lo in (0, 2):
                idx = list(inner)
                idx[axis] = slice(lo, lo + spatial[axis])
                s = s + padded[(..., *idx)]
        eroded = torch.relu(s / (2 * nd + 1) - 0.5)
        flat = eroded.flatten(1)
        lo_v = flat.min(1).values.view(view)
        rng = flat.max(1).values.view(view) - lo_v
        ok = rng != 0
        eroded = torch.where(ok, (eroded - lo_v) / torch.where(ok, rng, torch.ones_like(rng)), eroded)
        total = total + eroded * float(j) ** alpha
        bound = eroded
    return total.reshape(b, c, -1).mean(-1).mean()


@pytest.mark.parametrize("shape", [(2, 3, 14, 11), (1, 2, 7, 8, 6)])
@pytest.mark.parametrize("k", [1, 3])
def test_erosion_chain_gradcheck(shape, k):
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(shape[0] * shape[1], 1, *shape[2:], generator=g, dtype=torch.float64) * 1.2)
    x.requires_grad_(True)
    n = 2 * (len(shape) - 2) + 1
    weights = tuple(float(j) ** 2 for j in range(1, k + 1))
    assert torch.autograd.gradcheck(lambda v: _ErosionLoss.apply(v, n, weights), (x,), eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("shape", [(3, 3, 30, 26), (2, 2, 12, 14, 10)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_matches_plain_autograd(shape, dtype):
    g = torch.Generator().manual_seed(1)
    x = (torch.randn(shape, generator=g) * 3).to(dtype)
    t = torch.randint(0, shape[1], (shape[0], 1, *shape[2:]), generator=g)
    # thick error regions, so that the erosions keep something
    t[..., : shape[2] // 2, :] = 0
    x[:, 1, : shape[2] // 2] += 6
    xa = x.clone().requires_grad_(True)
    xb = x.clone().requires_grad_(True)
    ours = hausdorff_er_loss(xa, t, variant="convolution")
    ref = _reference(xb, t)
    ours.backward()
    ref.backward()
    assert ours.item() > 0
    tol = 1e-6 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(ours, ref, rtol=tol * 10, atol=0)
    scale = xb.grad.abs().max().item()
    assert scale > 0
    torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-5, atol=tol * scale)
