"""Centreline losses for thin and tubular structures: clDice and Skeleton Recall.

* clDice (Shit et al., CVPR 2021) compares soft skeletons, made by iterated soft erosion and
  dilation (min/max pooling), with the masks: topology precision and sensitivity.
* Skeleton Recall (Kirchhoff et al., ECCV 2024) rewards the prediction's soft recall of a tube
  around the ground truth's exact skeleton (:func:`edgewise.maps.skeleton_tube`), which costs
  one CPU skeletonisation of the labels per step (or none, with cached tubes).

Both follow the package conventions (``docs/losses.md``) and accept ``spacing`` and ignore it,
so a :class:`~edgewise.losses.CompoundLoss` can pass it to every term.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from edgewise._core.spacing import SpacingLike

from ..maps.contour import axis_max_pools, binary_cube, cube_max_pool, is_binary_constant
from ._base import LossBase, MapLossBase
from ._utils import (
    Reduction,
    binary_masks,
    check_image_dims,
    check_map,
    check_reduction,
    no_autocast,
    prepare,
    reduce,
)
from .regional import dice_loss

__all__ = [
    "ClDiceLoss",
    "DiceClDiceLoss",
    "SkeletonRecallLoss",
    "cldice_loss",
    "dice_cldice_loss",
    "skeleton_recall_loss",
    "soft_skeleton",
]


def _soft_erode(x: Tensor) -> Tensor:
    # min over the face-connected cross as separable 1D min-pools (the authors' code); the
    # pools as elementwise passes with max_pool's values and gradients (several times faster
    # on a CPU)
    pools = axis_max_pools(-x, range(2, x.dim()))
    out = pools[0]
    for p in pools[1:]:
        out = torch.maximum(out, p)
    return -out


def _soft_dilate(x: Tensor) -> Tensor:
    return cube_max_pool(x)


def _erode_binary(x: Tensor) -> Tensor:
    # _soft_erode on a bool mask: AND over the face-connected cross, the border not eroded
    # (the pools pad with the neutral value)
    out = x.clone()
    for d in range(2, x.dim()):
        n = x.shape[d]
        out.narrow(d, 1, n - 1).logical_and_(x.narrow(d, 0, n - 1))
        out.narrow(d, 0, n - 1).logical_and_(x.narrow(d, 1, n - 1))
    return out


def _binary_skeleton(mask: Tensor, iter_: int) -> Tensor:
    # On {0, 1} inputs every soft step is its Boolean one (relu(a - b) = a AND NOT b,
    # s + relu(d - s d) = s OR d): the same values as the pooled version, ~25x faster on a CPU
    img = mask.bool()
    e = _erode_binary(img)
    skel = img & ~binary_cube(e, erode=False)
    for _ in range(iter_):
        img = e
        e = _erode_binary(img)
        skel |= img & ~binary_cube(e, erode=False)
    return skel.to(mask.dtype)


def _check_iter(iter_: int) -> None:
    if isinstance(iter_, bool) or not isinstance(iter_, int) or iter_ < 0:
        raise ValueError(f"expected iter_ as a non-negative integer, got {iter_!r}")


def _check_alpha(alpha: float) -> None:
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"expected alpha in [0, 1], got {alpha}")


def _check_radius(radius: int) -> None:
    if isinstance(radius, bool) or not isinstance(radius, int) or radius < 0:
        raise ValueError(f"expected radius as a non-negative integer, got {radius!r}")


def soft_skeleton(input: Tensor, iter_: int = 3) -> Tensor:
    r"""Soft skeleton of probability maps by iterated soft erosion and opening.

    .. math::
        S_0 = \mathrm{ReLU}(I - \mathrm{open}(I)),\qquad
        I_k = \mathrm{erode}^k(I),\quad
        \Delta_k = \mathrm{ReLU}(I_k - \mathrm{open}(I_k)),\quad
        S_k = S_{k-1} + \mathrm{ReLU}(\Delta_k - S_{k-1} \Delta_k)

    with soft erosion the minimum over the face-connected cross (min-pooling), soft
    dilation the maximum over the 3x3(x3) square (max-pooling) and
    :math:`\mathrm{open} = \mathrm{dilate} \circ \mathrm{erode}`; the result is
    :math:`S_{k}` for ``k = iter_``. ``iter_`` should be at least the largest radius of the
    structures (in voxels), or their inside is missed. On a binary mask it gives a
    (morphological, possibly disconnected) skeleton; on probabilities it is differentiable
    almost everywhere. Same as the authors' ``soft_skel`` and MONAI's. A ``{0, 1}`` input
    that needs no gradient (a one-hot target) takes an exact Boolean path: same values, a
    fraction of the pooling's time.

    Args:
        input: values in ``[0, 1]`` of shape ``(B, C, H, W)`` or ``(B, C, D, H, W)``.
        iter_: number of erosion steps :math:`k` (the paper's iterations; 3 by default as
            in the authors' clDice loss and MONAI).

    Returns:
        the soft skeleton, same shape, dtype and device as ``input``.

    Reference:
        S. Shit et al., "clDice - a Novel Topology-Preserving Loss Function for Tubular
        Structure Segmentation", CVPR 2021.

    Example:
        >>> x = torch.zeros(1, 1, 5, 7); x[0, 0, 1:4, 1:6] = 1   # a 3 x 5 bar
        >>> soft_skeleton(x, iter_=2)[0, 0].long()
        tensor([[0, 0, 0, 0, 0, 0, 0],
                [0, 0, 0, 0, 0, 0, 0],
                [0, 0, 1, 1, 1, 0, 0],
                [0, 0, 0, 0, 0, 0, 0],
                [0, 0, 0, 0, 0, 0, 0]])
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"expected input to be a torch.Tensor, got {type(input).__name__}")
    check_image_dims(input)
    _check_iter(iter_)
    if is_binary_constant(input):
        return _binary_skeleton(input, iter_)
    img = input
    # the opening's erosion of one step is the next step's image: computed once
    eroded = _soft_erode(img)
    skel = F.relu(img - _soft_dilate(eroded))
    for _ in range(iter_):
        img = eroded
        eroded = _soft_erode(img)
        delta = F.relu(img - _soft_dilate(eroded))
        skel = skel + F.relu(delta - skel * delta)
    return skel


