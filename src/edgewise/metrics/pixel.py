r"""Pixel-count metrics inside an evaluation mask: the retinal-vessel conventions.

Sensitivity, specificity, accuracy, F1 and ROC AUC are reported for vessel segmentation
(DRIVE, CHASE_DB1, STARE) over the pixels of the field of view (FOV) only: outside it the
image is black and every pixel a trivial true negative that would inflate specificity,
accuracy and AUC. Every function takes ``mask`` (the FOV; None for the whole image).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from edgewise._core.tensors import as_mask, as_tensor

from ._validate import ONE_HOT_HINT, ArrayLike, EmptyPolicy, check_choice, check_pair, drop_background

__all__ = ["accuracy", "confusion", "f1", "roc_auc", "scores_from_counts", "sensitivity", "specificity"]


def _mask(mask: ArrayLike | None, like: Tensor) -> Tensor | None:
    """``(B, 1, *spatial)`` bool on ``like``'s device, from ``(B, 1, *sp)`` or ``(B, *sp)``."""
    if mask is None:
        return None
    m = as_mask(mask, "mask", hint=ONE_HOT_HINT)
    b, spatial = like.shape[0], tuple(like.shape[2:])
    if tuple(m.shape) == (b, *spatial):
        m = m.unsqueeze(1)
    if tuple(m.shape) != (b, 1, *spatial):
        raise ValueError(
            f"expected mask of shape (B, 1, *spatial) or (B, *spatial) = {(b, 1, *spatial)}, "
            f"got {tuple(m.shape)}"
        )
    return m.to(like.device)


