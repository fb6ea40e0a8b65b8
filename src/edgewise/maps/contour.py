"""Soft, differentiable contour by max pooling (El Jurdi et al., perimeter loss)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["soft_contour"]


def _max3_axis(x: Tensor, dim: int, with_offset: bool) -> tuple[Tensor, Tensor | None]:
    """Maximum over the window ``{i - 1, i, i + 1}`` along ``dim`` (the image border never
    wins) and, when asked, the offset (-1, 0 or 1, in ``x``'s dtype) of the element that gives
    it: the lowest index among equal maxima, as ``max_pool`` scans its window.

    Masks are comparisons written into float buffers and combined arithmetically: on CPU a
    comparison into a float tensor is 2-3x faster than into a bool one, and float-by-bool
    products take a slow type-promotion path.
    """
    n = x.shape[dim]
    out = x.clone()
    if n == 1:
        return out, (torch.zeros_like(x) if with_offset else None)
    centre, right = out.narrow(dim, 0, n - 1), x.narrow(dim, 1, n - 1)
    if not with_offset:
        torch.maximum(centre, right, out=centre)
        centre, left = out.narrow(dim, 1, n - 1), x.narrow(dim, 0, n - 1)
        torch.maximum(centre, left, out=centre)
        return out, None
    off = torch.zeros_like(x)
    # the right neighbour must beat the centre strictly, the left one (first in the window)
    # only needs to equal the larger of the two
    took_right = torch.gt(right, centre, out=off.narrow(dim, 0, n - 1))
    torch.maximum(centre, right, out=centre)
    centre, left = out.narrow(dim, 1, n - 1), x.narrow(dim, 0, n - 1)
    took_left = torch.ge(left, centre, out=torch.empty_like(left))
    torch.maximum(centre, left, out=centre)
    # offset = right - left - left * right: -1 where the left one won, else 1 where the right one did
    tail = off.narrow(dim, 1, n - 1)
    tail.sub_(took_left.mul_(tail.add(1.0)))
    del took_right
    return out, off


def _route_axis(grad: Tensor, off: Tensor, dim: int) -> Tensor:
    """Adjoint of :func:`_max3_axis`: each output's gradient goes to the element it came from."""
    n = grad.shape[dim]
    out = grad * torch.eq(off, 0.0, out=torch.empty_like(off))
    if n > 1:
        to_next = torch.eq(off.narrow(dim, 0, n - 1), 1.0, out=torch.empty_like(grad.narrow(dim, 0, n - 1)))
        out.narrow(dim, 1, n - 1).addcmul_(grad.narrow(dim, 0, n - 1), to_next)
        to_prev = torch.eq(off.narrow(dim, 1, n - 1), -1.0, out=to_next)
        out.narrow(dim, 0, n - 1).addcmul_(grad.narrow(dim, 1, n - 1), to_prev)
    return out


class _AxisMaxPool(torch.autograd.Function):
    """Window-3 maximum along ``dims`` in turn (stride 1, the border never wins), with
    ``max_pool``'s values and gradients.

    Along one axis this is ``max_pool`` with a 3 along that axis and 1 elsewhere. Over all
    axes, last to first, it is the 3x3(x3) cube: the maximum over a cube is the maximum
    along each axis in turn, and so is the element ``max_pool`` picks (the first maximum in
    its raster scan of the window: the least along the first axis, then the second, ...),
    since each pass keeps its lowest-index maximum. The gradient goes back through the
    passes' offsets. On CPU the pooling kernels that record indices are several times slower
    than these elementwise passes.
    """

    @staticmethod
    def forward(ctx, x: Tensor, dims: tuple[int, ...]) -> Tensor:
        grad = ctx.needs_input_grad[0]
        offsets = []
        y = x
        for dim in dims:
            y, off = _max3_axis(y, dim, grad)
            offsets.append(off)
        if grad:
            ctx.dims = dims
            ctx.save_for_backward(*offsets)
        return y

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        g = grad.contiguous()
        for dim, off in zip(reversed(ctx.dims), reversed(ctx.saved_tensors)):
            g = _route_axis(g, off, dim)
        return g, None


def _use_pool(x: Tensor) -> bool:
    # max_pool itself for non-finite input (its nan rule) and off the CPU, where the pooling
    # kernels are not the bottleneck
    return x.device.type != "cpu" or not bool(torch.isfinite(x.sum()))


def cube_max_pool(x: Tensor) -> Tensor:
    """``max_pool2d``/``max_pool3d`` of ``x`` with kernel 3, stride 1, padding 1 (same values
    and gradients), by separable passes on CPU."""
    if _use_pool(x):
        pool = F.max_pool2d if x.dim() == 4 else F.max_pool3d
        return pool(x, kernel_size=3, stride=1, padding=1)
    return _AxisMaxPool.apply(x, tuple(range(x.dim() - 1, 1, -1)))


def axis_max_pools(x: Tensor, dims: Sequence[int]) -> list[Tensor]:
    """For each ``dim`` in ``dims`` (2, 3 or 4): ``max_pool2d``/``max_pool3d`` of ``x`` with a
    window of 3 along ``dim`` and 1 along the other axes, stride 1, the border never winning
    (same values and gradients). ``x`` is checked once for all of them."""
    if not _use_pool(x):
        return [_AxisMaxPool.apply(x, (dim,)) for dim in dims]
    pool = F.max_pool2d if x.dim() == 4 else F.max_pool3d
    out = []
    for dim in dims:
        kernel = [1] * (x.dim() - 2)
        kernel[dim - 2] = 3
        out.append(pool(x, kernel_size=tuple(kernel), stride=1, padding=tuple(k // 2 for k in kernel)))
    return out


def binary_cube(x: Tensor, *, erode: bool) -> Tensor:
    """Erosion (AND) or dilation (OR) of a bool mask ``(B, C, *spatial)`` over the 3x3(x3)
    square, one pass per axis, the border neutral: ``cube_max_pool`` (dilation) and
    ``-cube_max_pool(-x)`` (erosion) of a ``{0, 1}`` mask, at byte width and without offsets."""
    op = torch.Tensor.logical_and_ if erode else torch.Tensor.logical_or_
    for d in range(2, x.dim()):
        n = x.shape[d]
        if n == 1:
            continue
        m = x.clone()
        op(m.narrow(d, 1, n - 1), x.narrow(d, 0, n - 1))
        op(m.narrow(d, 0, n - 1), x.narrow(d, 1, n - 1))
        x = m
    return x


def label_contour(labels: Tensor) -> Tensor:
    """Contour of every class of a label map at once, ``(B, *spatial)`` bool.

    For the one-hot ``t`` of ``labels`` ``(B, *spatial)`` (integers), ``soft_contour(t)[:, c]``
    is ``label_contour(labels) & (labels == c)`` for every class ``c``: with ``same`` the
    elements whose in-image 3x3(x3) neighbours all share their label, class ``c``'s erosion
    is ``same & (labels == c)``, its dilation lies inside the class (a neighbour of an
    element of ``same`` has its label), so the dilation of ``same`` restricted to class
    ``c`` is class ``c``'s dilated erosion, and the contour is ``dilate(same) & ~same``.
    One set of passes per sample instead of an erosion and a dilation per class.

    ``same`` is built one axis at a time: after the pass along an axis, an element is kept
    when it and its two neighbours along that axis were kept and have its label, so after
    all axes it holds the elements whose whole window (clipped to the image) shares their
    label. ``labels`` of uint8 take the fewest bytes.
    """
    same = torch.ones(labels.shape, dtype=torch.bool, device=labels.device)
    for d in range(1, labels.dim()):
        n = labels.shape[d]
        if n == 1:
            continue
        eq = labels.narrow(d, 1, n - 1) == labels.narrow(d, 0, n - 1)
        nxt = same.clone()
        nxt.narrow(d, 1, n - 1).logical_and_(eq).logical_and_(same.narrow(d, 0, n - 1))
        nxt.narrow(d, 0, n - 1).logical_and_(eq).logical_and_(same.narrow(d, 1, n - 1))
        same = nxt
    return binary_cube(same.unsqueeze(1), erode=False)[:, 0] & ~same


def label_perimeters(labels: Tensor, num_classes: int) -> Tensor:
    """``(B, num_classes)`` int64: each class's contour size (:func:`label_contour`), the
    soft perimeter ``soft_contour(t).flatten(2).sum(-1)`` of the label map's one-hot ``t``
    (``labels`` in ``[0, num_classes)``)."""
    contour = label_contour(labels)
    return torch.stack([torch.bincount(labels[b][contour[b]].long(), minlength=num_classes)
                        for b in range(labels.shape[0])])


def partition_labels(onehot: Tensor) -> Tensor | None:
    """uint8 labels ``(B, *spatial)`` of a ``{0, 1}`` one-hot ``(B, C, *spatial)`` (C < 256)
    whose channels cover every element exactly once, else None (the caller checks ``{0, 1}``
    values: :func:`is_binary_constant`). A running sum over the channels: an argmax over the
    class axis is several times slower on CPU."""
    c = onehot.shape[1]
    if c >= 256:
        return None
    m = onehot.to(torch.uint8) if onehot.dtype != torch.bool else onehot.view(torch.uint8)
    counts = m[:, 0].clone()
    labels = torch.zeros_like(counts)
    for k in range(1, c):
        counts += m[:, k]
        labels.add_(m[:, k], alpha=k)
    if not bool((counts == 1).all()):
        return None
    return labels


def is_binary_constant(x: Tensor) -> bool:
    """True for a tensor that needs no gradient and holds only 0 and 1 (a one-hot target):
    its pooled contour or skeleton can take the exact Boolean path."""
    return not (x.requires_grad and torch.is_grad_enabled()) and bool(((x == 0) | (x == 1)).all())


def soft_contour(probs: Tensor) -> Tensor:
    r"""Non-trainable pooling contour of soft masks.

    .. math::
        e = -\mathrm{maxpool}_3(-x), \qquad c = \mathrm{ReLU}(\mathrm{maxpool}_3(e) - e)

    with 3x3 (3x3x3) windows, stride 1 and padding 1 (the padding never wins the max, so the
    image border does not create a contour).  On a binary square of side L the contour sums
    to 4L - 4; structures thinner than 3 px vanish under the erosion.  On CPU the pools run
    as one 1D pass per axis (same values and gradients as ``max_pool``, about 5x faster); a
    ``{0, 1}`` input that needs no gradient (a one-hot target) takes Boolean passes, once per
    sample for all channels when they partition the image (:func:`label_contour`).

    Args:
        probs: ``(B, C, H, W)`` or ``(B, C, D, H, W)`` floating tensor.

    Returns:
        Tensor of ``probs``' shape, differentiable with respect to ``probs``.

    Reference:
        El Jurdi et al., "A surprisingly effective perimeter-based loss for medical image
        segmentation", MIDL 2021.

    Example:
        >>> import torch
        >>> x = torch.zeros(1, 1, 8, 8)
        >>> x[..., 2:6, 2:6] = 1
        >>> soft_contour(x).sum()
        tensor(12.)
    """
    if not probs.is_floating_point():
        raise TypeError(f"expected a floating tensor of probabilities, got dtype {probs.dtype}")
    if probs.ndim not in (4, 5):
        raise ValueError(
            f"expected probs of shape (B, C, H, W) or (B, C, D, H, W), got {tuple(probs.shape)}"
        )
    if is_binary_constant(probs):
        # relu(dilate(e) - e) on {0, 1} is dilate(e) AND NOT e: same values, byte-wide passes
        mask = probs.bool()
        labels = partition_labels(mask) if probs.shape[1] > 1 else None
        if labels is not None:  # a one-hot target: all classes' contours at once
            return (label_contour(labels).unsqueeze(1) & mask).to(probs.dtype)
        e = binary_cube(mask, erode=True)
        return (binary_cube(e, erode=False) & ~e).to(probs.dtype)
    erosion = -cube_max_pool(-probs)
    return F.relu(cube_max_pool(erosion) - erosion)
