r"""Perimeter error: the difference of the contour lengths (2D) or surface areas (3D) of
prediction and target.

The lengths and areas are the corner surface model's (:mod:`edgewise.metrics.surface`):
marching squares / marching cubes through each ``2 x 2`` (``2 x 2 x 2``) block of voxels,
counted per neighbour code, so no nearest-surface search is needed (compare
:mod:`edgewise.metrics.distance`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from edgewise._core.spacing import SpacingLike

from ._validate import ArrayLike, EmptyPolicy, check_choice, pair_with_spacing
from .surface import corner_codes, surfel_measure_table

__all__ = ["perimeter_error"]


def perimeter_error(
    pred: ArrayLike,
    target: ArrayLike,
    *,
    spacing: SpacingLike = None,
    include_background: bool = True,
    border_is_surface: bool = True,
    relative: bool = False,
    empty: EmptyPolicy = "worst",
) -> Tensor:
    r"""Absolute difference of perimeters (2D, mm) or surface areas (3D, mm²).

    .. math::
        E = \lvert |S_P| - |S_T| \rvert, \qquad E_{rel} = E / |S_T|

    Perimeters are the corner model's marching-squares contour lengths (marching-cubes surface
    areas in 3D), which do not suffer the staircase overestimate of voxel-edge counting.

    Args:
        pred: one-hot prediction ``(B, C, *spatial)``, bool or 0/1.
        target: one-hot target, same shape.
        spacing: voxel spacing in mm (array axis order), per axis or per sample ``(B, ndim)``;
            None: 1, or the spacing of a MONAI ``MetaTensor`` target/prediction.
        include_background: keep channel 0 (default).
        border_is_surface: whether the image border counts as surface.
        relative: divide by the target's perimeter.
        empty: ``"worst"``: with ``relative`` an empty target gives 0 when the prediction is
            empty too and ``inf`` otherwise; ``"nan"``: nan for any empty mask.

    Returns:
        ``(B, C)`` float32 on the input's device.

    Example:
        >>> import torch
        >>> t = torch.zeros(1, 1, 8, 8); t[..., 2:6, 2:6] = 1
        >>> p = torch.zeros(1, 1, 8, 8); p[..., 2:6, 2:4] = 1
        >>> perimeter_error(p, t)  # 14.83 (4x4 square) - 10.83 (4x2)
        tensor([[4.]])
    """
    check_choice(empty, "empty", ("worst", "nan"))
    p, t, spacing_b = pair_with_spacing(pred, target, spacing, include_background)
    batch, channels = p.shape[:2]
    ndim = p.dim() - 2
    table = surfel_measure_table(spacing_b.to(p.device))  # (B, codes)
    n_codes = table.shape[-1]
    lengths = torch.empty(2, batch, channels, dtype=torch.float64, device=p.device)
    for b in range(batch):
        # a histogram of the codes per mask keeps memory at one case's corner grid
        codes = corner_codes(torch.cat([p[b], t[b]]), ndim, border_is_surface).flatten(1).long()
        offsets = torch.arange(2 * channels, device=p.device)[:, None] * n_codes
        counts = torch.bincount((codes + offsets).flatten(), minlength=2 * channels * n_codes)
        lengths[:, b] = (counts.view(2, channels, n_codes).double() * table[b]).sum(-1)
    error = (lengths[0] - lengths[1]).abs()
    if relative:
        error = torch.where(
            lengths[1] > 0,
            error / lengths[1].clamp_min(1e-300),
            torch.where(error > 0, float("inf"), 0.0),
        )
    if empty == "nan":
        has_empty = ~(p.flatten(2).any(2) & t.flatten(2).any(2))
        error = torch.where(has_empty, float("nan"), error)
    return error.to(torch.float32)
