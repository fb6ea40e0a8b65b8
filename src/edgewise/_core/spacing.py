"""The ``spacing`` argument of maps, losses and metrics: what it may be, its one parser, and
the voxel spacing of a MONAI ``MetaTensor`` read from its metadata without importing MONAI.

Why one module: a distance map, a loss and a metric given the same ``spacing`` must read it
the same way (a scalar for every axis, one value per axis in array axis order, or one row per
sample) and refuse the same inputs with the same message; before #26 each package had its
own parser, alias and MetaTensor test, and they had drifted apart.

MONAI keeps a ``MetaTensor``'s geometry in its ``affine`` (``(N+1, N+1)`` for one image,
``(B, N+1, N+1)`` for a collated batch). Column ``j`` of the linear part maps a step along
array axis ``j`` to world coordinates, so its Euclidean norm is the spacing along that axis:
the result is in array (numpy) axis order, edgewise's convention everywhere.
:mod:`edgewise.integrations.metatensor` re-exports the MetaTensor readers for users.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "SpacingLike",
    "spacing_table",
    "spacing_ndim",
    "is_metatensor",
    "spacing_from_meta",
    "spacing_or_meta",
    "item_spacing_from_meta",
]

#: A voxel size: None (1 along every axis), one number for every axis, one number per spatial
#: axis in array axis order, or a per-sample ``(B, ndim)`` table (tensor, array or nested
#: sequence).
SpacingLike = float | Sequence[float] | Tensor | np.ndarray | None


def _expected(batch: int | None, ndim: int | None) -> str:
    n = "ndim" if ndim is None else str(ndim)
    b = "B" if batch is None else str(batch)
    return (f"expected spacing as None, a number, a sequence of {n} numbers (one per spatial "
            f"axis, array axis order) or a ({b}, {n}) table")


def _spacing_array(spacing: object, batch: int | None = None, ndim: int | None = None) -> np.ndarray:
    """``spacing`` (not None) as a float64 array of at most 2 dims; TypeError if it is not numbers."""
    if isinstance(spacing, Tensor):
        arr = spacing.detach().cpu().double().numpy()
    else:
        try:
            # numpy reads "1.5" and b"1" as numbers: a text is no spacing
            if isinstance(spacing, (str, bytes)):
                raise TypeError
            arr = np.asarray(spacing, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise TypeError(f"{_expected(batch, ndim)}, got {spacing!r}") from err
    if arr.ndim > 2:
        raise ValueError(f"{_expected(batch, ndim)}, got shape {arr.shape}")
    return arr


def spacing_ndim(spacing: SpacingLike) -> int | None:
    """Number of spatial axes ``spacing`` names (None for None or one number for every axis).

    Why: the maps infer ``spatial_dims`` from a per-axis spacing when not told.
    """
    if spacing is None or isinstance(spacing, (int, float)):
        return None
    arr = _spacing_array(spacing)
    if arr.ndim == 0:
        return None
    return int(arr.shape[-1])


def spacing_table(spacing: SpacingLike, batch: int | None, ndim: int) -> Tensor:
    """The one reading of a ``spacing`` argument: a ``(B, ndim)`` float64 CPU table.

    Row ``b`` is the voxel size of sample ``b`` in array axis order. None gives 1 along every
    axis; one number or one per axis is repeated over the batch; a ``(B, ndim)`` table is one
    row per sample. ``batch=None`` is an image with no batch axis: one row, and a per-sample
    table is refused. The values must be positive and finite (a distance in a zero, negative
    or nan voxel size means nothing).

    Raises:
        TypeError: ``spacing`` is not numbers (a text, a mapping, a ragged sequence).
        ValueError: a shape that fits neither ``(ndim,)`` nor ``(batch, ndim)``, or a value
            that is not positive and finite.

    Example:
        >>> spacing_table((0.5, 2.0), 3, 2)
        tensor([[0.5000, 2.0000],
                [0.5000, 2.0000],
                [0.5000, 2.0000]], dtype=torch.float64)
    """
    rows = 1 if batch is None else batch
    if spacing is None:
        return torch.ones(rows, ndim, dtype=torch.float64)
    arr = _spacing_array(spacing, batch, ndim)
    if arr.ndim == 2:
        if batch is None:
            raise ValueError(
                f"expected spacing of {ndim} values for an image with no batch axis, got a "
                f"per-sample table of shape {arr.shape}"
            )
        if arr.shape != (batch, ndim):
            raise ValueError(
                f"expected per-sample spacing of shape (batch, ndim) = ({batch}, {ndim}), got "
                f"{arr.shape}"
            )
    elif arr.ndim == 1 and arr.shape[0] != ndim:
        raise ValueError(f"{_expected(batch, ndim)}, got shape {arr.shape}")
    if not (np.isfinite(arr).all() and (arr > 0).all()):
        raise ValueError(f"expected positive finite spacing, got {arr.tolist()}")
    return torch.from_numpy(np.array(np.broadcast_to(arr, (rows, ndim)), dtype=np.float64))


def is_metatensor(x: object) -> bool:
    """Whether ``x`` is a MONAI ``MetaTensor`` (False whenever MONAI was never imported).

    Why through ``sys.modules``: a ``MetaTensor`` can exist only once MONAI is loaded, and
    maps, losses and metrics must never import MONAI themselves.
    """
    mod = sys.modules.get("monai.data.meta_tensor")
    return mod is not None and isinstance(x, mod.MetaTensor)


def _affine_spacing(affine: Tensor, spatial_dims: int) -> Tensor:
    """Column norms of the first ``spatial_dims`` columns of ``(..., N+1, N+1)`` affines."""
    n = affine.shape[-1] - 1
    if affine.shape[-2] != affine.shape[-1] or n < spatial_dims:
        raise ValueError(
            f"expected a square affine of size at least {spatial_dims + 1} for "
            f"{spatial_dims} spatial dims, got shape {tuple(affine.shape)}"
        )
    # All n world rows (not MONAI's top-left r x r block) so that a 2D slice stored with an
    # oblique 4x4 affine keeps its true in-plane spacing.
    lin = affine[..., :n, :spatial_dims].to(dtype=torch.float64)
    spacing = lin.square().sum(-2).sqrt()
    # MONAI's affine_to_spacing also maps degenerate (zero) columns to 1.
    return torch.where(spacing > 0, spacing, torch.ones_like(spacing))


def _plain_affine(x: Tensor) -> Tensor:
    """The affine as a plain CPU tensor: a MetaTensor's affine is itself a MetaTensor."""
    affine = x.affine  # type: ignore[attr-defined]
    if hasattr(affine, "as_tensor"):
        affine = affine.as_tensor()
    return torch.as_tensor(affine).detach().cpu()


