"""The elementwise helpers (``edgewise._core.elementwise``) give the plain spelling's values."""

from __future__ import annotations

import torch

from edgewise._core.elementwise import any_spatial, as_float, greater, keep


def test_elementwise_helpers_give_the_plain_values():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 5, 4, generator=g, dtype=torch.float64)
    m = x > 0.5
    assert torch.equal(as_float(m), m.float())
    assert torch.equal(as_float(m, torch.float64), m.double())
    assert torch.equal(keep(x, m), torch.where(m, x, torch.zeros_like(x)))
    assert torch.equal(greater(x, 0.5), m)
    assert torch.equal(any_spatial(m), m.flatten(2).any(-1))
