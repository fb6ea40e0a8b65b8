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
