"""The distance-penalised cross-entropy (``edgewise.losses.penalized``): against an independent
penalty map (scipy), edge cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from edgewise.losses import DistancePenalizedCELoss, cross_entropy_loss, penalized_ce_loss
from edgewise.maps import penalty_map

from ._helpers import _disc, _labels


def test_penalized_ce_applies_the_penalty():
    t = _labels(6)
    x = torch.randn(2, 3, 12, 10, dtype=torch.float64)
    phi = penalty_map(t, num_classes=3).double()
    ce = cross_entropy_loss(x, t, reduction="none")
    pen = penalized_ce_loss(x, t, reduction="none")
    torch.testing.assert_close(pen, (1 + phi[:, 0]) * ce)
    diff = penalized_ce_loss(x, t) - cross_entropy_loss(x, t)
    torch.testing.assert_close(diff, (phi[:, 0] * ce).mean())
    assert diff > 0
    torch.testing.assert_close(penalized_ce_loss(x, t, dist_map=torch.zeros_like(phi)), cross_entropy_loss(x, t))
    torch.testing.assert_close(penalized_ce_loss(x, t, dist_map=torch.ones_like(phi)), 2 * cross_entropy_loss(x, t))


def _penalty_reference(labels: np.ndarray, num_classes: int, sampling) -> np.ndarray:
    """Calivá's inverted inner distance from its definition, with scipy: each pixel's distance
    to the boundary set of its own class (class pixels with a face-neighbour of another class),
    divided by that class's largest distance, subtracted from 1 (1 where the class has no interior)."""
    phi = np.zeros(labels.shape, dtype=np.float64)
    for k in range(num_classes):
        m = labels == k
        if not m.any():
            continue
        if m.all():
            boundary = np.ones_like(m)
            boundary[tuple(slice(1, -1) for _ in m.shape)] = False
        else:
            interior = m.copy()
            for ax in range(m.ndim):
                fwd = [slice(None)] * m.ndim
                bwd = [slice(None)] * m.ndim
                fwd[ax], bwd[ax] = slice(1, None), slice(None, -1)
                interior[tuple(fwd)] &= m[tuple(bwd)]
                interior[tuple(bwd)] &= m[tuple(fwd)]
            boundary = m & ~interior
        d = ndimage.distance_transform_edt(~boundary, sampling=sampling)
        top = d[m].max()
        phi[m] = 1.0 - d[m] / top if top > 0 else 1.0
    return phi


def test_penalized_ce_equals_independent_penalty_times_ce():
    t = _labels(12, b=2, c=3, shape=(12, 10))
    x = torch.randn(2, 3, 12, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    sp = torch.tensor([[1.0, 2.0], [0.7, 0.4]])
    phi = np.stack([_penalty_reference(t[i, 0].numpy(), 3, sp[i].tolist()) for i in range(2)])
    ce = torch.nn.functional.cross_entropy(x, t[:, 0], reduction="none")
    expected = ((1 + torch.from_numpy(phi)) * ce).mean()
    assert penalized_ce_loss(x, t, spacing=sp).item() == pytest.approx(expected.item(), rel=1e-6)
    # the penalty really changes the value (SegLossOdyssey's port returns the plain CE)
    assert expected.item() > ce.mean().item() * 1.2


def test_penalized_ce_single_channel_probabilities_is_weighted_bce():
    t = _disc(10, 10, 4.5, 4.5, 3).long()[None, None]
    p = torch.rand(1, 1, 10, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(4)) * 0.98 + 0.01
    phi = torch.from_numpy(_penalty_reference(t[0, 0].numpy(), 2, (1.0, 1.0)))
    bce = torch.nn.functional.binary_cross_entropy(p, t.double(), reduction="none")
    expected = ((1 + phi) * bce).mean()
    assert penalized_ce_loss(p, t, softmax=False).item() == pytest.approx(expected.item(), rel=1e-6)
    assert penalized_ce_loss(torch.logit(p), t, sigmoid=True).item() == pytest.approx(expected.item(), rel=1e-6)


def test_penalized_ce_edge_cases():
    empty = torch.zeros(1, 1, 8, 8, dtype=torch.long)  # B = 1, no foreground
    x = torch.randn(1, 2, 8, 8)
    v = DistancePenalizedCELoss()(x, empty, spacing=(1.0, 3.0))
    assert torch.isfinite(v) and v.dim() == 0
    binary = _disc(8, 8, 4, 4, 2).long()[None, None]
    v = penalized_ce_loss(torch.randn(1, 1, 8, 8), binary, sigmoid=True)
    assert torch.isfinite(v)
    t = _labels(7)
    t[0, 0, 0, :4] = 255
    v = penalized_ce_loss(torch.randn(2, 3, 12, 10), t, ignore_index=255)
    assert torch.isfinite(v)
