"""Cases shared by the integration tests."""

from __future__ import annotations

import torch


def _affine(*spacing: float) -> torch.Tensor:
    return torch.diag(torch.tensor([*spacing, 1.0], dtype=torch.float64))