def spacing_from_meta(tensor: object, spatial_dims: int | None = None) -> Tensor | None:
    """Per-sample spacing ``(B, ndim)`` of a batched MONAI ``MetaTensor``, else ``None``.

    Losses and metrics call it when they are given no ``spacing``: a batch collated by a
    MONAI ``DataLoader`` carries one affine per sample; a single affine (a tensor built from
    one image) is repeated over the batch.

    Args:
        tensor: a ``(B, C, *spatial)`` tensor (or ``(B, *spatial)`` with ``spatial_dims``);
            anything that is not a ``MetaTensor`` gives ``None`` (plain tensors keep unit
            spacing).
        spatial_dims: number of spatial axes; ``tensor.ndim - 2`` when omitted.

    Returns:
        float64 CPU tensor ``(B, spatial_dims)`` in array axis order, or ``None``.

    Raises:
        ValueError: the affine does not fit the tensor (too small, or a batch of affines
            whose size differs from the tensor's batch size).

    Example:
        >>> import torch
        >>> from monai.data import MetaTensor
        >>> x = MetaTensor(torch.zeros(2, 1, 4, 4, 4), affine=torch.diag(torch.tensor([0.5, 0.5, 2.0, 1.0])))
        >>> spacing_from_meta(x)
        tensor([[0.5000, 0.5000, 2.0000],
                [0.5000, 0.5000, 2.0000]], dtype=torch.float64)
    """
    if not is_metatensor(tensor):
        return None
    tensor = cast(Tensor, tensor)
    nd = tensor.ndim - 2 if spatial_dims is None else spatial_dims
    if nd < 1 or tensor.ndim < nd + 1:
        raise ValueError(
            f"expected a batched (B, C, *spatial) or (B, *spatial) tensor with {nd} spatial dims, "
            f"got shape {tuple(tensor.shape)}"
        )
    batch = tensor.shape[0]
    spacing = _affine_spacing(_plain_affine(tensor), nd)
    if spacing.ndim == 1:
        return spacing.expand(batch, nd).clone()
    spacing = spacing.reshape(-1, nd)
    if spacing.shape[0] == 1:
        return spacing.expand(batch, nd).clone()
    if spacing.shape[0] != batch:
        raise ValueError(
            f"MetaTensor carries {spacing.shape[0]} affines but the batch has {batch} samples"
        )
    return spacing


