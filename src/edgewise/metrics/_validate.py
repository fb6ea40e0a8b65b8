"""Input checks of the metrics alone; those they share with maps and losses are in
:mod:`edgewise._core`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor

from edgewise._core.spacing import SpacingLike, spacing_or_meta, spacing_table
from edgewise._core.tensors import TensorLike, as_mask, check_not_empty

#: the metrics' name for :data:`edgewise._core.tensors.TensorLike` (their signatures say it)
ArrayLike = TensorLike
Tolerance = float | Sequence[float] | Tensor
#: what a metric gives a case with an empty mask or surface: its worst (or best, when both
#: are empty) value, or nan (``docs/metrics.md``, empty masks)
EmptyPolicy = Literal["worst", "nan"]

#: what the metrics add when refusing a non-mask (``as_mask(..., hint=ONE_HOT_HINT)``): the
#: converters that make one
ONE_HOT_HINT = (
    "; the metrics take one-hot masks: convert probabilities or label maps with "
    "one_hot_from_logits/one_hot_from_labels first"
)


def check_pair(pred: ArrayLike, target: ArrayLike) -> tuple[Tensor, Tensor]:
    """Both as bool ``(B, C, *spatial)`` tensors on the prediction's device."""
    p = as_mask(pred, "pred", hint=ONE_HOT_HINT)
    t = as_mask(target, "target", hint=ONE_HOT_HINT)
    if p.dim() not in (4, 5):
        raise ValueError(
            f"expected pred of shape (B, C, H, W) or (B, C, D, H, W), got {tuple(p.shape)}"
        )
    if t.shape != p.shape:
        raise ValueError(
            f"expected target of the same shape as pred {tuple(p.shape)}, got {tuple(t.shape)}"
        )
    check_not_empty(tuple(p.shape), "pred and target", p.dim() - 2)
    return p, t.to(p.device)


def drop_background(p: Tensor, t: Tensor, include_background: bool) -> tuple[Tensor, Tensor]:
    """``p`` and ``t`` without channel 0 unless ``include_background``.

    Why refuse a single channel then: a metric over no class is no metric. (The losses'
    ``channel_indices`` keeps the only channel of a binary input instead.)
    """
    if include_background:
        return p, t
    if p.shape[1] < 2:
        raise ValueError(f"include_background=False needs at least 2 channels, got {p.shape[1]}")
    return p[:, 1:], t[:, 1:]


def pair_with_spacing(
    pred: ArrayLike, target: ArrayLike, spacing: SpacingLike, include_background: bool
) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`check_pair` and :func:`drop_background`, then the ``(B, ndim)`` float64 spacing
    in mm (None: 1, or the spacing of a MONAI ``MetaTensor`` target/prediction)."""
    p, t = check_pair(pred, target)
    p, t = drop_background(p, t, include_background)
    ndim = p.dim() - 2
    given = spacing_or_meta(spacing, target, pred, spatial_dims=ndim)
    return p, t, spacing_table(given, p.shape[0], ndim)


def tolerance_tensor(tolerance: Tolerance, channels: int) -> Tensor:
    """``(C,)`` float64 tolerances in mm from a scalar or one value per (selected) class."""
    try:
        if isinstance(tolerance, (str, bytes)):
            raise TypeError
        tol = torch.as_tensor(
            tolerance.detach().cpu() if isinstance(tolerance, Tensor) else tolerance,
            dtype=torch.float64,
        )
    except (TypeError, ValueError, RuntimeError):  # was torch's "new(): invalid data type 'str'"
        raise TypeError(f"expected tolerance as a number (mm) or one number per class, got {tolerance!r}") from None
    if tol.dim() == 0:
        tol = tol.expand(channels)
    if tol.shape != (channels,):
        raise ValueError(
            f"expected tolerance as a number or one value per class ({channels}), "
            f"got shape {tuple(tol.shape)}"
        )
    if not bool((tol >= 0).all()):
        raise ValueError(f"expected non-negative tolerance, got {tol.tolist()}")
    return tol


def check_choice(value: object, name: str, choices: tuple[object, ...]) -> None:
    if value not in choices:
        raise ValueError(f"expected {name} in {choices}, got {value!r}")
