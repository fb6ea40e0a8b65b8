"""Distance-map penalised cross-entropy (Calivá et al., MIDL 2019)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from edgewise._core.spacing import SpacingLike

from ._base import MapLossBase
from ._utils import (
    Reduction,
    all_finite,
    check_map_dims,
    class_argmax,
    check_reduction,
    no_autocast,
)
from .regional import _EPS, cross_entropy_parts

__all__ = ["DistancePenalizedCELoss", "penalized_ce_loss"]


def penalized_ce_loss(
    input: Tensor,
    target: Tensor,
    *,
    spacing: SpacingLike = None,
    dist_map: Tensor | None = None,
    weight: Sequence[float] | Tensor | None = None,
    ignore_index: int | None = None,
    softmax: bool | None = None,
    sigmoid: bool = False,
    to_onehot_y: bool | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Cross-entropy weighted per pixel by ``1 + Phi``, Phi larger near ground-truth boundaries.

    .. math::
        L = \frac{1}{N}\sum_x \bigl(1 + \Phi(x)\bigr)\, \mathrm{CE}(x)

    :math:`\Phi` is :func:`edgewise.maps.penalty_map` of the target: per-class inner
    distance maps, inverted so that pixels near a boundary weigh most, combined over classes
    (multi-class, spacing-aware, finite on empty ground truth). Each pixel is weighed by the
    map of its own class, so a class absent from the sample weighs nothing and needs no
    absent-class fill (the ``empty=`` option of the signed maps does not apply). The penalty is really
    applied: ``"none"`` returns ``(1 + Phi) * CE`` per pixel and the reductions are those of
    :func:`~edgewise.losses.cross_entropy_loss` on it (SegLossOdyssey's ``DisPenalizedCE``
    returns the unweighted mean). With ``Phi = 0`` the loss is exactly the cross-entropy.

    Args:
        dist_map: precomputed penalty ``(B, 1, *spatial)`` (or ``(B, *spatial)``).
        weight, ignore_index, softmax, sigmoid, to_onehot_y: as in ``cross_entropy_loss``.
        reduction: ``"none"`` gives ``(B, *spatial)`` (``(B, C, *spatial)`` with sigmoid or a
            single channel).

    Reference:
        F. Calivá et al., "Distance map loss penalty term for semantic segmentation", MIDL 2019.

    Example:
        >>> t = torch.zeros(1, 1, 8, 8, dtype=torch.long); t[..., 2:6, 2:6] = 1
        >>> penalized_ce_loss(torch.randn(1, 2, 8, 8), t).shape
        torch.Size([])
    """
    check_reduction(reduction)
    if dist_map is None:
        check_map_dims(input, "penalized_ce_loss")
    with no_autocast(input.device):
        per, denom, prep = cross_entropy_parts(input, target, weight=weight, ignore_index=ignore_index,
                                               softmax=softmax, sigmoid=sigmoid, to_onehot_y=to_onehot_y,
                                               spacing=spacing, read_meta=True)
        spacing = prep.spacing
        b, spatial = input.shape[0], tuple(input.shape[2:])
        if dist_map is None:
            from edgewise.maps import penalty_map

            # the penalty needs a partition: argmax of the (possibly soft) target, with
            # ignored pixels (excluded from the loss anyway) counted as class 0
            if prep.onehot.shape[1] == 1:
                labels = (prep.onehot > 0.5).long()
            else:
                # an index target's labels as prepared: the argmax of its one-hot
                labels = prep.labels if prep.labels is not None else class_argmax(prep.onehot)
            phi = penalty_map(labels, spacing, num_classes=max(prep.onehot.shape[1], 2))
        else:
            if not isinstance(dist_map, Tensor):
                raise TypeError(f"expected dist_map to be a torch.Tensor, got {type(dist_map).__name__}")
            if not dist_map.is_floating_point():
                raise TypeError(f"expected a floating-point dist_map, got dtype {dist_map.dtype}")
            phi = dist_map.detach()
            if tuple(phi.shape) == (b, *spatial):
                phi = phi.unsqueeze(1)
            if tuple(phi.shape) != (b, 1, *spatial):
                raise ValueError(f"expected dist_map of shape {(b, 1, *spatial)}, got {tuple(dist_map.shape)}")
            if not all_finite(phi):
                raise ValueError("expected finite values in dist_map, got nan or inf")
        phi = phi.to(device=per.device, dtype=per.dtype)
        # binary CE (sigmoid or one channel) keeps its channel axis, softmax CE has none
        factor = 1 + (phi if per.dim() == phi.dim() else phi[:, 0])
        weighted = factor * per
        if reduction == "none":
            return weighted
        if reduction == "sum":
            return weighted.sum()
        return weighted.sum() / denom.clamp_min(_EPS)


class DistancePenalizedCELoss(MapLossBase):
    """Module form of :func:`penalized_ce_loss`.

    Example:
        >>> t = torch.zeros(1, 1, 8, 8, dtype=torch.long); t[..., 2:6, 2:6] = 1
        >>> DistancePenalizedCELoss()(torch.randn(1, 2, 8, 8), t).dim()
        0
    """

    function = staticmethod(penalized_ce_loss)
