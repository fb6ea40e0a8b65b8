from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from edgewise.maps import available_backends

CPU_BACKENDS = available_backends("cpu")


def scipy_edt(mask: np.ndarray, spacing=None) -> np.ndarray:
    """scipy EDT with the documented rule for samples without any False element."""
    mask = np.asarray(mask, dtype=bool)
    if mask.all():
        padded = np.pad(mask, 1, constant_values=False)
        d = ndimage.distance_transform_edt(padded, sampling=spacing)
        return d[tuple(slice(1, -1) for _ in range(mask.ndim))]
    return ndimage.distance_transform_edt(mask, sampling=spacing)


def brute_distance(targets: np.ndarray, spacing) -> np.ndarray:
    """For every grid point, the distance to the nearest True of ``targets`` (brute force)."""
    spacing = np.broadcast_to(np.asarray(spacing, float), (targets.ndim,))
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in targets.shape], indexing="ij"), -1)
    pts = grid.reshape(-1, targets.ndim) * spacing
    tgt = pts[targets.reshape(-1)]
    diff = pts[:, None, :] - tgt[None, :, :]
    return np.sqrt((diff**2).sum(-1)).min(1).reshape(targets.shape)


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
