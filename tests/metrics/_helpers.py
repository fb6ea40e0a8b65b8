"""Shapes shared by the metrics tests."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def blob(
    rng: np.random.Generator, shape: tuple[int, ...], fraction: float = 0.3, sigma: float = 2.0
) -> np.ndarray:
    """A random smooth shape (possibly several components) covering about ``fraction``."""
    field = ndimage.gaussian_filter(rng.random(shape), sigma)
    return field > np.quantile(field, 1 - fraction)


def ball(
    shape: tuple[int, ...],
    centre: tuple[float, ...],
    radius: float,
    spacing: tuple[float, ...] | None = None,
) -> np.ndarray:
    spacing = spacing or (1.0,) * len(shape)
    grids = np.meshgrid(*[np.arange(n) * s for n, s in zip(shape, spacing)], indexing="ij")
    r2 = sum((g - c) ** 2 for g, c in zip(grids, centre))
    return r2 <= radius**2


def bc(mask: np.ndarray) -> np.ndarray:
    """(1, 1, *spatial) view of a single mask."""
    return mask[None, None]


def assert_matches_monai_voxel_mode(p, t, spacing, tolerance: float) -> None:
    """edgewise's voxel mode equals MONAI's HD, HD95, ASSD (both forms) and NSD on ``p, t``."""
    import torch
    from monai.metrics import (
        compute_average_surface_distance,
        compute_hausdorff_distance,
        compute_surface_dice,
    )

    from edgewise.metrics import surface_distances

    sd = surface_distances(p, t, spacing=spacing, surface="voxel")
    kw = {"include_background": True, "spacing": list(spacing)}
    torch.testing.assert_close(sd.hausdorff(), compute_hausdorff_distance(p, t, **kw).float())
    torch.testing.assert_close(
        sd.hausdorff(95, "linear_directed"),
        compute_hausdorff_distance(p, t, percentile=95, **kw).float(),
        rtol=1e-5,
        atol=1e-5,
    )
    torch.testing.assert_close(
        sd.average(), compute_average_surface_distance(p, t, symmetric=True, **kw).float()
    )
    torch.testing.assert_close(
        sd.average(symmetric=False), compute_average_surface_distance(p, t, **kw).float()
    )
    tolerances = [tolerance] * p.shape[1]
    torch.testing.assert_close(
        sd.surface_dice(tolerance), compute_surface_dice(p, t, tolerances, **kw).float()
    )