def spacing_or_meta(spacing: Any, *tensors: object, spatial_dims: int | None = None) -> Any:
    """``spacing`` when given, else the first ``MetaTensor`` spacing among ``tensors``.

    The one call the losses and metrics make so that MONAI batches carry their spacing::

        spacing = spacing_or_meta(spacing, target, input, spatial_dims=input.ndim - 2)

    Args:
        spacing: the caller's ``spacing`` argument, returned unchanged unless ``None``.
        *tensors: batched tensors to look at, in order of preference (the label first: its
            metadata comes straight from the loader).
        spatial_dims: number of spatial axes (needed for ``(B, *spatial)`` index maps).

    Returns:
        ``spacing``, or a ``(B, ndim)`` float64 tensor from the first ``MetaTensor``, or
        ``None`` when there is none.

    Example:
        >>> import torch
        >>> from monai.data import MetaTensor
        >>> t = MetaTensor(torch.zeros(1, 1, 4, 4), affine=torch.diag(torch.tensor([0.5, 2.0, 1.0, 1.0])))
        >>> spacing_or_meta(None, torch.zeros(1, 2, 4, 4), t)
        tensor([[0.5000, 2.0000]], dtype=torch.float64)
        >>> spacing_or_meta((1.0, 1.0), t)
        (1.0, 1.0)
    """
    if spacing is not None:
        return spacing
    for t in tensors:
        found = spacing_from_meta(t, spatial_dims)
        if found is not None:
            return found
    return None


def item_spacing_from_meta(tensor: object, spatial_dims: int | None = None) -> Tensor | None:
    """Spacing ``(ndim,)`` of one channel-first ``(C, *spatial)`` MONAI item, else ``None``.

    This is what MONAI array transforms see (one image, before collation).

    Args:
        tensor: a ``(C, *spatial)`` ``MetaTensor``; anything else gives ``None``.
        spatial_dims: number of spatial axes; ``tensor.ndim - 1`` when omitted.

    Returns:
        float64 CPU tensor ``(spatial_dims,)`` in array axis order, or ``None``.
    """
    if not is_metatensor(tensor):
        return None
    tensor = cast(Tensor, tensor)
    nd = tensor.ndim - 1 if spatial_dims is None else spatial_dims
    affine = _plain_affine(tensor)
    if affine.ndim == 3:
        if affine.shape[0] != 1:
            raise ValueError(
                f"expected one affine for a single (C, *spatial) item, got {affine.shape[0]}"
            )
        affine = affine[0]
    return _affine_spacing(affine, nd)