def confusion(
    pred: ArrayLike,
    target: ArrayLike,
    *,
    mask: ArrayLike | None = None,
    include_background: bool = True,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """True/false positives/negatives per case and class, counted inside ``mask``.

    Args:
        pred: one-hot prediction ``(B, C, *spatial)``, bool or 0/1.
        target: one-hot target, same shape.
        mask: evaluation region ``(B, 1, *spatial)`` or ``(B, *spatial)``; None for all pixels.
        include_background: keep channel 0 (default); False drops it.

    Returns:
        ``(tp, fp, fn, tn)``, each ``(B, C)`` int64.

    Example:
        >>> import torch
        >>> t = torch.tensor([[[[1, 1, 0, 0]]]]); p = torch.tensor([[[[1, 0, 1, 0]]]])
        >>> [int(x) for x in confusion(p, t)]
        [1, 1, 1, 1]
    """
    p, t = check_pair(pred, target)
    m = _mask(mask, p)
    p, t = drop_background(p, t, include_background)
    if m is not None:
        p, t = p & m, t & m
    n = p.flatten(2).shape[-1] if m is None else m.flatten(2).sum(-1)

    def count(x: Tensor) -> Tensor:
        return x.flatten(2).sum(-1)

    tp, fp, fn = count(p & t), count(p & ~t), count(~p & t)
    return tp, fp, fn, n - tp - fp - fn


def _ratio(num: Tensor, den: Tensor, correct_if_empty: Tensor, empty: EmptyPolicy) -> Tensor:
    check_choice(empty, "empty", ("worst", "nan"))
    value = num.double() / den.double().clamp_min(1)
    fill = torch.where(correct_if_empty, 1.0, 0.0) if empty == "worst" else torch.full_like(value, float("nan"))
    return torch.where(den > 0, value, fill).to(torch.float32)


def scores_from_counts(
    counts: tuple[Tensor, Tensor, Tensor, Tensor], names: Sequence[str], empty: EmptyPolicy = "worst"
) -> dict[str, Tensor]:
    """``"sensitivity"``, ``"specificity"``, ``"accuracy"`` and/or ``"f1"`` from the
    :func:`confusion` counts, with the empty rules of the functions of the same names."""
    tp, fp, fn, tn = counts
    every = torch.ones_like(tp, dtype=torch.bool)
    rules = {
        "sensitivity": lambda: _ratio(tp, tp + fn, fp == 0, empty),
        "specificity": lambda: _ratio(tn, tn + fp, fn == 0, empty),
        "accuracy": lambda: _ratio(tp + tn, tp + fp + fn + tn, every, empty),
        "f1": lambda: _ratio(2 * tp, 2 * tp + fp + fn, every, empty),
    }
    for name in names:
        check_choice(name, "pixel metric", tuple(rules))
    return {name: rules[name]() for name in names}


def sensitivity(
    pred: ArrayLike,
    target: ArrayLike,
    *,
    mask: ArrayLike | None = None,
    include_background: bool = True,
    empty: EmptyPolicy = "worst",
) -> Tensor:
    r"""Sensitivity (recall, true positive rate) :math:`TP / (TP + FN)` inside ``mask``.

    Args:
        pred, target, mask, include_background: as :func:`confusion`.
        empty: no positive in the target: ``"worst"`` gives 1 when the prediction has none
            either, else 0; ``"nan"`` gives nan.

    Returns:
        ``(B, C)`` float32 on the input's device.

    Example:
        >>> import torch
        >>> t = torch.tensor([[[[1, 1, 0, 0]]]]); p = torch.tensor([[[[1, 0, 1, 0]]]])
        >>> sensitivity(p, t)
        tensor([[0.5000]])
    """
    counts = confusion(pred, target, mask=mask, include_background=include_background)
    return scores_from_counts(counts, ["sensitivity"], empty)["sensitivity"]


def specificity(
    pred: ArrayLike,
    target: ArrayLike,
    *,
    mask: ArrayLike | None = None,
    include_background: bool = True,
    empty: EmptyPolicy = "worst",
) -> Tensor:
    r"""Specificity (true negative rate) :math:`TN / (TN + FP)` inside ``mask``.

    Args:
        pred, target, mask, include_background: as :func:`confusion`.
        empty: no negative in the target: ``"worst"`` gives 1 when the prediction has none
            either, else 0; ``"nan"`` gives nan.

    Example:
        >>> import torch
        >>> t = torch.tensor([[[[1, 1, 0, 0]]]]); p = torch.tensor([[[[1, 0, 1, 0]]]])
        >>> m = torch.tensor([[[[1, 1, 0, 1]]]])                   # the FP is outside the FOV
        >>> specificity(p, t), specificity(p, t, mask=m)
        (tensor([[0.5000]]), tensor([[1.]]))
    """
    counts = confusion(pred, target, mask=mask, include_background=include_background)
    return scores_from_counts(counts, ["specificity"], empty)["specificity"]


def accuracy(
    pred: ArrayLike,
    target: ArrayLike,
    *,
    mask: ArrayLike | None = None,
    include_background: bool = True,
    empty: EmptyPolicy = "worst",
) -> Tensor:
    r"""Pixel accuracy :math:`(TP + TN) / N` inside ``mask`` (``N`` pixels in it), per class.

    Args:
        pred, target, mask, include_background: as :func:`confusion`.
        empty: an empty ``mask``: ``"worst"`` gives 1 (nothing to get wrong), ``"nan"`` nan.

    Example:
        >>> import torch
        >>> t = torch.tensor([[[[1, 1, 0, 0]]]]); p = torch.tensor([[[[1, 0, 1, 0]]]])
        >>> accuracy(p, t)
        tensor([[0.5000]])
    """
    counts = confusion(pred, target, mask=mask, include_background=include_background)
    return scores_from_counts(counts, ["accuracy"], empty)["accuracy"]


def f1(
    pred: ArrayLike,
    target: ArrayLike,
    *,
    mask: ArrayLike | None = None,
    include_background: bool = True,
    empty: EmptyPolicy = "worst",
) -> Tensor:
    r"""F1 score :math:`2TP / (2TP + FP + FN)` inside ``mask``: the Dice of the masked pixels.

    Args:
        pred, target, mask, include_background: as :func:`confusion`.
        empty: as :func:`edgewise.metrics.dice` (both empty: 1, or nan).

    Example:
        >>> import torch
        >>> t = torch.tensor([[[[1, 1, 0, 0]]]]); p = torch.tensor([[[[1, 0, 1, 0]]]])
        >>> f1(p, t)
        tensor([[0.5000]])
    """
    counts = confusion(pred, target, mask=mask, include_background=include_background)
    return scores_from_counts(counts, ["f1"], empty)["f1"]


def roc_auc(
    probs: ArrayLike,
    target: ArrayLike,
    *,
    mask: ArrayLike | None = None,
    include_background: bool = True,
) -> Tensor:
    r"""Area under the ROC curve of the class probabilities inside ``mask``, per case and class.

    .. math::
        \mathrm{AUC} = \frac{\sum_{i \in pos} r_i - n_+ (n_+ + 1) / 2}{n_+\, n_-}

    the Mann-Whitney form, with :math:`r_i` the ranks of the scores in the mask (ties get
    their average rank, so it equals the trapezoidal area of scikit-learn's
    ``roc_auc_score``). Computed with torch on the input's device, in float64.

    Args:
        probs: scores ``(B, C, *spatial)`` (probabilities, or any monotone function of
            them such as logits).
        target: one-hot target, same shape.
        mask: evaluation region ``(B, 1, *spatial)`` or ``(B, *spatial)``; None for all pixels.
        include_background: keep channel 0 (default); False drops it.

    Returns:
        ``(B, C)`` float32; nan where the target has no positive or no negative pixel in the
        mask (the AUC is undefined there, whatever the ``empty`` policy elsewhere).

    Example:
        >>> import torch
        >>> t = torch.tensor([[[[1, 1, 0, 0]]]]); s = torch.tensor([[[[0.9, 0.3, 0.4, 0.1]]]])
        >>> roc_auc(s, t)                                          # 3 of 4 pairs ordered
        tensor([[0.7500]])
    """
    s = as_tensor(probs, "probs")
    if not (s.is_floating_point() or s.dtype == torch.bool):
        raise TypeError(f"expected floating-point probs, got dtype {s.dtype}")
    t = as_mask(target, "target", hint=ONE_HOT_HINT).to(s.device)
    if s.dim() not in (4, 5) or t.shape != s.shape:
        raise ValueError(
            f"expected probs (B, C, H, W) or (B, C, D, H, W) and a one-hot target of the same "
            f"shape, got {tuple(s.shape)} and {tuple(t.shape)}"
        )
    m = _mask(mask, s)
    s, t = drop_background(s.double(), t, include_background)
    out = torch.full(s.shape[:2], float("nan"), dtype=torch.float64, device=s.device)
    for b in range(s.shape[0]):
        keep = None if m is None else m[b, 0].flatten()
        for c in range(s.shape[1]):
            score, label = s[b, c].flatten(), t[b, c].flatten()
            if keep is not None:
                score, label = score[keep], label[keep]
            n_pos = int(label.sum())
            n_neg = label.numel() - n_pos
            if n_pos == 0 or n_neg == 0:
                continue
            order = torch.argsort(score)
            _, inverse, counts = torch.unique_consecutive(score[order], return_inverse=True,
                                                          return_counts=True)
            ends = torch.cumsum(counts, 0).double()
            average = ends - (counts.double() - 1) / 2  # 1-based average rank of each tie group
            ranks = average[inverse]
            pos_rank_sum = ranks[label[order]].sum()
            out[b, c] = (pos_rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return out.to(torch.float32)
