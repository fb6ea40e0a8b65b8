"""Hausdorff-distance losses (Karimi & Salcudean, IEEE TMI 2020): distance-transform and erosion variants."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor

from edgewise._core.elementwise import any_spatial, greater
from edgewise._core.spacing import SpacingLike

from ._base import LossBase, MapLossBase
from ._utils import (
    Reduction,
    check_map,
    check_image_dims,
    check_map_dims,
    check_reduction,
    no_autocast,
    prepare,
    reduce,
    spatial_mean,
    target_masks,
)

__all__ = ["HausdorffDTLoss", "HausdorffERLoss", "hausdorff_dt_loss", "hausdorff_er_loss"]

Distance = Literal["boundary", "inside"]
Variant = Literal["morphological", "convolution"]
VARIANTS: tuple[str, ...] = ("morphological", "convolution")

# squared error of a probability whose 0.5 threshold gets the pixel wrong: |p - t| > 1/2
_MISCLASSIFIED_SQUARED_ERROR = 0.25


def _check_variant(variant: str) -> None:
    if variant not in VARIANTS:
        raise ValueError(f"expected variant in {VARIANTS}, got {variant!r}")


def _check_distance(distance: str) -> None:
    if distance not in ("boundary", "inside"):
        raise ValueError(f"expected distance in ('boundary', 'inside'), got {distance!r}")


@torch.no_grad()
def _distance(masks: Tensor, spacing: SpacingLike, distance: Distance) -> Tensor:
    """The maps of ``masks``, a new tensor the caller may change in place.

    No boundary, no distance to it: an absent class's map is 0 (as MONAI), asked for with
    ``empty="zero"`` whatever fill the maps' default is, or every error of that class would
    weigh diag^alpha. (Before #27 the maps were also multiplied by the presence mask, a
    full-size pass that changed no value: the fill is already +0.0.)"""
    from edgewise.maps import inside_distance, unsigned_distance

    fn = unsigned_distance if distance == "boundary" else inside_distance
    return fn(masks, spacing, empty="zero")


class _WeightedSquaredError(torch.autograd.Function):
    """``spatial_mean((p - t) ** 2 * w)`` per ``(b, c)``, for a target ``t`` and a weight ``w``
    without gradient, with the gradient autograd gives that expression, bit for bit.

    The same forward operations; backward, the same products in the same order
    (``mean``'s ``grad / N``, then ``* w``, then the square's ``* (2 (p - t))``), the
    division on the ``(B, C)`` gradient before it is broadcast (the same quotient for every
    element) and the last product in place: autograd allocates a full-size tensor for each
    of its five steps, this two (#27). ``tests/losses/test_hausdorff.py`` checks values and
    gradients against the plain expression."""

    @staticmethod
    def forward(ctx, p: Tensor, t: Tensor, w: Tensor) -> Tensor:
        diff = p - t
        ctx.save_for_backward(diff, w)
        return spatial_mean(diff.square().mul_(w))

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:
        diff, w = ctx.saved_tensors
        n = diff[0, 0].numel()
        g = w * (grad / n).reshape(*grad.shape, *([1] * (diff.dim() - 2)))
        return g.mul_(diff * 2.0), None, None


def _power_(x: Tensor, alpha: float) -> Tensor:
    """``x ** alpha`` in place (``x`` is a map of this call): square_() for the usual
    alpha = 2, the same products as square(), 3x faster than pow(2.0) on CPU."""
    return x.square_() if alpha == 2 else x.pow_(alpha)


def hausdorff_dt_loss(
    input: Tensor,
    target: Tensor,
    *,
    spacing: SpacingLike = None,
    dist_map: Tensor | None = None,
    alpha: float = 2.0,
    distance: Distance = "boundary",
    include_background: bool = True,
    classes: Sequence[int] | None = None,
    softmax: bool | None = None,
    sigmoid: bool = False,
    to_onehot_y: bool | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Hausdorff loss from distance transforms (Karimi & Salcudean's HD-DT).

    .. math::
        L_{b,c} = \frac{1}{|\Omega|}\sum_x \bigl(p(x) - t(x)\bigr)^2
                  \bigl(d_p(x)^\alpha + d_t(x)^\alpha\bigr)

    :math:`d_t` is computed from the target and :math:`d_p` from the prediction thresholded
    at 0.5, both without gradient (as in the paper). Two published definitions of :math:`d`:

    * ``distance="boundary"`` (default): unsigned distance to the class boundary on both
      sides, ``EDT(M) + EDT(~M)`` (:func:`edgewise.maps.unsigned_distance`; MONAI
      ``HausdorffDTLoss``, PatRyg99).
    * ``distance="inside"``: distance inside the object only, 0 outside
      (:func:`edgewise.maps.inside_distance`; LIVIAETS, JunMa11/SegWithDistMap).

    A class absent from the target (or from the thresholded prediction) has ``d = 0``, also
    when ``dist_map`` holds something else for it (a map made with ``empty="diagonal"``), so
    precomputed and on-the-fly maps give the same loss.
    Distances are in physical units with ``spacing``; values scale as ``distance^alpha``
    (they reach thousands on large images, which is expected).

    Args:
        dist_map: precomputed target distances :math:`d_t` ``(B, C', *spatial)`` or ``(B, C, *spatial)``.
        alpha: exponent (2 in the paper).
        distance: ``"boundary"`` or ``"inside"``.
        reduction: ``"none"`` gives ``(B, C')``.

    Example:
        >>> t = torch.zeros(1, 1, 8, 8, dtype=torch.long); t[..., 2:6, 2:6] = 1
        >>> hausdorff_dt_loss(torch.randn(1, 2, 8, 8), t, distance="inside").shape
        torch.Size([])
    """
    check_reduction(reduction)
    _check_distance(distance)
    if alpha <= 0:
        raise ValueError(f"expected alpha > 0, got {alpha}")
    check_map_dims(input, "hausdorff_dt_loss")  # d_p is always computed
    prep = prepare(input, target, spacing=spacing, softmax=softmax, sigmoid=sigmoid, to_onehot_y=to_onehot_y,
                   include_background=include_background, classes=classes, read_meta=True)
    spacing = prep.spacing
    with no_autocast(input.device):
        p, t = prep.selected()
        masks = target_masks(prep)
        if dist_map is None:
            d_t = _distance(masks, spacing, distance)
        else:
            d_t = check_map(dist_map, tuple(p.shape), tuple(prep.onehot.shape), prep.channels)
            # same rule as the maps computed here, also for maps made with empty="diagonal",
            # which would weigh every error of that class by diagonal^alpha
            present = any_spatial(masks)
            d_t = d_t * present.view(*present.shape, *([1] * (masks.dim() - 2))).to(device=d_t.device)
        d_p = _distance(greater(p.detach(), 0.5), spacing, distance)
        # d_p and d_t are this call's own tensors (maps computed here, or the product above
        # of a given map): the powers and their sum run in place, with the same values as
        # out of place and two full-size buffers fewer
        weight = _power_(d_p.to(p.dtype), alpha).add_(_power_(d_t.to(device=p.device, dtype=p.dtype), alpha))
        loss = _WeightedSquaredError.apply(p, t.detach(), weight)
        return reduce(loss, reduction)


def _cross_sum(x: Tensor) -> Tensor:
    """Sum over the face-neighbour cross ``B`` (centre first, then each axis' lower and upper
    neighbour), zero outside the image.

    Written as in-place adds of shifted slices rather than ``conv2d``/``conv3d``: a
    single-channel 3x3 convolution is far slower on CPU than 2d+1 elementwise adds, and
    adding into slices allocates no padded copy.
    """
    out = x.clone()
    for dim in range(2, x.dim()):
        n = x.shape[dim]
        if n > 1:
            out.narrow(dim, 1, n - 1).add_(x.narrow(dim, 0, n - 1))
            out.narrow(dim, 0, n - 1).add_(x.narrow(dim, 1, n - 1))
    return out


def _erode(x: Tensor, n: int) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """One soft erosion ``y = (e - lo) / (hi - lo)``, ``e = relu(cross_sum(x) / n - 0.5)``,
    min-max normalised per image (left as is where constant), with what its backward needs:
    ``y``, ``e > 0``, the positions of the min and max, whether the image varies, the scale."""
    # in place on fresh tensors: same values as relu(cross_sum / n - 0.5)
    e = torch.relu_(_cross_sum(x).div_(n).sub_(0.5))
    flat = e.flatten(1)
    lo, lo_i = flat.min(1)
    hi, hi_i = flat.max(1)
    rng = hi - lo
    varies = rng != 0
    view = (-1, *([1] * (x.dim() - 1)))
    shift = torch.where(varies, lo, 0.0).view(view)
    scale = torch.where(varies, rng, 1.0).view(view)
    positive = e > torch.zeros((), dtype=e.dtype)
    y = e.sub_(shift).div_(scale)
    return y, positive, lo_i, hi_i, varies, scale


def _erode_backward(grad: Tensor, y: Tensor, positive: Tensor, lo_i: Tensor, hi_i: Tensor,
                    varies: Tensor, scale: Tensor, n: int) -> Tensor:
    """Gradient reaching the input of :func:`_erode` from ``grad`` on its output ``y``, as
    autograd would differentiate it: the min and max pass their gradient to the element
    ``min``/``max`` return, and the cross sum is its own adjoint."""
    ge = grad / scale
    flat_g, flat_y = grad.flatten(1), y.flatten(1)
    s = scale.flatten()
    d_shift = -(flat_g.sum(1) / s)
    d_range = torch.where(varies, -((flat_g * flat_y).sum(1) / s), 0.0)
    d_lo = torch.where(varies, d_shift, 0.0) - d_range
    flat_e = ge.flatten(1)
    flat_e.scatter_add_(1, lo_i.unsqueeze(1), d_lo.unsqueeze(1))
    flat_e.scatter_add_(1, hi_i.unsqueeze(1), d_range.unsqueeze(1))
    # a uint8 -> float mask: multiplying by a bool tensor takes a slow casting path on CPU
    gs = ge.mul_(positive.view(torch.uint8).to(ge.dtype)).div_(n)
    return _cross_sum(gs)


class _ErosionLoss(torch.autograd.Function):
    """HD-ER's ``sum_j w_j mean(erosion_j)`` per image, for ``bound`` ``(N, 1, *spatial)``.

    All erosions in one Function with a hand-written backward: the same operations forward
    as the plain autograd formula; backward, each erosion's own term (a constant per image)
    is added to the gradient coming from the next erosion in place, where autograd would
    materialise the mean's expanded gradient and sum the two in fresh full-size buffers.
    """

    @staticmethod
    def forward(ctx, bound: Tensor, n: int, weights: tuple[float, ...]) -> Tensor:
        loss = bound.new_zeros(bound.shape[0])
        steps = []
        x = bound
        for w in weights:
            step = _erode(x, n)
            # the loss needs only the spatial mean of each erosion's weighted sum
            loss = loss + step[0].flatten(1).mean(1) * w
            steps.append(step)
            x = step[0]
        ctx.n, ctx.weights, ctx.k = n, weights, len(weights)
        ctx.save_for_backward(*(t for step in steps for t in step))
        return loss

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, None, None]:
        saved = ctx.saved_tensors
        g: Tensor | None = None
        for j in reversed(range(ctx.k)):
            y, positive, lo_i, hi_i, varies, scale = saved[6 * j : 6 * j + 6]
            per = y[0].numel()
            # d(mean(y) * w) / dy, as autograd: (grad * w) / numel, for every element
            own = ((grad * ctx.weights[j]) / per).view(-1, *([1] * (y.dim() - 1)))
            g = own.expand(y.shape).contiguous() if g is None else g.add_(own)
            g = _erode_backward(g, y, positive, lo_i, hi_i, varies, scale, ctx.n)
        return g, None, None


