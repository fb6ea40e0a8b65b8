"""Regional losses: cross-entropy, Dice, generalised Dice, focal and Tversky.

They follow the package conventions (``docs/losses.md``): raw logits with ``softmax=True`` by
default, index or one-hot targets, MONAI argument names, float32 math. They accept a
``spacing`` keyword and ignore it, so a :class:`~edgewise.losses.CompoundLoss` can pass it
to every term.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from edgewise._core.spacing import SpacingLike

from ._base import LossBase
from ._utils import (
    as_plain,
    Prepared,
    Reduction,
    check_reduction,
    no_autocast,
    prepare,
    reduce,
)

__all__ = [
    "CrossEntropyLoss",
    "DiceLoss",
    "FocalLoss",
    "GeneralizedDiceLoss",
    "TverskyLoss",
    "cross_entropy_loss",
    "dice_loss",
    "focal_loss",
    "generalized_dice_loss",
    "tversky_loss",
]

_EPS = 1e-7


def _log_probs(input: Tensor, softmax: bool, sigmoid: bool) -> tuple[Tensor, Tensor | None]:
    """log p (and log(1 - p) for sigmoid/probabilities) computed stably from logits."""
    x = input.to(torch.float64 if input.dtype == torch.float64 else torch.float32)
    if softmax:
        return torch.log_softmax(x, dim=1), None
    if sigmoid:
        return F.logsigmoid(x), F.logsigmoid(-x)
    p = x.clamp(_EPS, 1 - _EPS)
    return p.log(), (1 - p).log()


def _weight_vector(weight: Sequence[float] | Tensor | None, c: int, ref: Tensor, name: str = "weight") -> Tensor | None:
    if weight is None:
        return None
    w = torch.as_tensor(weight, dtype=ref.dtype, device=ref.device).flatten()
    if w.numel() != c:
        raise ValueError(f"expected {name} with one value per channel ({c}), got {w.numel()} values")
    if not bool(torch.isfinite(w).all()) or bool((w < 0).any()):
        raise ValueError(f"expected non-negative finite {name}, got {w.tolist()}")
    return w.view(1, c, *([1] * (ref.dim() - 2)))


def cross_entropy_parts(
    input: Tensor,
    target: Tensor,
    *,
    weight: Sequence[float] | Tensor | None,
    ignore_index: int | None,
    softmax: bool | None,
    sigmoid: bool,
    to_onehot_y: bool | None,
    spacing: SpacingLike = None,
    read_meta: bool = False,
) -> tuple[Tensor, Tensor, Prepared]:
    """Unreduced cross-entropy, the denominator of its ``"mean"`` (torch's semantics), the prepared inputs."""
    prep = prepare(input, target, spacing=spacing, softmax=softmax, sigmoid=sigmoid, to_onehot_y=to_onehot_y,
                   ignore_index=ignore_index, activate=False, read_meta=read_meta)
    input = as_plain(input)
    t = prep.onehot
    c = t.shape[1]
    w = _weight_vector(weight, c, t)
    softmax, sigmoid = prep.softmax, prep.sigmoid
    logp, log1mp = _log_probs(input, softmax, sigmoid)
    # one channel holds the foreground probability: its background term is log(1 - p)
    if sigmoid or c == 1:
        per = -(t * logp + (1 - t) * log1mp)  # type: ignore[operator]
        if w is not None:
            per = per * w
        if prep.valid is not None:
            per = per * prep.valid
            denom = prep.valid.sum().to(per.dtype) * c
        else:
            denom = torch.tensor(float(per.numel()), dtype=per.dtype, device=per.device)
    else:
        tw = t * w if w is not None else t
        per = -(tw * logp).sum(1)
        if w is not None:
            # torch's weighted mean divides by the weight each pixel received
            denom = tw.sum()
        elif prep.valid is not None:
            denom = prep.valid.sum().to(per.dtype)
        else:
            denom = torch.tensor(float(per.numel()), dtype=per.dtype, device=per.device)
    return per, denom, prep


def cross_entropy_loss(
    input: Tensor,
    target: Tensor,
    *,
    weight: Sequence[float] | Tensor | None = None,
    ignore_index: int | None = None,
    softmax: bool | None = None,
    sigmoid: bool = False,
    to_onehot_y: bool | None = None,
    reduction: Reduction = "mean",
    spacing: SpacingLike = None,
) -> Tensor:
    r"""Cross-entropy on logits (softmax), per-channel binary CE (sigmoid) or on probabilities.

    .. math::
        \ell(x) = -\sum_c w_c\, t_c(x) \log p_c(x)

    With an index target and ``softmax=True`` this equals :func:`torch.nn.functional.cross_entropy`
    (``"mean"`` divides by the summed weights of the valid pixels, as torch does); with
    ``sigmoid=True`` it equals ``binary_cross_entropy_with_logits`` on the one-hot target with
    per-channel weights (mean over all elements). A single channel of probabilities
    (``C = 1``, ``softmax=sigmoid=False``) is the foreground probability: binary CE, as
    :func:`torch.nn.functional.binary_cross_entropy`.

    Args:
        input: logits ``(B, C, *spatial)`` (or probabilities when ``softmax=sigmoid=False``).
        target: index map ``(B, 1, *spatial)``/``(B, *spatial)`` or one-hot ``(B, C, *spatial)``.
        weight: optional per-class weights (length C).
        ignore_index: label value excluded from the loss (index targets only).
        softmax: apply a softmax over channels (default).
        sigmoid: apply a per-channel sigmoid instead (multi-label / binary).
        to_onehot_y: ``None`` infers the target form from its shape.
        reduction: ``"none"`` gives the per-pixel loss ``(B, *spatial)`` (softmax/probabilities)
            or ``(B, C, *spatial)`` (sigmoid or a single channel); ``"mean"``/``"sum"`` a scalar.
        spacing: accepted and ignored.

    Example:
        >>> logits = torch.zeros(1, 2, 2, 2)
        >>> target = torch.tensor([[[[0, 1], [1, 0]]]])
        >>> round(cross_entropy_loss(logits, target).item(), 4)  # log 2
        0.6931
    """
    check_reduction(reduction)
    with no_autocast(input.device):
        per, denom, _ = cross_entropy_parts(input, target, weight=weight, ignore_index=ignore_index,
                                         softmax=softmax, sigmoid=sigmoid, to_onehot_y=to_onehot_y,
                                            spacing=spacing)
        if reduction == "none":
            return per
        if reduction == "sum":
            return per.sum()
        return per.sum() / denom.clamp_min(_EPS)


def _overlaps(prep: Prepared, batch: bool, squared: bool = False) -> tuple[Tensor, Tensor, Tensor]:
    """Sums of ``p * t``, ``p`` and ``t`` (of ``p**2`` and ``t**2`` when ``squared``) over the
    selected channels, per sample (over the batch with ``batch``); ignored pixels are out of ``p``."""
    probs, onehot = prep.selected()
    if prep.valid is not None:
        probs = probs * prep.valid
    dims = list(range(2, probs.dim()))
    if batch:
        dims = [0, *dims]
    tp = (probs * onehot).sum(dims)
    sp = (probs * probs if squared else probs).sum(dims)
    st = (onehot * onehot if squared else onehot).sum(dims)
    if batch:
        tp, sp, st = tp[None], sp[None], st[None]
    return tp, sp, st


def dice_loss(
    input: Tensor,
    target: Tensor,
    *,
    include_background: bool = True,
    classes: Sequence[int] | None = None,
    softmax: bool | None = None,
    sigmoid: bool = False,
    to_onehot_y: bool | None = None,
    ignore_index: int | None = None,
    squared_pred: bool = False,
    batch: bool = False,
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
    weight: Sequence[float] | Tensor | None = None,
    reduction: Reduction = "mean",
    spacing: SpacingLike = None,
) -> Tensor:
    r"""Soft Dice loss (Milletari et al., 2016), per sample and class.

    .. math::
        L_{b,c} = 1 - \frac{2 \sum_x p_{bc}(x) t_{bc}(x) + s_{nr}}
                           {\sum_x p_{bc}(x) + \sum_x t_{bc}(x) + s_{dr}}

    Args:
        include_background: keep channel 0 (ignored when C = 1).
        classes: explicit channel indices; overrides ``include_background``.
        squared_pred: square the prediction and target in the denominator (V-Net form).
        batch: sum over the batch before the ratio (``"none"`` then gives ``(1, C')``).
        weight: per selected class multiplier of the per-class loss.
        reduction: ``"none"`` gives ``(B, C')``.

    Example:
        >>> target = torch.tensor([[[[0, 1], [1, 1]]]])
        >>> perfect = torch.nn.functional.one_hot(target[:, 0], 2).permute(0, 3, 1, 2).float()
        >>> dice_loss(perfect, target, softmax=False).abs().item() < 1e-6
        True
    """
    check_reduction(reduction)
    prep = prepare(input, target, spacing=spacing, softmax=softmax, sigmoid=sigmoid, to_onehot_y=to_onehot_y,
                   include_background=include_background, classes=classes,
                   ignore_index=ignore_index)
    with no_autocast(input.device):
        tp, sp, st = _overlaps(prep, batch, squared=squared_pred)
        loss = 1 - (2 * tp + smooth_nr) / (sp + st + smooth_dr)
        w = _weight_vector(weight, len(prep.channels), loss, name="weight")
        if w is not None:
            loss = loss * w.view(1, -1)
        return reduce(loss, reduction)


def generalized_dice_loss(
    input: Tensor,
    target: Tensor,
    *,
    include_background: bool = True,
    classes: Sequence[int] | None = None,
    softmax: bool | None = None,
    sigmoid: bool = False,
    to_onehot_y: bool | None = None,
    ignore_index: int | None = None,
    w_type: Literal["square", "simple", "uniform"] = "square",
    batch: bool = False,
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
    reduction: Reduction = "mean",
    spacing: SpacingLike = None,
) -> Tensor:
    r"""Generalised Dice loss (Sudre et al., DLMIA 2017).

    .. math::
        w_c = \frac{1}{(\sum_x t_c(x))^2},\qquad
        L_b = 1 - \frac{2 \sum_c w_c \sum_x p_c t_c + s_{nr}}{\sum_c w_c \sum_x (p_c + t_c) + s_{dr}}

    A class absent from the target would get an infinite weight (LIVIA's ``1/(0 + 1e-10)^2``
    = 1e20 lets it dominate). Here, as in MONAI, an absent class takes the largest finite
    weight of the same sample (weight 1 for every class when all are absent), so false
    positives of an absent class still count, with the weight of the rarest present class.

    Args:
        w_type: ``"square"`` (Sudre), ``"simple"`` (1/volume) or ``"uniform"``.
        batch: pool the batch before the ratio.
        reduction: ``"none"`` gives ``(B, 1)`` (classes are pooled; ``(1, 1)`` with ``batch``).

    Example:
        >>> target = torch.tensor([[[[0, 1], [1, 1]]]])
        >>> logits = torch.zeros(1, 2, 2, 2)
        >>> round(generalized_dice_loss(logits, target).item(), 4)  # w = [1, 1/9]
        0.625
    """
    check_reduction(reduction)
    if w_type not in ("square", "simple", "uniform"):
        raise ValueError(f"expected w_type in ('square', 'simple', 'uniform'), got {w_type!r}")
    prep = prepare(input, target, spacing=spacing, softmax=softmax, sigmoid=sigmoid, to_onehot_y=to_onehot_y,
                   include_background=include_background, classes=classes,
                   ignore_index=ignore_index)
    with no_autocast(input.device):
        tp, sp, st = _overlaps(prep, batch)
        with torch.no_grad():
            if w_type == "square":
                w = 1.0 / (st * st)
            elif w_type == "simple":
                w = 1.0 / st
            else:
                w = torch.ones_like(st)
            inf = torch.isinf(w)
            finite = torch.where(inf, torch.zeros_like(w), w)
            largest = finite.max(dim=1, keepdim=True).values
            largest = torch.where(largest > 0, largest, torch.ones_like(largest))
            w = torch.where(inf, largest.expand_as(w), w)
        num = 2 * (w * tp).sum(1, keepdim=True) + smooth_nr
        den = (w * (sp + st)).sum(1, keepdim=True) + smooth_dr
        return reduce(1 - num / den, reduction)


def focal_loss(
    input: Tensor,
    target: Tensor,
    *,
    gamma: float = 2.0,
    alpha: float | Sequence[float] | Tensor | None = None,
    ignore_index: int | None = None,
    softmax: bool | None = None,
    sigmoid: bool = False,
    to_onehot_y: bool | None = None,
    reduction: Reduction = "mean",
    spacing: SpacingLike = None,
) -> Tensor:
    r"""Focal loss (Lin et al., ICCV 2017); softmax multi-class by default.

    .. math::
        \text{softmax: } \ell(x) = -\sum_c \alpha_c\, t_c (1 - p_c)^\gamma \log p_c

        \text{sigmoid: } \ell_c(x) = -\alpha\, t_c (1 - p_c)^\gamma \log p_c
                                      - (1 - \alpha)(1 - t_c)\, p_c^\gamma \log(1 - p_c)

    ``gamma = 0`` and ``alpha = None`` give cross-entropy. ``alpha``: ``None`` (no weighting),
    a float (softmax: ``1 - alpha`` for channel 0 and ``alpha`` for the others, as MONAI;
    sigmoid: weight of positives) or one value per class (softmax only). A single channel of
    probabilities (``C = 1``, ``softmax=sigmoid=False``) takes the binary (sigmoid) form.

    Args:
        reduction: ``"none"`` gives ``(B, *spatial)`` (softmax/probabilities) or
            ``(B, C, *spatial)`` (sigmoid or a single channel); ``"mean"`` averages over
            (valid) pixels/elements.

    Example:
        >>> logits = torch.zeros(1, 2, 1, 2)
        >>> target = torch.tensor([[[[0, 1]]]])
        >>> round(focal_loss(logits, target, gamma=0.0).item(), 4)  # = CE = log 2
        0.6931
    """
    check_reduction(reduction)
    if gamma < 0:
        raise ValueError(f"expected gamma >= 0, got {gamma}")
    _check_focal_alpha(alpha)
    prep = prepare(input, target, spacing=spacing, softmax=softmax, sigmoid=sigmoid, to_onehot_y=to_onehot_y,
                   ignore_index=ignore_index, activate=False)
    input = as_plain(input)
    with no_autocast(input.device):
        t = prep.onehot
        c = t.shape[1]
        softmax, sigmoid = prep.softmax, prep.sigmoid
        logp, log1mp = _log_probs(input, softmax, sigmoid)
        p = logp.exp()
        if sigmoid or c == 1:
            if alpha is not None and not isinstance(alpha, (int, float)):
                raise ValueError("binary (sigmoid or single-channel) focal loss expects a float alpha "
                                 f"(weight of positives), got {alpha!r}")
            wpos, wneg = (1.0, 1.0) if alpha is None else (float(alpha), 1 - float(alpha))
            per = -(wpos * t * (1 - p).pow(gamma) * logp
                    + wneg * (1 - t) * p.pow(gamma) * log1mp)  # type: ignore[operator]
            count = t.numel() if prep.valid is None else prep.valid.sum() * c
            if prep.valid is not None:
                per = per * prep.valid
        else:
            mod = (1 - p).pow(gamma)
            per_c = -t * mod * logp
            if alpha is not None:
                if isinstance(alpha, (int, float)):
                    av = torch.full((c,), float(alpha), dtype=per_c.dtype, device=per_c.device)
                    av[0] = 1 - float(alpha)
                else:
                    av = torch.as_tensor(alpha, dtype=per_c.dtype, device=per_c.device).flatten()
                    if av.numel() != c:
                        raise ValueError(f"expected alpha with {c} values (one per class), got {av.numel()}")
                per_c = per_c * av.view(1, c, *([1] * (t.dim() - 2)))
            per = per_c.sum(1)
            count = per.numel() if prep.valid is None else prep.valid.sum()
        if reduction == "none":
            return per
        if reduction == "sum":
            return per.sum()
        count_t = torch.as_tensor(count, dtype=per.dtype, device=per.device)
        return per.sum() / count_t.clamp_min(1)


def _check_focal_alpha(alpha: Any) -> None:
    """Outside [0, 1] a weight (alpha or 1 - alpha) is negative: the loss rewarded those
    pixels' errors and went below 0, silently."""
    if alpha is None:
        return
    if isinstance(alpha, (int, float)) and not isinstance(alpha, bool):
        if not 0.0 <= float(alpha) <= 1.0:
            raise ValueError(f"expected a float alpha in [0, 1] (the foreground's weight; 1 - alpha "
                             f"weighs the background), got {alpha!r}")
        return
    try:
        values = torch.as_tensor(alpha, dtype=torch.float64).flatten()
    except (TypeError, ValueError, RuntimeError):
        values = None
    if values is None or isinstance(alpha, bool) or not bool(torch.isfinite(values).all()) \
            or bool((values < 0).any()):
        raise ValueError(f"expected alpha as a float in [0, 1] or one finite weight >= 0 per class, got {alpha!r}")


def tversky_loss(
    input: Tensor,
    target: Tensor,
    *,
    alpha: float = 0.5,
    beta: float = 0.5,
    include_background: bool = True,
    classes: Sequence[int] | None = None,
    softmax: bool | None = None,
    sigmoid: bool = False,
    to_onehot_y: bool | None = None,
    ignore_index: int | None = None,
    batch: bool = False,
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
    reduction: Reduction = "mean",
    spacing: SpacingLike = None,
) -> Tensor:
    r"""Tversky loss (Salehi et al., 2017): ``alpha`` weighs false positives, ``beta`` false negatives.

    .. math::
        L_{b,c} = 1 - \frac{TP + s_{nr}}{TP + \alpha FP + \beta FN + s_{dr}}

    ``alpha = beta = 0.5`` is the Dice loss. ``"none"`` gives ``(B, C')``.

    Example:
        >>> target = torch.tensor([[[[0, 1]]]])
        >>> probs = torch.tensor([[[[0.5, 0.5]], [[0.5, 0.5]]]])
        >>> round(tversky_loss(probs, target, softmax=False, smooth_nr=0, smooth_dr=0).item(), 4)
        0.5
    """
    check_reduction(reduction)
    for name, value in (("alpha", alpha), ("beta", beta)):
        # a negative weight rewards false positives (negatives): the loss left [0, 1] silently
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise ValueError(f"expected {name} to be a finite number >= 0, got {value!r}")
    prep = prepare(input, target, spacing=spacing, softmax=softmax, sigmoid=sigmoid, to_onehot_y=to_onehot_y,
                   include_background=include_background, classes=classes,
                   ignore_index=ignore_index)
    with no_autocast(input.device):
        tp, sp, st = _overlaps(prep, batch)
        fp = sp - tp
        fn = st - tp
        loss = 1 - (tp + smooth_nr) / (tp + alpha * fp + beta * fn + smooth_dr)
        return reduce(loss, reduction)


class CrossEntropyLoss(LossBase):
    """Module form of :func:`cross_entropy_loss`."""

    function = staticmethod(cross_entropy_loss)


class DiceLoss(LossBase):
    """Module form of :func:`dice_loss`."""

    function = staticmethod(dice_loss)


class GeneralizedDiceLoss(LossBase):
    """Module form of :func:`generalized_dice_loss`."""

    function = staticmethod(generalized_dice_loss)


class FocalLoss(LossBase):
    """Module form of :func:`focal_loss`."""

    function = staticmethod(focal_loss)


class TverskyLoss(LossBase):
    """Module form of :func:`tversky_loss`."""

    function = staticmethod(tversky_loss)
