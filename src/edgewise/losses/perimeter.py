"""Contour-length (perimeter) loss (El Jurdi et al., MIDL 2021), 2D and 3D."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from edgewise._core.spacing import SpacingLike

from ..maps.contour import is_binary_constant, label_perimeters, partition_labels
from ._base import LossBase
from ._utils import (
    Prepared,
    Reduction,
    as_plain,
    check_image_dims,
    check_reduction,
    no_autocast,
    prepare,
    reduce,
    spatial_sum,
)

__all__ = ["PerimeterLoss", "perimeter_loss", "soft_perimeter"]


def soft_perimeter(probs: Tensor) -> Tensor:
    r"""Soft perimeter (2D) or surface area (3D) of each channel: ``sum_x contour(p)(x)``.

    ``contour`` is :func:`edgewise.maps.soft_contour`, the reference's max-pool operator
    ``relu(maxpool3(erode(p)) - erode(p))`` with ``erode(p) = -maxpool3(-p)``: a square of
    side ``L`` gives ``4L - 4``; structures thinner than 3 pixels give 0.

    Args:
        probs: ``(B, C, *spatial)`` with 2 or 3 spatial axes.

    Returns:
        ``(B, C)``.
    """
    from edgewise.maps import soft_contour

    return spatial_sum(soft_contour(probs))


def _target_labels(input: Tensor, target: Tensor, prep: Prepared) -> Tensor | None:
    """Label map ``(B, *spatial)`` behind the prepared one-hot target, uint8 where the
    classes fit, or None (a soft or multi-label target, or more than 256 classes).

    An index target is its own label map (``prepare`` has checked its values); a one-hot
    ``{0, 1}`` target whose channels partition the image gives one by a running sum. A
    single-channel binary target is the label map of its mask and background."""
    c = input.shape[1]
    if prep.valid is not None or c > 256:
        return None
    target = as_plain(target)
    if c > 1 and target.dim() == input.dim() - 1:
        return target.to(torch.uint8)
    if c > 1 and target.shape[1] == 1:
        return target[:, 0].to(torch.uint8)
    if not is_binary_constant(prep.onehot):
        return None
    if c == 1:
        return prep.onehot[:, 0].to(torch.uint8)
    return partition_labels(prep.onehot)


def target_perimeter(input: Tensor, target: Tensor, prep: Prepared) -> Tensor:
    """:func:`soft_perimeter` of the prepared target's selected channels, ``(B, C')`` in its
    dtype: from the label map once per sample (:func:`edgewise.maps.contour.label_perimeters`,
    the same integer counts) where the target has one, else per channel."""
    labels = _target_labels(input, target, prep)
    if labels is None:
        return soft_perimeter(prep.selected()[1])
    counts = label_perimeters(labels, max(input.shape[1], 2))
    if input.shape[1] == 1:  # the one channel is the mask: label 1
        counts = counts[:, 1:]
    return counts[:, prep.channels].to(prep.onehot.dtype)


def perimeter_loss(
    input: Tensor,
    target: Tensor,
    *,
    include_background: bool = True,
    classes: Sequence[int] | None = None,
    softmax: bool | None = None,
    sigmoid: bool = False,
    to_onehot_y: bool | None = None,
    reduction: Reduction = "mean",
    spacing: SpacingLike = None,
) -> Tensor:
    r"""Squared difference of soft perimeters, per sample and class.

    .. math::
        L_{b,c} = \frac{\bigl(P(p_{bc}) - P(t_{bc})\bigr)^2}{N^{2(d-1)/d}},
        \qquad P(u) = \sum_x \mathrm{contour}(u)(x)

    with :math:`N` the number of pixels/voxels and :math:`d` the number of spatial axes.
    Normalisation: in 2D the denominator is ``H * W``, exactly the reference's ``W * H``. In
    3D the perimeter is a surface area (it grows as ``L^2``, its square as ``L^4``); dividing
    by :math:`N^{4/3}` keeps the loss invariant to resampling the same shape at a finer grid,
    as the 2D form is. Perimeters are counted in pixels (``spacing`` is accepted and
    ignored, as in the reference).

    Args:
        include_background: keep channel 0 (the reference supervises the foreground only:
            use ``include_background=False`` to match it).
        reduction: ``"none"`` gives ``(B, C')``.

    Reference:
        R. El Jurdi et al., "A surprisingly effective perimeter-based loss for medical image
        segmentation", MIDL 2021.

    Example:
        >>> t = torch.zeros(1, 1, 8, 8, dtype=torch.long); t[..., 2:6, 2:6] = 1
        >>> onehot = torch.cat([t == 0, t == 1], 1).float()
        >>> perimeter_loss(onehot, t, softmax=False).item()
        0.0
    """
    check_reduction(reduction)
    check_image_dims(input)
    prep = prepare(input, target, spacing=spacing, softmax=softmax, sigmoid=sigmoid, to_onehot_y=to_onehot_y,
                   include_background=include_background, classes=classes)
    with no_autocast(input.device):
        p = prep.selected()[0]
        d = p.dim() - 2
        n = float(p[0, 0].numel())
        diff = soft_perimeter(p) - target_perimeter(input, target, prep)
        return reduce(diff * diff / n ** (2 * (d - 1) / d), reduction)


class PerimeterLoss(LossBase):
    """Module form of :func:`perimeter_loss`."""

    function = staticmethod(perimeter_loss)