def _erode_set(x: Tensor) -> Tensor:
    """One morphological erosion of the boolean ``(N, *spatial)`` set ``x`` by the face-neighbour
    cross: a pixel stays where it and its ``2 d`` face neighbours are in the set. Outside the
    image counts as in the set (the minimum with ``+inf`` padding), so the border erodes nothing."""
    out = x.clone()
    for dim in range(1, x.dim()):
        n = x.shape[dim]
        if n > 1:
            out.narrow(dim, 1, n - 1).logical_and_(x.narrow(dim, 0, n - 1))
            out.narrow(dim, 0, n - 1).logical_and_(x.narrow(dim, 1, n - 1))
    return out


@torch.no_grad()
def _depth_weight(miss: Tensor, alpha: float, k: int, dtype: torch.dtype) -> Tensor:
    """``sum_{i=1}^{k} i^alpha [x in erode^i(miss)]`` for the boolean ``(N, *spatial)`` set ``miss``.

    The eroded sets are nested, so the weight is the cumulative sum of ``i^alpha`` up to the
    number of erosions a pixel survives, ``min(k, d - 1)`` for its city-block distance ``d`` to
    the nearest pixel outside ``miss`` (the image border not counting). Counted on booleans and
    looked up once; stops at the first empty erosion."""
    table = torch.tensor([0.0, *(float(i) ** alpha for i in range(1, k + 1))], dtype=torch.float64)
    table = table.cumsum(0).to(device=miss.device, dtype=dtype)
    count = torch.zeros(miss.shape, dtype=torch.int32, device=miss.device)
    x = miss
    for _ in range(k):
        x = _erode_set(x)
        if not bool(x.any()):
            break
        count += x
    return table[count]


