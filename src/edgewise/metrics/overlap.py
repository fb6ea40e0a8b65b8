r"""Overlap metrics: Dice and IoU (Jaccard) per case and class."""

from __future__ import annotations

import torch
from torch import Tensor

from ._validate import ArrayLike, EmptyPolicy, check_choice, check_pair, drop_background

__all__ = ["dice", "iou"]


def _counts(
    pred: ArrayLike, target: ArrayLike, include_background: bool
) -> tuple[Tensor, Tensor, Tensor]:
    p, t = check_pair(pred, target)
    p, t = drop_background(p, t, include_background)
    intersection = (p & t).flatten(2).sum(-1)
    return intersection, p.flatten(2).sum(-1), t.flatten(2).sum(-1)


def _finish(num: Tensor, den: Tensor, empty: EmptyPolicy) -> Tensor:
    check_choice(empty, "empty", ("worst", "nan"))
    value = num.double() / den.double().clamp_min(1)
    # both masks empty: "worst" scores the (correct) empty prediction 1, "nan" leaves it out
    return torch.where(den > 0, value, 1.0 if empty == "worst" else float("nan")).to(torch.float32)


def dice(
    pred: ArrayLike,
    target: ArrayLike,
    *,
    include_background: bool = True,
    empty: EmptyPolicy = "worst",
) -> Tensor:
    r"""Dice similarity coefficient per case and class.

    .. math::
        \mathrm{DSC} = \frac{2 |P \cap T|}{|P| + |T|}

    Args:
        pred: one-hot prediction ``(B, C, *spatial)``, bool or 0/1, tensor or array.
        target: one-hot target, same shape.
        include_background: keep channel 0 (default); False drops it.
        empty: ``"worst"`` (default): 1 when both masks are empty, 0 when one is;
            ``"nan"``: nan when both are empty.

    Returns:
        ``(B, C)`` float32 on the input's device.

    Shapes:
        - pred, target: :math:`(B, C, *spatial)`.
        - output: :math:`(B, C)`.

    Example:
        >>> import torch
        >>> t = torch.tensor([[[[1, 1, 0, 0]]]]); p = torch.tensor([[[[1, 0, 0, 0]]]])
        >>> dice(p, t)
        tensor([[0.6667]])
    """
    inter, sp, st = _counts(pred, target, include_background)
    return _finish(2 * inter, sp + st, empty)


def iou(
    pred: ArrayLike,
    target: ArrayLike,
    *,
    include_background: bool = True,
    empty: EmptyPolicy = "worst",
) -> Tensor:
    r"""Intersection over union (Jaccard index) per case and class.

    .. math::
        \mathrm{IoU} = \frac{|P \cap T|}{|P \cup T|}

    Args:
        pred: one-hot prediction ``(B, C, *spatial)``, bool or 0/1, tensor or array.
        target: one-hot target, same shape.
        include_background: keep channel 0 (default); False drops it.
        empty: as :func:`dice`.

    Returns:
        ``(B, C)`` float32 on the input's device.

    Example:
        >>> import torch
        >>> t = torch.tensor([[[[1, 1, 0, 0]]]]); p = torch.tensor([[[[1, 0, 0, 0]]]])
        >>> iou(p, t)
        tensor([[0.5000]])
    """
    inter, sp, st = _counts(pred, target, include_background)
    return _finish(inter, sp + st - inter, empty)
