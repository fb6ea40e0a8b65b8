"""Region-wise loss with rectified region-wise (RRW) maps (Valverde & Tohka, Pattern Recognition 2023)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from edgewise._core.elementwise import greater
from edgewise._core.spacing import SpacingLike

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

__all__ = ["RegionWiseLoss", "StabilityReport", "check_stability", "region_wise_loss", "rrw_maps"]

MapFn = Callable[..., Tensor]


def rrw_maps(onehot: Tensor, spacing: SpacingLike = None) -> Tensor:
    """RRW maps of a one-hot target ``(B, C, *spatial)`` (spacing is not used by RRW)."""
    from edgewise.maps import rrw_map

    if onehot.dtype == torch.bool:
        # as is: ``> 0.5`` of a bool tensor gives the same values through a float copy
        return rrw_map(onehot)
    return rrw_map(greater(onehot, 0.5) if onehot.is_floating_point() else onehot > 0.5)


@dataclass(frozen=True)
class StabilityReport:
    """Result of :func:`check_stability`.

    Attributes:
        ok: ``strict`` and ``bounded``.
        strict: at every checked pixel the ground-truth class has the strictly lowest value.
        violation_fraction: fraction of pixels where another class is strictly lower.
        tie_fraction: fraction of pixels where another class equals the ground-truth value.
        bounded: all values finite with ``|value| <= bound``.
        max_abs: largest absolute map value.
        checked_pixels: pixels with a ground-truth class (all of them for a full one-hot).
    """

    ok: bool
    strict: bool
    violation_fraction: float
    tie_fraction: float
    bounded: bool
    max_abs: float
    checked_pixels: int

    def __str__(self) -> str:
        if self.ok:
            return "map satisfies the stability principle"
        parts = []
        if not self.strict:
            parts.append(
                f"ground-truth class not strictly lowest at {100 * (self.violation_fraction + self.tie_fraction):.2f}% "
                f"of pixels ({100 * self.tie_fraction:.2f}% ties)"
            )
        if not self.bounded:
            parts.append(f"values not bounded (max |value| = {self.max_abs:.4g})")
        return "map violates the stability principle: " + "; ".join(parts)


@torch.no_grad()
def check_stability(
    maps: Tensor,
    target: Tensor,
    *,
    classes: Sequence[int] | None = None,
    bound: float = 1.0,
) -> StabilityReport:
    r"""Check maps against Valverde & Tohka's stability principle.

    The region-wise loss :math:`\sum_c p_c(x) m_c(x)` is minimised pixel-wise by putting all
    mass on the class with the lowest map value, so training is stable when, at every pixel,
    the ground-truth class has the **strictly lowest** value, and the maps are **bounded**.
    RRW maps satisfy it (values in ``[-1, 1]``); boundary-loss maps restricted to the
    foreground create ties (the missing background map counts as 0) and grow with the
    image size.

    Args:
        maps: ``(B, C', *spatial)`` maps of the classes ``classes`` (default: all C).
        target: index ``(B, 1, *spatial)`` or one-hot ``(B, C, *spatial)``.
        classes: channels the maps belong to; the other classes count as an all-zero map,
            which is what the loss uses for them.
        bound: the largest admissible ``|value|``.

    Returns:
        A :class:`StabilityReport`.

    Example:
        >>> t = torch.zeros(1, 1, 6, 6, dtype=torch.long); t[..., 1:4, 1:4] = 1
        >>> onehot = torch.cat([t == 0, t == 1], 1)
        >>> check_stability(rrw_maps(onehot), t).ok
        True
    """
    if maps.dim() < 3:
        raise ValueError(f"expected maps of shape (B, C', *spatial), got {tuple(maps.shape)}")
    b = maps.shape[0]
    spatial = tuple(maps.shape[2:])
    if target.dim() == maps.dim() and target.shape[1] == 1 and tuple(target.shape[2:]) == spatial:
        labels = target.long()
        num_classes = int(labels.max()) + 1 if classes is None else None
    elif target.dim() == maps.dim() and tuple(target.shape[2:]) == spatial:
        labels = None
        num_classes = target.shape[1]
    else:
        raise ValueError(
            f"expected target (B, 1, *spatial) or (B, C, *spatial) with spatial {spatial}, got {tuple(target.shape)}"
        )
    if classes is None:
        c_all = maps.shape[1] if num_classes is None else max(num_classes, maps.shape[1])
        chosen = list(range(maps.shape[1]))
    else:
        chosen = [int(c) for c in classes]
        if len(chosen) != maps.shape[1]:
            raise ValueError(f"expected {len(chosen)} maps for classes {chosen}, got {maps.shape[1]}")
        c_all = max(max(chosen) + 1, num_classes or 0,
                    int(labels.max()) + 1 if labels is not None else 0)
    full = maps.new_zeros((b, c_all, *spatial), dtype=torch.float64)
    full[:, chosen] = maps.double()
    if labels is None:
        onehot = target > 0.5
        checked = onehot.any(1, keepdim=True)
        labels = onehot.float().argmax(1, keepdim=True)
    else:
        checked = torch.ones_like(labels, dtype=torch.bool)
    gt_val = full.gather(1, labels)
    others = full.scatter(1, labels, float("inf"))
    lowest_other = others.min(1, keepdim=True).values
    n = int(checked.sum())
    viol = int(((lowest_other < gt_val) & checked).sum())
    ties = int(((lowest_other == gt_val) & checked).sum())
    finite = bool(torch.isfinite(maps).all())
    max_abs = float(maps.abs().max()) if maps.numel() else 0.0
    bounded = finite and max_abs <= bound
    strict = viol == 0 and ties == 0
    return StabilityReport(
        ok=strict and bounded,
        strict=strict,
        violation_fraction=viol / max(n, 1),
        tie_fraction=ties / max(n, 1),
        bounded=bounded,
        max_abs=max_abs,
        checked_pixels=n,
    )


def region_wise_loss(
    input: Tensor,
    target: Tensor,
    *,
    spacing: SpacingLike = None,
    dist_map: Tensor | None = None,
    map_fn: MapFn | None = None,
    include_background: bool = True,
    classes: Sequence[int] | None = None,
    softmax: bool | None = None,
    sigmoid: bool = False,
    to_onehot_y: bool | None = None,
    reduction: Reduction = "mean",
    check: bool = False,
) -> Tensor:
    r"""Region-wise loss: mean of probabilities times a region-wise map.

    .. math::
        L_{b,c} = \frac{1}{|\Omega|}\sum_x p_{bc}(x)\, m_{bc}(x)

    With the default rectified region-wise (RRW) maps, per class :math:`c`:
    :math:`m_c = -\mathrm{EDT}(Y_c)/\max \mathrm{EDT}(Y_c)` inside the class (values in
    ``[-1, -1/max]``) and ``+1`` elsewhere (no spacing, background included, as in
    ``jmlipman/RegionWiseLoss``). An absent class has ``+1`` everywhere (Valverde & Tohka's
    rule that every non-class pixel is +1; the reference reuses a stale array there), so its
    false positives are penalised: the ``empty="zero"`` default of the signed maps does not
    apply to RRW.

    Args:
        map_fn: ``map_fn(onehot, spacing) -> maps`` of shape ``(B, C, *spatial)``, called
            with the boolean one-hot target of all classes; default :func:`rrw_maps`.
        dist_map: precomputed maps ``(B, C', *spatial)`` or ``(B, C, *spatial)``.
        check: check the maps with :func:`check_stability` and warn on a violation (the
            module does this once, on its first call).
        reduction: ``"none"`` gives ``(B, C')``.

    Reference:
        M. Valverde, J. Tohka, "Region-wise loss for biomedical image segmentation",
        Pattern Recognition 136 (2023).

    Example:
        >>> t = torch.zeros(1, 1, 8, 8, dtype=torch.long); t[..., 2:6, 2:6] = 1
        >>> region_wise_loss(torch.randn(1, 2, 8, 8), t).shape
        torch.Size([])
    """
    check_reduction(reduction)
    if dist_map is None and map_fn is None:
        check_map_dims(input, "region_wise_loss (RRW maps)")
    prep = prepare(input, target, spacing=spacing, softmax=softmax, sigmoid=sigmoid, to_onehot_y=to_onehot_y,
                   include_background=include_background, classes=classes, read_meta=True)
    spacing = prep.spacing
    with no_autocast(input.device):
        p = pick(prep.probs, prep.channels)
        if dist_map is None:
            fn = map_fn if map_fn is not None else rrw_maps
            with torch.no_grad():
                full = fn(target_masks(prep, list(range(prep.onehot.shape[1]))), spacing)
            maps = check_map(full, tuple(p.shape), tuple(prep.onehot.shape), prep.channels,
                             name="map_fn output")
        else:
            maps = check_map(dist_map, tuple(p.shape), tuple(prep.onehot.shape), prep.channels)
        if check:
            if prep.onehot.shape[1] == 1:
                # binary head: the one channel is class 1, the background's map is implicitly 0
                report = check_stability(maps, (prep.onehot > 0.5).long(), classes=[1])
            else:
                report = check_stability(maps, prep.onehot, classes=prep.channels)
            if not report.ok:
                warnings.warn(f"region_wise_loss: {report}", RuntimeWarning, stacklevel=2)
        loss = spatial_mean(p * maps.to(device=p.device, dtype=p.dtype))
        return reduce(loss, reduction)


class RegionWiseLoss(MapLossBase):
    """Module form of :func:`region_wise_loss`.

    The maps of the first call are checked with :func:`check_stability` (``check=True``);
    a violation raises a ``RuntimeWarning`` once. Set ``check=False`` to skip it.

    Example:
        >>> t = torch.zeros(1, 1, 8, 8, dtype=torch.long); t[..., 2:6, 2:6] = 1
        >>> RegionWiseLoss()(torch.randn(1, 2, 8, 8), t).dim()
        0
    """

    function = staticmethod(region_wise_loss)
    defaults = {"check": True}
    _checked = False

    def call_options(self) -> dict[str, Any]:
        options = super().call_options()
        options["check"] = self.check and not self._checked
        self._checked = self._checked or options["check"]
        return options
