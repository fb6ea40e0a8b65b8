"""Cases shared by the loss tests: label maps, probabilities, approximate weight lists."""

from __future__ import annotations

import pytest
import torch


def _disc(h: int, w: int, cy: float, cx: float, r: float) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    return ((yy - cy) ** 2 + (xx - cx) ** 2) <= r * r


def _labels(seed: int, b: int = 2, c: int = 3, shape=(12, 10)) -> torch.Tensor:
    """Blobby label maps with every class present and one class absent from sample 0."""
    g = torch.Generator().manual_seed(seed)
    t = torch.zeros(b, 1, *shape, dtype=torch.long)
    for i in range(b):
        for k in range(1, c):
            if i == 0 and k == c - 1:
                continue
            cy, cx = (torch.rand(2, generator=g) * torch.tensor(shape)).tolist()
            t[i, 0][_disc(*shape, cy, cx, 2.5 + k)] = k
    return t


def _probs(seed: int, b: int, c: int, shape, dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(torch.randn(b, c, *shape, generator=g, dtype=dtype), 1)


def _approx(values):
    return [pytest.approx(v, abs=1e-12) for v in values]