def _sum(x: Tensor, batch: bool) -> Tensor:
    dims = [0, *range(2, x.dim())] if batch else list(range(2, x.dim()))
    s = x.sum(dims)
    return s[None] if batch else s


def cldice_loss(
    input: Tensor,
    target: Tensor,
    *,
    iter_: int = 3,
    include_background: bool = True,
    classes: Sequence[int] | None = None,
    softmax: bool | None = None,
    sigmoid: bool = False,
    to_onehot_y: bool | None = None,
    batch: bool = False,
    smooth_nr: float = 1.0,
    smooth_dr: float = 1.0,
    smooth: float = 1e-4,
    reduction: Reduction = "mean",
    spacing: SpacingLike = None,
) -> Tensor:
    r"""Soft clDice loss (Shit et al., CVPR 2021) per sample and class.

    .. math::
        T_{prec} = \frac{\sum S(P)\, T + s_{nr}}{\sum S(P) + s_{dr}},\quad
        T_{sens} = \frac{\sum S(T)\, P + s_{nr}}{\sum S(T) + s_{dr}},\quad
        L = 1 - \frac{2\, T_{prec} T_{sens}}{T_{prec} + T_{sens} + s}

    :math:`S` is :func:`soft_skeleton` with ``iter_`` steps, applied to the probabilities
    :math:`P` and to the one-hot target :math:`T`. The defaults (``smooth_nr = smooth_dr = 1``,
    ``smooth = 1e-4``) are MONAI's; the authors use the same ``1`` and no ``smooth``.
    An absent class that is not predicted gives 0; both terms stay finite for empty and
    full classes. MONAI's ``SoftclDiceLoss`` pools the channels of a sample into one value
    and the authors' code pools the whole batch: with a single class this function equals
    the first, and with ``batch=True`` the second.

    Args:
        input: logits ``(B, C, H, W)`` or ``(B, C, D, H, W)``.
        target: index ``(B, 1, *spatial)`` / ``(B, *spatial)`` or one-hot ``(B, C, *spatial)``.
        iter_: soft-skeleton iterations (the paper's :math:`k`); about the largest
            structure radius in voxels.
        include_background: keep channel 0 (ignored when C = 1).
        classes: explicit channel indices; overrides ``include_background``.
        batch: sum over the batch before the ratios (``"none"`` then gives ``(1, C')``).
        smooth_nr, smooth_dr: added to the numerators and denominators of both ratios.
        smooth: added to the denominator of their harmonic mean.
        reduction: ``"none"`` gives ``(B, C')``.
        spacing: accepted and ignored.

    Shapes:
        - input: :math:`(B, C, *)`; target: :math:`(B, 1, *)`, :math:`(B, *)` or :math:`(B, C, *)`.
        - output: scalar, or :math:`(B, C')` with ``reduction="none"``.

    Example:
        >>> target = torch.zeros(2, 1, 16, 16, dtype=torch.long); target[:, :, 7:9, 2:14] = 1
        >>> perfect = 40.0 * torch.nn.functional.one_hot(target[:, 0], 2).permute(0, 3, 1, 2) - 20
        >>> round(cldice_loss(perfect, target, include_background=False).item(), 4)
        0.0
    """
    check_reduction(reduction)
    _check_iter(iter_)
    if isinstance(input, Tensor):
        check_image_dims(input)
    prep = prepare(input, target, spacing=spacing, softmax=softmax, sigmoid=sigmoid,
                   to_onehot_y=to_onehot_y, include_background=include_background, classes=classes)
    with no_autocast(input.device):
        p, t = prep.selected()
        skel_p = soft_skeleton(p, iter_)
        tprec = (_sum(skel_p * t, batch) + smooth_nr) / (_sum(skel_p, batch) + smooth_dr)
        skel_t = soft_skeleton(t, iter_)
        tsens = (_sum(skel_t * p, batch) + smooth_nr) / (_sum(skel_t, batch) + smooth_dr)
        loss = 1.0 - 2.0 * tprec * tsens / (tprec + tsens + smooth)
        return reduce(loss, reduction)


