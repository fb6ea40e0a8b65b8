"""Boundary loss (Kervadec et al., MIDL 2019 / MedIA 2021)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from torch import Tensor

from edgewise._core.spacing import SpacingLike
from edgewise._core.tensors import Empty, check_empty

from ._base import MapLossBase
from ._utils import (
    Reduction,
    check_map,
    check_map_dims,
    check_reduction,
    no_autocast,
    pick,
    prepare,
    reduce,
    spatial_mean,
    target_masks,
)

__all__ = ["BoundaryLoss", "boundary_loss"]

Convention = Literal["boundary", "livia"]


def _check_convention(convention: str) -> None:
    if convention not in ("boundary", "livia"):
        raise ValueError(f"expected convention in ('boundary', 'livia'), got {convention!r}")


def boundary_loss(
    input: Tensor,
    target: Tensor,
    *,
    spacing: SpacingLike = None,
    dist_map: Tensor | None = None,
    include_background: bool = True,
    classes: Sequence[int] | None = None,
    convention: Convention = "boundary",
    empty: Empty = "zero",
    softmax: bool | None = None,
    sigmoid: bool = False,
    to_onehot_y: bool | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Boundary loss: mean of the probabilities weighted by the ground truth's signed distance.

    .. math::
        L_{b,c} = \frac{1}{|\Omega|} \sum_{x \in \Omega} p_{bc}(x)\, \phi_{bc}(x)

    :math:`\phi` is the signed distance map of class :math:`c` of the target
    (:func:`edgewise.maps.signed_distance`): negative inside, positive outside, in physical
    units when ``spacing`` is given (voxels without: the paper's pixel maps). ``convention="boundary"``
    (default) puts 0 on the inner boundary voxels and measures both sides from the boundary
    set; ``"livia"`` reproduces LIVIAETS ``one_hot2dist`` (``EDT(~M)*~M - (EDT(M) - 1)*M``, the
    ``-1`` in voxels). A class absent from a sample gets an all-0 map (``empty="zero"``,
    default since #28, as LIVIAETS: the term ignores that class there) or the image diagonal
    (``empty="diagonal"``, edgewise's rule before #28: its false positives are penalised).

    **Negative values are expected**: the minimum is reached when the prediction covers
    exactly the negative (inside) part of the map. A perfect prediction gives
    ``mean(phi * t) < 0``. Used alone on a binary task the loss drives the foreground
    to empty (LIVIAETS issues #15 and #57): combine it with a regional loss
    (``CompoundLoss`` with a ``Rebalance`` schedule, as the authors do).

    Args:
        input: logits ``(B, C, *spatial)`` (2D or 3D; 1D only with ``dist_map``).
        target: index ``(B, 1, *spatial)`` / ``(B, *spatial)`` or one-hot ``(B, C, *spatial)``.
        spacing: voxel size per axis (numpy order), a scalar, or per sample ``(B, ndim)``.
        dist_map: precomputed maps ``(B, C', *spatial)`` for the selected classes or
            ``(B, C, *spatial)`` for all; skips the map computation.
        include_background: keep channel 0 (LIVIAETS uses class 1 only:
            ``include_background=False``).
        classes: explicit channel indices, overrides ``include_background``.
        convention: ``"boundary"`` or ``"livia"``, see above.
        empty: map of a class absent from a sample, ``"zero"`` or ``"diagonal"`` (ignored
            with ``dist_map``: the given maps hold their own fill).
        reduction: ``"none"`` gives ``(B, C')``.

    Shapes:
        - input: :math:`(B, C, *)`; target: :math:`(B, 1, *)`, :math:`(B, *)` or :math:`(B, C, *)`.
        - output: scalar, or :math:`(B, C')` with ``reduction="none"``.

    Reference:
        H. Kervadec et al., "Boundary loss for highly unbalanced segmentation", MIDL 2019.

    Example:
        >>> target = torch.zeros(1, 1, 8, 8, dtype=torch.long); target[..., 2:6, 2:6] = 1
        >>> logits = torch.randn(1, 2, 8, 8)
        >>> boundary_loss(logits, target, include_background=False).shape
        torch.Size([])
    """
    check_reduction(reduction)
    _check_convention(convention)
    check_empty(empty)
    if dist_map is None:
        check_map_dims(input, "boundary_loss")
    prep = prepare(input, target, spacing=spacing, softmax=softmax, sigmoid=sigmoid, to_onehot_y=to_onehot_y,
                   include_background=include_background, classes=classes, read_meta=True)
    spacing = prep.spacing
    with no_autocast(input.device):
        p = pick(prep.probs, prep.channels)
        if dist_map is None:
            from edgewise.maps import signed_distance

            phi = signed_distance(target_masks(prep), spacing,
                                  convention=convention, empty=empty)
        else:
            phi = check_map(dist_map, tuple(p.shape), tuple(prep.onehot.shape), prep.channels)
        loss = spatial_mean(p * phi.to(device=p.device, dtype=p.dtype))
        return reduce(loss, reduction)


class BoundaryLoss(MapLossBase):
    """Module form of :func:`boundary_loss`; ``forward(input, target, *, spacing=None, dist_map=None)``.

    Example:
        >>> loss = BoundaryLoss(include_background=False)
        >>> target = torch.zeros(2, 1, 16, 16, dtype=torch.long); target[:, :, 4:9, 4:9] = 1
        >>> loss(torch.randn(2, 2, 16, 16), target, spacing=(0.5, 0.5)).dim()
        0
    """

    function = staticmethod(boundary_loss)
    checks = {"convention": _check_convention, "empty": check_empty}
