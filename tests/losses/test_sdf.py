"""Signed distance regression (``edgewise.losses.sdf``): the normalised target and loss values by
hand, the hand-written backward against autograd."""

from __future__ import annotations

import pytest
import torch

from edgewise.losses import normalized_signed_distance, signed_distance_loss
from edgewise.maps import signed_distance


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


def _plain_sdf(s: torch.Tensor, g: torch.Tensor, smooth: float) -> torch.Tensor:
    """Xue et al.'s per-(b, c) loss as written before ``_SdfRegression``."""
    inter = (s * g).flatten(2).sum(-1)
    product = -(inter + smooth) / (inter + (s * s).flatten(2).sum(-1) + (g * g).flatten(2).sum(-1) + smooth)
    return product + (s - g).abs().flatten(2).mean(-1)


@pytest.mark.parametrize("shape", [(2, 3, 11, 13), (2, 2, 5, 7, 9), (1, 1, 1, 1)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sdf_regression_matches_autograd(shape, dtype):
    from edgewise.losses.sdf import _SdfRegression

    gen = torch.Generator().manual_seed(len(shape))
    s = torch.tanh(torch.randn(shape, generator=gen, dtype=dtype))
    g = torch.rand(shape, generator=gen, dtype=dtype) * 2 - 1
    g.view(-1)[::3] = s.view(-1)[::3]  # s == g: |s - g| at its kink, where sign(0) = 0 matters
    a = s.clone().requires_grad_(True)
    b = s[:, :].clone().requires_grad_(True)
    ref, out = _plain_sdf(a, g, 1e-5), _SdfRegression.apply(b, g, 1e-5)
    assert out.shape == shape[:2]
    tol = dict(rtol=1e-5, atol=1e-7) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(out, ref, **tol)
    w = torch.randn(out.shape, generator=gen, dtype=dtype)
    (ref * w).sum().backward()
    (out * w).sum().backward()
    # rounding is relative to the gradient's summands, not to their sum: with one element and
    # s == g the two product-term summands cancel to ~1e-7 of their size
    s2, g2 = s.flatten(2), g.flatten(2)
    inter, ss, gg = (s2 * g2).sum(-1, keepdim=True), (s2 * s2).sum(-1, keepdim=True), (g2 * g2).sum(-1, keepdim=True)
    d2 = (inter + ss + gg + 1e-5).square()
    summands = (2 * (inter + 1e-5) * s2.abs() + (ss + gg) * g2.abs()) / d2 + 1 / s2.shape[-1]
    scale = (summands * w.abs().unsqueeze(-1)).max()
    assert float((a.grad - b.grad).abs().max() / scale) < (1e-6 if dtype == torch.float32 else 1e-14)


def test_sdf_regression_noncontiguous_channels_and_gradcheck():
    """A channel subset of a bigger tensor (what ``classes=`` hands over) and float64 gradcheck."""
    from edgewise.losses.sdf import _SdfRegression

    gen = torch.Generator().manual_seed(3)
    full = torch.randn(2, 4, 5, 6, dtype=torch.float64, generator=gen).requires_grad_(True)
    g = torch.rand(2, 2, 5, 6, dtype=torch.float64, generator=gen) - 0.5
    torch.testing.assert_close(_SdfRegression.apply(full[:, 1:3], g, 1e-5), _plain_sdf(full[:, 1:3], g, 1e-5),
                               rtol=1e-12, atol=1e-14)
    assert torch.autograd.gradcheck(lambda x: _SdfRegression.apply(x[:, 1:3], g, 1e-5), (full,))