def dice_cldice_loss(
    input: Tensor,
    target: Tensor,
    *,
    alpha: float = 0.5,
    iter_: int = 3,
    include_background: bool = True,
    classes: Sequence[int] | None = None,
    softmax: bool | None = None,
    sigmoid: bool = False,
    to_onehot_y: bool | None = None,
    batch: bool = False,
    smooth_nr: float = 1.0,
    smooth_dr: float = 1.0,
    smooth: float = 1e-4,
    reduction: Reduction = "mean",
    spacing: SpacingLike = None,
) -> Tensor:
    r"""Soft Dice and clDice combined, as the authors and MONAI's ``SoftDiceclDiceLoss``.

    .. math:: L = (1 - \alpha)\, L_{Dice} + \alpha\, L_{clDice}

    :math:`L_{Dice}` is :func:`~edgewise.losses.dice_loss` with the same ``smooth_nr`` and
    ``smooth_dr`` (1 by default, as MONAI's combination), :math:`L_{clDice}` is
    :func:`cldice_loss`. To combine clDice with cross-entropy instead, put ``cldice`` beside
    ``ce`` in a :class:`~edgewise.losses.CompoundLoss`.

    Args:
        alpha: weight of the clDice term in ``[0, 1]`` (0.5 by default, the authors').
        others: as :func:`cldice_loss`.

    Example:
        >>> target = torch.zeros(1, 1, 16, 16, dtype=torch.long); target[..., 7:9, 2:14] = 1
        >>> dice_cldice_loss(torch.randn(1, 2, 16, 16), target, include_background=False).shape
        torch.Size([])
    """
    _check_alpha(alpha)
    shared = dict(include_background=include_background, classes=classes, softmax=softmax,
                  sigmoid=sigmoid, to_onehot_y=to_onehot_y, batch=batch, smooth_nr=smooth_nr,
                  smooth_dr=smooth_dr, reduction=reduction, spacing=spacing)
    cl = cldice_loss(input, target, iter_=iter_, smooth=smooth, **shared)  # type: ignore[arg-type]
    d = dice_loss(input, target, **shared)  # type: ignore[arg-type]
    return (1.0 - alpha) * d + alpha * cl


