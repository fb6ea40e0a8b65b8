"""Turn network outputs and label maps into the one-hot masks the metrics take."""

from __future__ import annotations

import torch
from torch import Tensor

from edgewise._core.tensors import as_tensor

from ._validate import ArrayLike

__all__ = ["one_hot_from_labels", "one_hot_from_logits"]


def one_hot_from_labels(
    labels: ArrayLike,
    num_classes: int,
    *,
    ignore_index: int | None = None,
) -> Tensor:
    """One-hot bool masks from an integer label map.

    Args:
        labels: ``(B, 1, *spatial)`` or ``(B, *spatial)`` integer labels in ``[0, num_classes)``.
        num_classes: number of classes ``C`` (background included).
        ignore_index: a label value that belongs to no class (all channels False there).

    Returns:
        ``(B, C, *spatial)`` bool on the input's device.

    Raises:
        ValueError: labels outside ``[0, num_classes)`` (other than ``ignore_index``).

    Example:
        >>> import torch
        >>> one_hot_from_labels(torch.tensor([[0, 2, 1]]), 3).int()
        tensor([[[1, 0, 0],
                 [0, 0, 1],
                 [0, 1, 0]]], dtype=torch.int32)
    """
    x = as_tensor(labels, "labels")
    if x.is_floating_point() or x.dtype == torch.bool or x.is_complex():
        if x.is_floating_point() and bool((x == x.round()).all()):
            x = x.long()
        else:
            raise TypeError(f"expected integer labels, got dtype {x.dtype}")
    if num_classes < 1:
        raise ValueError(f"expected num_classes >= 1, got {num_classes}")
    if x.dim() >= 4 and x.shape[1] == 1:
        x = x[:, 0]
    if x.dim() < 2:
        raise ValueError(
            f"expected labels of shape (B, 1, *spatial) or (B, *spatial), got {tuple(x.shape)}"
        )
    valid = torch.ones_like(x, dtype=torch.bool) if ignore_index is None else x != ignore_index
    bad = valid & ((x < 0) | (x >= num_classes))
    if bool(bad.any()):
        raise ValueError(
            f"expected labels in [0, {num_classes}), got values {torch.unique(x[bad]).tolist()[:8]}"
        )
    classes = torch.arange(num_classes, device=x.device).view(1, -1, *([1] * (x.dim() - 1)))
    return (x.unsqueeze(1) == classes) & valid.unsqueeze(1)


def one_hot_from_logits(
    logits: ArrayLike,
    *,
    sigmoid: bool = False,
    threshold: float = 0.5,
) -> Tensor:
    """One-hot bool masks from network outputs ``(B, C, *spatial)``.

    Args:
        logits: raw scores (or probabilities) ``(B, C, *spatial)``.
        sigmoid: False (default): mutually exclusive classes, the arg-max class is True;
            True: independent labels, ``sigmoid(logits) > threshold``.
        threshold: probability threshold of the sigmoid case.

    Returns:
        ``(B, C, *spatial)`` bool on the input's device.

    Example:
        >>> import torch
        >>> one_hot_from_logits(torch.tensor([[[2.0, -1.0], [0.5, 3.0]]])).int()
        tensor([[[1, 0],
                 [0, 1]]], dtype=torch.int32)
    """
    x = as_tensor(logits, "logits")
    if not x.is_floating_point():
        raise TypeError(f"expected floating-point logits, got dtype {x.dtype}")
    if x.dim() < 3:
        raise ValueError(f"expected logits of shape (B, C, *spatial), got {tuple(x.shape)}")
    if sigmoid:
        return torch.sigmoid(x) > threshold
    index = x.argmax(1, keepdim=True)
    return torch.zeros_like(x, dtype=torch.bool).scatter_(1, index, True)
