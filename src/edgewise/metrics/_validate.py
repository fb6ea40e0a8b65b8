"""Input checks shared by the metrics."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from edgewise._spacing import spacing_or_meta
from ..maps._input import check_not_empty

ArrayLike = Tensor | np.ndarray
SpacingLike = None | float | Sequence[float] | np.ndarray | Tensor
Tolerance = float | Sequence[float] | Tensor


def as_tensor(x: ArrayLike, name: str) -> Tensor:
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x))
    raise TypeError(f"expected {name} as a torch.Tensor or numpy.ndarray, got {type(x).__name__}")


def as_mask(x: ArrayLike, name: str) -> Tensor:
    """Bool tensor from a bool or 0/1-valued array."""
    t = as_tensor(x, name)
    if t.dtype == torch.bool:
        return t
    if t.is_complex():
        raise TypeError(f"expected {name} as bool or 0/1 values, got dtype {t.dtype}")
    if bool(((t != 0) & (t != 1)).any()):
        raise ValueError(
            f"expected {name} one-hot (bool or 0/1 values); convert probabilities or label maps "
            "with one_hot_from_logits/one_hot_from_labels first"
        )
    return t != 0


def check_pair(pred: ArrayLike, target: ArrayLike) -> tuple[Tensor, Tensor]:
    """Both as bool ``(B, C, *spatial)`` tensors on the prediction's device."""
    p = as_mask(pred, "pred")
    t = as_mask(target, "target")
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


def select_channels(p: Tensor, t: Tensor, include_background: bool) -> tuple[Tensor, Tensor]:
    if include_background:
        return p, t
    if p.shape[1] < 2:
        raise ValueError(f"include_background=False needs at least 2 channels, got {p.shape[1]}")
    return p[:, 1:], t[:, 1:]


def _meta_spacing(tensors: tuple[object, ...], ndim: int) -> Tensor | None:
    # MetaTensors are matched by class name so that MONAI is never imported here; only when
    # one was passed is its affine read (edgewise._spacing).
    if not any(isinstance(x, Tensor) and any(k.__name__ == "MetaTensor" for k in type(x).__mro__)
               for x in tensors):
        return None
    return spacing_or_meta(None, *tensors, spatial_dims=ndim)


def spacing_tensor(spacing: SpacingLike, batch: int, ndim: int, *like: object) -> Tensor:
    """``(B, ndim)`` float64 CPU tensor from None, a scalar, a per-axis sequence or a per-sample
    ``(B, ndim)`` array (array axis order).

    With ``spacing=None`` the first MONAI ``MetaTensor`` among ``like`` (the caller's target
    and prediction) gives the per-sample spacing from its affine; otherwise 1.
    """
    if spacing is None and like:
        spacing = _meta_spacing(like, ndim)
    if spacing is None:
        s = torch.ones(ndim, dtype=torch.float64)
    elif isinstance(spacing, (int, float)) and not isinstance(spacing, bool):
        s = torch.full((ndim,), float(spacing), dtype=torch.float64)
    else:
        try:
            s = torch.as_tensor(
                spacing.detach().cpu()
                if isinstance(spacing, Tensor)
                else np.asarray(spacing, dtype=np.float64),
                dtype=torch.float64,
            )
        except (TypeError, ValueError) as err:
            raise TypeError(
                f"expected spacing as None, a number, a sequence of {ndim} numbers or a "
                f"({batch}, {ndim}) array, got {spacing!r}"
            ) from err
        if s.dim() == 0:
            s = s.expand(ndim)
    if s.shape not in ((ndim,), (batch, ndim)):
        raise ValueError(
            f"expected spacing of shape ({ndim},) or ({batch}, {ndim}) in array axis order, "
            f"got {tuple(s.shape)}"
        )
    if not bool(torch.isfinite(s).all() & (s > 0).all()):
        raise ValueError(f"expected positive finite spacing, got {s.tolist()}")
    return s.expand(batch, ndim).clone()


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