def skeleton_recall_loss(
    input: Tensor,
    target: Tensor,
    *,
    dist_map: Tensor | None = None,
    radius: int = 2,
    include_background: bool = True,
    classes: Sequence[int] | None = None,
    softmax: bool | None = None,
    sigmoid: bool = False,
    to_onehot_y: bool | None = None,
    batch: bool = False,
    smooth: float = 1.0,
    reduction: Reduction = "mean",
    spacing: SpacingLike = None,
) -> Tensor:
    r"""Skeleton Recall loss (Kirchhoff et al., ECCV 2024) per sample and class.

    .. math::
        L = 1 - \frac{\sum_x p(x)\, \tau(x) + s}{\sum_x \tau(x) + s}

    :math:`\tau` is the tube of the target's exact skeleton (:func:`edgewise.maps.skeleton_tube`:
    scikit-image skeleton, ``radius`` cross dilations, kept inside the class). The
    authors' loss returns :math:`-\mathrm{recall}`; ``1 - recall`` has the same gradient and
    stays in ``[0, 1]``. An absent class has an empty tube and gives 0. The authors use it
    beside cross-entropy and Dice, without the background (``include_background=False``;
    the default ``True`` follows the package convention and skeletonises the background too).

    The tube is computed from each batch's labels on the CPU (about one skeletonisation per
    sample and class: see ``benchmarks/losses.py``) unless ``dist_map`` gives it; in a
    training config, ``maps: cached`` with ``data.options.map_kind: skeleton_tube`` reads
    the dataset's cached tubes of the whole images (the name ``dist_map`` is the one every
    cached map is passed under).

    Args:
        input: logits ``(B, C, H, W)`` or ``(B, C, D, H, W)``.
        target: index ``(B, 1, *spatial)`` / ``(B, *spatial)`` or one-hot ``(B, C, *spatial)``.
        dist_map: precomputed tubes ``(B, C', *spatial)`` for the selected classes or
            ``(B, C, *spatial)`` for all (values in ``[0, 1]``).
        radius: tube radius in cross dilations (2, the authors' value); ignored with ``dist_map``.
        batch: sum over the batch before the ratio (the authors' ``batch_dice``).
        smooth: added to the numerator and denominator (1, the authors' value).
        reduction: ``"none"`` gives ``(B, C')``.
        spacing: accepted and ignored.

    Reference:
        Y. Kirchhoff et al., "Skeleton Recall Loss for Connectivity Conserving and Resource
        Efficient Segmentation of Thin Tubular Structures", ECCV 2024.

    Example:
        >>> target = torch.zeros(2, 1, 16, 16, dtype=torch.long); target[:, :, 6:10, 2:14] = 1
        >>> logits = torch.randn(2, 2, 16, 16)
        >>> skeleton_recall_loss(logits, target, include_background=False, reduction="none").shape
        torch.Size([2, 1])
    """
    check_reduction(reduction)
    if isinstance(input, Tensor):
        check_image_dims(input)
    prep = prepare(input, target, spacing=spacing, softmax=softmax, sigmoid=sigmoid,
                   to_onehot_y=to_onehot_y, include_background=include_background, classes=classes)
    with no_autocast(input.device):
        p, _ = prep.selected()
        if dist_map is None:
            from edgewise.maps import skeleton_tube

            tube = skeleton_tube(binary_masks(prep.onehot, prep.channels), radius=radius,
                                 dtype=p.dtype)
        else:
            tube = check_map(dist_map, tuple(p.shape), tuple(prep.onehot.shape), prep.channels)
            if bool((tube < 0).any()) or bool((tube > 1).any()):
                raise ValueError("expected dist_map (skeleton tubes) with values in [0, 1]")
        tube = tube.to(device=p.device, dtype=p.dtype)
        recall = (_sum(p * tube, batch) + smooth) / (_sum(tube, batch) + smooth).clamp_min(1e-8)
        return reduce(1.0 - recall, reduction)


class ClDiceLoss(LossBase):
    """Module form of :func:`cldice_loss`.

    Example:
        >>> loss = ClDiceLoss(iter_=5, include_background=False)
        >>> target = torch.zeros(2, 1, 16, 16, dtype=torch.long); target[:, :, 7:9, 2:14] = 1
        >>> loss(torch.randn(2, 2, 16, 16), target).dim()
        0
    """

    function = staticmethod(cldice_loss)
    checks = {"iter_": _check_iter}


class DiceClDiceLoss(LossBase):
    """Module form of :func:`dice_cldice_loss` (MONAI's ``SoftDiceclDiceLoss``).

    Example:
        >>> loss = DiceClDiceLoss(alpha=0.3, include_background=False)
        >>> target = torch.zeros(2, 1, 16, 16, dtype=torch.long); target[:, :, 7:9, 2:14] = 1
        >>> loss(torch.randn(2, 2, 16, 16), target).dim()
        0
    """

    function = staticmethod(dice_cldice_loss)
    checks = {"iter_": _check_iter, "alpha": _check_alpha}


class SkeletonRecallLoss(MapLossBase):
    """Module form of :func:`skeleton_recall_loss`; ``forward(input, target, *, spacing=None, dist_map=None)``.

    Example:
        >>> loss = SkeletonRecallLoss(include_background=False)
        >>> target = torch.zeros(2, 1, 16, 16, dtype=torch.long); target[:, :, 6:10, 2:14] = 1
        >>> loss(torch.randn(2, 2, 16, 16), target).dim()
        0
    """

    function = staticmethod(skeleton_recall_loss)
    checks = {"radius": _check_radius}
