"""Tensor inputs as maps, losses and metrics take them: tensors or numpy arrays, bool masks,
no zero-size axis, and the ``empty=`` fill of a class absent from a sample.

Why here: the three packages accept the same kinds of input and refuse the same mistakes;
one spelling of each check keeps their messages and their edge cases alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "TensorLike",
    "as_tensor",
    "as_mask",
    "check_not_empty",
    "Empty",
    "EMPTY_FILLS",
    "check_empty",
]

#: An array input: a torch tensor, or a numpy array (read without a copy where it can be).
TensorLike = Tensor | np.ndarray


def as_tensor(x: TensorLike, name: str) -> Tensor:
    """``x`` as a tensor: numpy arrays are shared, not copied, unless not contiguous.

    Why not ``torch.as_tensor``: that also takes lists and scalars, which the maps and
    metrics refuse so that a mistaken argument is named rather than guessed at.
    """
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x))
    raise TypeError(f"expected {name} as a torch.Tensor or numpy.ndarray, got {type(x).__name__}")


def as_mask(x: TensorLike, name: str, *, hint: str = "") -> Tensor:
    """Bool tensor from a bool or 0/1-valued tensor or array.

    Why strict: a probability or a label map passed where a mask belongs would otherwise be
    thresholded silently. ``hint`` ends the ValueError's message with what the caller's
    users should do instead (the metrics name their converters).
    """
    t = as_tensor(x, name)
    if t.dtype == torch.bool:
        return t
    if t.is_complex():
        raise TypeError(f"expected {name} of bool or real dtype with 0/1 values, got dtype {t.dtype}")
    if not bool(((t == 0) | (t == 1)).all()):
        raise ValueError(
            f"expected {name} with values in {{0, 1}} (bool or 0/1), got other values{hint}"
        )
    return t != 0


def check_not_empty(
    shape: Sequence[int],
    name: str,
    spatial_dims: int,
    *,
    leading: Sequence[str] = ("batch", "channel"),
    spatial_only: bool = False,
) -> None:
    """Refuse a zero-size axis: losses of it are nan or 0, metrics empty or 1, maps crash.

    The last ``spatial_dims`` axes are spatial; ``leading`` names the others in the message.
    ``spatial_only=True`` lets leading axes be empty (a map of no samples is no samples).
    """
    n_lead = len(shape) - spatial_dims
    names = [
        (leading[i] if len(leading) == n_lead else f"batch axis {i}") if i < n_lead
        else f"spatial axis {i - n_lead}"
        for i in range(len(shape))
    ]
    empty = [names[i] for i, n in enumerate(shape) if n == 0 and not (spatial_only and i < n_lead)]
    if empty:
        raise ValueError(
            f"expected {name} with at least one element along every "
            f"{'spatial ' if spatial_only else ''}axis, got shape {tuple(shape)} "
            f"(size 0 along: {', '.join(empty)})"
        )


#: what a class absent from a sample gets in a distance map: ``"zero"`` (the references': no
#: boundary, no distance) or ``"diagonal"`` (the image extent's diagonal, edgewise before #28).
#: The maps take it, and the losses built on them pass it through.
Empty = Literal["zero", "diagonal"]
EMPTY_FILLS: tuple[str, ...] = ("zero", "diagonal")


def check_empty(empty: str) -> None:
    """Refuse an unknown ``empty=`` fill (the losses check it at construction, not at the
    first step)."""
    if empty not in EMPTY_FILLS:
        raise ValueError(f"expected empty in {EMPTY_FILLS}, got {empty!r}")