def hausdorff_er_loss(
    input: Tensor,
    target: Tensor,
    *,
    alpha: float = 2.0,
    k: int = 10,
    variant: Variant = "morphological",
    include_background: bool = True,
    classes: Sequence[int] | None = None,
    softmax: bool | None = None,
    sigmoid: bool = False,
    to_onehot_y: bool | None = None,
    reduction: Reduction = "mean",
    spacing: SpacingLike = None,
) -> Tensor:
    r"""Hausdorff loss by erosion (Karimi & Salcudean's HD-ER, IEEE TMI 2020, Eq. 12).

    The paper's loss is

    .. math::
        L_{b,c} = \frac{1}{|\Omega|}\sum_{i=1}^{k}\sum_x
                  \bigl((p - t)^2 \ominus_i B\bigr)(x)\; i^\alpha

    with :math:`\ominus_i B` ``i`` successive erosions by the face-neighbour cross ``B``
    (:math:`p`, :math:`t`: prediction and one-hot target of class ``c``). Two forms:

    * ``variant="morphological"`` (default; kornia >= 0.9.2 ``HausdorffERLoss``/``HausdorffERLoss3D``):
      exact erosions (the minimum over ``B``; outside the image counts as :math:`+\infty`, so
      the border is not an edge) of the set of misclassified pixels,

      .. math::
          L_{b,c} = \frac{1}{|\Omega|}\sum_x e(x) \sum_{i=1}^{k} i^\alpha\,
                    \varepsilon^i\bigl([e > 0]\bigr)(x), \qquad
          e = \max\Bigl(\frac{(p - t)^2 - 1/4}{3/4},\ 0\Bigr)

      :math:`e > 0` exactly where thresholding :math:`p` at 0.5 gets the pixel wrong, and
      :math:`e = (p - t)^2` on a binary prediction, where this is Eq. 12 with exact erosions.
      The erosion weight is a constant (no gradient): a misclassified pixel at city-block
      distance :math:`d` from the nearest correct pixel gets :math:`\sum_{i \le \min(k, d-1)} i^\alpha`
      and its gradient is :math:`2 (p - t) / (3/4)` times that; the pixels on the edge of an
      error (:math:`d = 1`), errors at most two pixels wide and correct pixels get none.
    * ``variant="convolution"`` (kornia <= 0.9.0, PatRyg99/HausdorffLoss, SegLossOdyssey;
      edgewise's only form before issue #24): ``i`` soft erosions of :math:`(p - t)^2` itself,
      each a convolution with ``B`` (weights summing to 1), a soft threshold ``relu(. - 0.5)``
      and a min-max normalisation per image and class (skipped when constant). The gradient
      passes through every erosion. Errors whose neighbourhood mean of :math:`(p - t)^2` is
      below 0.5 are erased by the first erosion: a prediction slightly wrong everywhere gets
      a zero loss; the normalisation rescales every erosion by its largest value in the image.

    Both are in pixel units (``spacing`` is accepted and ignored), 2D and 3D; the value is a
    unitless surrogate, at most :math:`\sum_{i=1}^{k} i^\alpha` per pixel (385 at the
    defaults). With three or more classes each channel is one-vs-rest. Differences between
    the forms and the choice of default: ``docs/losses.md``.

    Args:
        input: logits or probabilities ``(B, C, *spatial)``, 2D or 3D.
        target: index map ``(B, 1, *spatial)``/``(B, *spatial)`` or one-hot ``(B, C, *spatial)``.
        alpha: exponent of the erosion count (2 in the paper).
        k: number of erosions (10 in kornia), at least 1.
        variant: ``"morphological"`` or ``"convolution"``.
        reduction: ``"none"`` gives ``(B, C')``; ``"mean"`` of all selected channels equals
            kornia's ``"mean"``.

    Raises:
        ValueError: ``variant`` not one of the two, ``k < 1`` and the usual input checks.

    Example:
        >>> t = torch.zeros(1, 1, 8, 8, dtype=torch.long); t[..., 2:6, 2:6] = 1
        >>> x = torch.zeros(1, 2, 8, 8); x[:, 0] = 4.0  # misses the square
        >>> _ = x.requires_grad_(True); loss = hausdorff_er_loss(x, t)
        >>> # the 4x4 miss keeps its 2x2 centre through one erosion (weight 1), in both channels:
        >>> # 2 * 4 * e / (2 * 64) with e = ((1 - sigmoid(-4))^2 - 1/4) / (3/4) = 0.9525
        >>> round(loss.item(), 4)
        0.0595
        >>> loss.backward(); bool(x.grad.abs().sum() > 0)
        True
        >>> hausdorff_er_loss(x, t, variant="convolution").item() > 0
        True
    """
    check_reduction(reduction)
    _check_variant(variant)
    check_image_dims(input)
    if k < 1:
        raise ValueError(f"expected k >= 1 erosions, got {k}")
    prep = prepare(input, target, spacing=spacing, softmax=softmax, sigmoid=sigmoid, to_onehot_y=to_onehot_y,
                   include_background=include_background, classes=classes)
    with no_autocast(input.device):
        p, t = prep.selected()
        b, c = p.shape[:2]
        spatial = p.shape[2:]
        if variant == "morphological":
            error = ((p - t).square() - _MISCLASSIFIED_SQUARED_ERROR) / (1 - _MISCLASSIFIED_SQUARED_ERROR)
            error = error.clamp_min(0)
            miss = (error.detach() > 0).reshape(b * c, *spatial)
            weight = _depth_weight(miss, alpha, k, error.dtype).reshape(error.shape)
            loss = spatial_mean(error * weight)
        else:
            bound = (p - t).pow(2).reshape(b * c, 1, *spatial)
            n = 2 * len(spatial) + 1
            weights = tuple(float(j) ** alpha for j in range(1, k + 1))
            loss = _ErosionLoss.apply(bound, n, weights).reshape(b, c)
        return reduce(loss, reduction)


class HausdorffDTLoss(MapLossBase):
    """Module form of :func:`hausdorff_dt_loss`."""

    function = staticmethod(hausdorff_dt_loss)
    checks = {"distance": _check_distance}


class HausdorffERLoss(LossBase):
    """Module form of :func:`hausdorff_er_loss`.

    Example:
        >>> t = torch.zeros(2, 1, 8, 8, 8, dtype=torch.long); t[..., 2:7, 2:7, 2:7] = 1
        >>> loss = HausdorffERLoss(include_background=False)(torch.randn(2, 2, 8, 8, 8), t)
        >>> loss.shape
        torch.Size([])
        >>> HausdorffERLoss(variant="convolution").variant
        'convolution'
    """

    function = staticmethod(hausdorff_er_loss)
    checks = {"variant": _check_variant}
