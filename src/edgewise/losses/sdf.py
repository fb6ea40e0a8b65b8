"""Signed-distance regression loss (Xue et al., AAAI 2020)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from edgewise._core.spacing import SpacingLike
from edgewise._core.tensors import Empty, check_empty

from ._base import MapLossBase
from ._utils import (
    Reduction,
    binary_masks,
    check_map,
    check_map_dims,
    check_reduction,
    no_autocast,
    pick,
    prepare,
    reduce,
)

__all__ = ["SignedDistanceLoss", "normalized_signed_distance", "signed_distance_loss"]


@torch.no_grad()
def normalized_signed_distance(masks: Tensor, spacing: SpacingLike = None, empty: Empty = "zero") -> Tensor:
    """Xue et al.'s regression target: the signed distance with the outside scaled to ``[0, 1]``
    and the inside to ``[-1, 0]`` (each side divided by its own maximum), 0 on the boundary.

    Args:
        masks: bool ``(B, C, *spatial)``.
        empty: ``"zero"`` (default since #28): an absent class is 0 everywhere, as the
            reference's ``compute_sdf`` (SegWithDistMap); ``"diagonal"``: 1 everywhere (the
            image diagonal divided by itself; edgewise before #28).

    Returns:
        float32 ``(B, C, *spatial)``. A class filling the image is negative inside and 0 on
        the border ring.
    """
    from edgewise.maps import signed_distance

    phi = signed_distance(masks, spacing, empty=empty)
    tail = [1] * (phi.dim() - 2)
    # max(max(phi, 0)) = max(max(phi), 0), and the same for -min (amin and amax: aminmax
    # over an axis is ~10x slower on CPU than the two)
    flat = phi.flatten(2)
    lo, hi = flat.amin(-1), flat.amax(-1)
    pos = hi.clamp_min(1e-12).view(*phi.shape[:2], *tail)
    neg = lo.neg().clamp_min(1e-12).view(*phi.shape[:2], *tail)
    # where(phi > 0, phi / pos, phi / neg) without where (6x slower on CPU): at each element
    # one of the two quotients is of a zero, so their sum is the other one exactly. phi is
    # ours, so the negative side is divided in place (no third full-size buffer)
    return (phi.clamp_min(0) / pos).add_(phi.clamp_max_(0).div_(neg))


class _SdfRegression(torch.autograd.Function):
    r"""Xue et al.'s loss per (b, c), ``P + mean|s - g|`` with the product term
    ``P = -(I + e) / (I + S + G + e)``, ``I = sum s g``, ``S = sum s^2``, ``G = sum g^2``.

    Forward as the plain formula; backward in one buffer (autograd keeps the four products' and
    the difference's buffers and makes a dozen full-size passes),
    ``dL/ds = ((2 (I + e) s - (S + G) g) / D^2 + sign(s - g) / N) * grad`` with
    ``D = I + S + G + e`` (``sign(0) = 0``, as autograd's ``abs``). ``g`` gets no gradient
    (a map of the target).
    """

    @staticmethod
    def forward(ctx, s: Tensor, g: Tensor, smooth: float) -> Tensor:
        lead = s.shape[:2]
        s2, g2 = s.reshape(lead.numel(), -1), g.reshape(lead.numel(), -1)
        dot = torch.linalg.vecdot
        inter, ss, gg = dot(s2, g2), dot(s2, s2), dot(g2, g2)
        denom = inter + ss + gg + smooth
        l1 = (s2 - g2).abs_().sum(-1) / s2.shape[1]
        ctx.save_for_backward(s, g, inter, ss, gg, denom)
        ctx.smooth = smooth
        return (l1 - (inter + smooth) / denom).view(lead)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, None, None]:
        s, g, inter, ss, gg, denom = ctx.saved_tensors
        lead = s.shape[:2]
        s2, g2 = s.reshape(lead.numel(), -1), g.reshape(lead.numel(), -1)
        n = s2.shape[1]
        w = grad.reshape(-1, 1)
        d2 = denom.square().unsqueeze(1)
        out = torch.sub(s2, g2).sign_().mul_(w / n)
        out.addcmul_(s2, 2 * (inter + ctx.smooth).unsqueeze(1) * w / d2)
        out.addcmul_(g2, -(ss + gg).unsqueeze(1) * w / d2)
        return out.view(s.shape), None, None


def signed_distance_loss(
    input: Tensor,
    target: Tensor,
    *,
    spacing: SpacingLike = None,
    dist_map: Tensor | None = None,
    include_background: bool = True,
    classes: Sequence[int] | None = None,
    to_onehot_y: bool | None = None,
    smooth: float = 1e-5,
    empty: Empty = "zero",
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Loss for a network head that regresses a normalised signed distance function.

    .. math::
        L_{b,c} = -\frac{\sum_x s g + \epsilon}{\sum_x s g + \sum_x s^2 + \sum_x g^2 + \epsilon}
                  + \frac{1}{|\Omega|}\sum_x |s - g|

    ``s`` is the raw head output (end the head with ``tanh``; no softmax/sigmoid is applied
    here) and ``g`` :func:`normalized_signed_distance` of the target (outside in ``[0, 1]``,
    inside in ``[-1, 0]``). A perfect prediction gives ``-1/3`` (the product term's
    minimum), not 0. Segmentation is recovered as ``sigmoid(-1500 * s)``; the authors train
    ``Dice + 10 * L``. Unlike the binary-only reference, one channel per class works.

    Args:
        input: predicted SDF ``(B, C, *spatial)``.
        target: index or one-hot target (``C = 1``: a binary mask).
        dist_map: precomputed normalised SDF ``g`` for the selected or all classes (values in
            ``[-1, 1]``; a raw signed distance raises ``ValueError``).
        empty: ``g`` of a class absent from a sample: ``"zero"`` (0, the reference's) or
            ``"diagonal"`` (1), see :func:`normalized_signed_distance`.
        reduction: ``"none"`` gives ``(B, C')``.

    Reference:
        Y. Xue et al., "Shape-aware organ segmentation by predicting signed distance maps",
        AAAI 2020.

    Example:
        >>> t = torch.zeros(1, 1, 8, 8, dtype=torch.long); t[..., 2:6, 2:6] = 1
        >>> g = normalized_signed_distance(t.bool())
        >>> round(signed_distance_loss(g, t).item(), 4)
        -0.3333
    """
    check_reduction(reduction)
    check_empty(empty)
    if dist_map is None:
        check_map_dims(input, "signed_distance_loss")
    prep = prepare(input, target, spacing=spacing, softmax=False, sigmoid=False, to_onehot_y=to_onehot_y,
                   include_background=include_background, classes=classes, activate=False, read_meta=True)
    spacing = prep.spacing
    with no_autocast(input.device):
        s = pick(prep.probs, prep.channels)
        if dist_map is None:
            g = normalized_signed_distance(binary_masks(prep.onehot, prep.channels), spacing, empty=empty)
        else:
            g = check_map(dist_map, tuple(s.shape), tuple(prep.onehot.shape), prep.channels)
            # a raw signed distance (edgewise.maps.signed_distance) instead of the normalised one
            # would train the head towards values tanh cannot reach
            top = float(g.abs().max()) if g.numel() else 0.0
            if top > 1 + 1e-4:
                raise ValueError(
                    "expected dist_map as a normalised signed distance in [-1, 1] "
                    f"(normalized_signed_distance), got values up to |{top:.4g}|"
                )
        g = g.to(device=s.device, dtype=s.dtype)
        return reduce(_SdfRegression.apply(s, g, smooth), reduction)


class SignedDistanceLoss(MapLossBase):
    """Module form of :func:`signed_distance_loss`."""

    function = staticmethod(signed_distance_loss)
    checks = {"empty": check_empty}
