r"""Surface distance metrics: Hausdorff (HD, HD95), ASSD, NSD, boundary F1.

Every metric starts from the same per-case, per-class quantities, computed once by
:func:`surface_distances`: the surface points of prediction :math:`S_P` and target :math:`S_T`
with weights :math:`w` (contour length / surfel area in mm for the default corner model, 1 per
voxel for the voxel model), and the directed distances
:math:`d_{P\to T}(p) = \min_{t \in S_T} \lVert p - t \rVert` (exact, in mm) and
:math:`d_{T\to P}`. See ``docs/metrics.md`` for the definitions and how each option maps onto
deepmind surface-distance, MONAI and medpy. The search itself is in
:mod:`edgewise.metrics._nearest_surface`; the perimeter error, which needs no distances, in
:mod:`edgewise.metrics.perimeter`.

Empty surfaces (policy ``empty="worst"``, the default): when both surfaces are empty the
segmentations agree (distances 0, NSD 1, boundary F1 1); when exactly one is empty the
distances are ``inf`` (or ``max_distance`` when given) and NSD/boundary F1 are 0. With
``empty="nan"`` every case with an empty surface is ``nan``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from edgewise._core.spacing import SpacingLike

from ._nearest_surface import pair_distances
from ._validate import (
    ArrayLike,
    EmptyPolicy,
    Tolerance,
    check_choice,
    pair_with_spacing,
    tolerance_tensor,
)
from .surface import SurfaceModel, image_diagonal

__all__ = [
    "SurfaceDistances",
    "surface_distances",
    "hausdorff_distance",
    "average_surface_distance",
    "surface_dice",
    "boundary_f1",
]

PercentileMethod = Literal["weighted_directed", "linear_directed", "linear_pooled"]
AssdMethod = Literal["pooled", "mean_of_directed"]
MaxDistance = None | float | Literal["diagonal"]

# float32 distances may round a lattice distance equal to the tolerance to just above it
_TIE = 1e-6


@dataclass
class SurfaceDistances:
    """Directed surface distances of every (case, class) pair, computed once and shared by all
    distance metrics.

    Attributes:
        pred_to_target: per pair (row-major over ``(B, C)``), distances in mm from each
            prediction surface point to the target surface (float64, surface order).
        pred_weights: the matching surface weights (float64).
        target_to_pred: distances from each target surface point to the prediction surface.
        target_weights: the matching weights.
        diagonal: ``(B,)`` image diagonal in mm (used by ``max_distance="diagonal"``).
        shape: ``(B, C)``.
        device: where the values live.
        pred_ranks, target_ranks: per pair, ranks of the weights (ties of distance are ordered
            by weight, as deepmind does), or None when all weights are equal.
    """

    pred_to_target: list[Tensor]
    pred_weights: list[Tensor]
    target_to_pred: list[Tensor]
    target_weights: list[Tensor]
    diagonal: Tensor
    shape: tuple[int, int]
    device: torch.device
    pred_ranks: list[Tensor] | None = None
    target_ranks: list[Tensor] | None = None

    # -- helpers -------------------------------------------------------------------------
    def _finish(self, values: list[Tensor]) -> Tensor:
        if not values:
            return torch.zeros(self.shape, dtype=torch.float32, device=self.device)
        return torch.stack(values).reshape(self.shape).to(torch.float32)

    def _const(self, value: float) -> Tensor:
        return torch.tensor(value, dtype=torch.float64, device=self.device)

    def _empty_value(
        self, i: int, worst: float, best: float, empty: EmptyPolicy, max_distance: MaxDistance
    ) -> Tensor | None:
        """Value for a pair with an empty surface, or None when both surfaces exist."""
        ep, et = self.pred_to_target[i].numel() == 0, self.target_to_pred[i].numel() == 0
        if not (ep or et):
            return None
        if empty == "nan":
            return self._const(float("nan"))
        if ep and et:
            return self._const(best)
        if worst == float("inf") and max_distance is not None:
            if max_distance == "diagonal":
                return self.diagonal[i // self.shape[1]].to(self.device, torch.float64)
            return self._const(float(max_distance))
        return self._const(worst)

    @staticmethod
    def _check_empty(empty: str, max_distance: MaxDistance) -> None:
        check_choice(empty, "empty", ("worst", "nan"))
        if max_distance is not None and max_distance != "diagonal":
            if isinstance(max_distance, str) or not float(max_distance) > 0:
                raise ValueError(
                    "expected max_distance None, 'diagonal' or a positive number, "
                    f"got {max_distance!r}"
                )

    # -- metrics -------------------------------------------------------------------------
    def hausdorff(
        self,
        percentile: float | None = None,
        percentile_method: PercentileMethod = "weighted_directed",
        empty: EmptyPolicy = "worst",
        max_distance: MaxDistance = None,
    ) -> Tensor:
        """``(B, C)`` Hausdorff distance (``percentile=None``) or its percentile version."""
        self._check_empty(empty, max_distance)
        check_choice(
            percentile_method,
            "percentile_method",
            ("weighted_directed", "linear_directed", "linear_pooled"),
        )
        if percentile is not None and not 0 <= percentile <= 100:
            raise ValueError(f"expected percentile in [0, 100] or None, got {percentile}")
        out = []
        for i in range(len(self.pred_to_target)):
            special = self._empty_value(i, float("inf"), 0.0, empty, max_distance)
            if special is not None:
                out.append(special)
                continue
            dp, dt = self.pred_to_target[i], self.target_to_pred[i]
            if percentile is None:
                out.append(torch.maximum(dp.max(), dt.max()))
            elif percentile_method == "weighted_directed":
                rp = None if self.pred_ranks is None else self.pred_ranks[i]
                rt = None if self.target_ranks is None else self.target_ranks[i]
                out.append(
                    torch.maximum(
                        _weighted_percentile(dp, self.pred_weights[i], rp, percentile),
                        _weighted_percentile(dt, self.target_weights[i], rt, percentile),
                    )
                )
            elif percentile_method == "linear_directed":
                out.append(
                    torch.maximum(
                        _linear_percentile(dp, percentile), _linear_percentile(dt, percentile)
                    )
                )
            else:
                out.append(_linear_percentile(torch.cat([dp, dt]), percentile))
        return self._finish(out)

    def average(
        self,
        symmetric: bool = True,
        assd_method: AssdMethod = "pooled",
        empty: EmptyPolicy = "worst",
        max_distance: MaxDistance = None,
    ) -> Tensor:
        """``(B, C)`` average symmetric surface distance, or the directed mean prediction to
        target when ``symmetric=False``."""
        self._check_empty(empty, max_distance)
        check_choice(assd_method, "assd_method", ("pooled", "mean_of_directed"))
        out = []
        for i in range(len(self.pred_to_target)):
            special = self._empty_value(i, float("inf"), 0.0, empty, max_distance)
            if special is not None:
                out.append(special)
                continue
            dp, wp = self.pred_to_target[i], self.pred_weights[i]
            dt, wt = self.target_to_pred[i], self.target_weights[i]
            sp, st = (dp * wp).sum(), (dt * wt).sum()
            if not symmetric:
                out.append(sp / wp.sum())
            elif assd_method == "pooled":
                out.append((sp + st) / (wp.sum() + wt.sum()))
            else:
                out.append(0.5 * (sp / wp.sum() + st / wt.sum()))
        return self._finish(out)

    def _within(self, tolerance: Tolerance) -> list[tuple[Tensor, Tensor]]:
        """Per pair, the fractions of the prediction and target surfaces within tolerance."""
        tol = tolerance_tensor(tolerance, self.shape[1])
        fractions = []
        for i in range(len(self.pred_to_target)):
            limit = float(tol[i % self.shape[1]]) * (1 + _TIE)
            fp = (self.pred_weights[i] * (self.pred_to_target[i] <= limit)).sum()
            ft = (self.target_weights[i] * (self.target_to_pred[i] <= limit)).sum()
            fractions.append((fp, ft))
        return fractions

    def surface_dice(self, tolerance: Tolerance, empty: EmptyPolicy = "worst") -> Tensor:
        """``(B, C)`` normalised surface Dice: both surfaces pooled."""
        self._check_empty(empty, None)
        out = []
        for i, (fp, ft) in enumerate(self._within(tolerance)):
            special = self._empty_value(i, 0.0, 1.0, empty, None)
            if special is not None:
                out.append(special)
                continue
            total = self.pred_weights[i].sum() + self.target_weights[i].sum()
            out.append((fp + ft) / total)
        return self._finish(out)

    def boundary_f1(self, tolerance: Tolerance, empty: EmptyPolicy = "worst") -> Tensor:
        """``(B, C)`` boundary F1: harmonic mean of the directed fractions."""
        self._check_empty(empty, None)
        out = []
        for i, (fp, ft) in enumerate(self._within(tolerance)):
            special = self._empty_value(i, 0.0, 1.0, empty, None)
            if special is not None:
                out.append(special)
                continue
            precision = fp / self.pred_weights[i].sum()
            recall = ft / self.target_weights[i].sum()
            total = precision + recall
            out.append(
                torch.where(total > 0, 2 * precision * recall / total.clamp_min(1e-300), 0.0)
            )
        return self._finish(out)


def _weighted_percentile(d: Tensor, w: Tensor, rank: Tensor | None, percentile: float) -> Tensor:
    """deepmind's area-weighted percentile: the first distance, in ascending order, whose
    cumulative weight fraction reaches ``percentile``; no interpolation."""
    total = w.sum()
    q = percentile / 100.0
    # the answer and everything above it weigh more than (1 - q) of the total, and all but the
    # answer at most that much, so it lies among the k largest distances: sort only those
    k = min(d.numel(), int((1 - q) * float(total) / float(w.min())) + 2)
    if k < d.numel():
        threshold = torch.kthvalue(d, d.numel() - k + 1).values
        tail = (d >= threshold).nonzero().squeeze(1)
        below = total - w[tail].sum()
        d, w = d[tail], w[tail]
        rank = None if rank is None else rank[tail]
    else:
        below = torch.zeros((), dtype=w.dtype, device=w.device)
    if rank is None:
        order = torch.argsort(d)
    else:
        # one sort on (distance, weight): float32 bits of a non-negative float sort like it
        order = torch.argsort((d.float().view(torch.int32).long() << 16) | rank)
    d, w = d[order], w[order]
    cumulative = (below + torch.cumsum(w, 0)) / total
    threshold_q = torch.tensor([q], dtype=cumulative.dtype, device=cumulative.device)
    index = torch.searchsorted(cumulative, threshold_q).clamp_max(d.numel() - 1)
    return d[index[0]]


def _linear_percentile(d: Tensor, percentile: float) -> Tensor:
    """numpy/torch ``quantile`` with linear interpolation (each point counts once)."""
    rank = percentile / 100.0 * (d.numel() - 1)
    lower = int(rank)
    upper = min(lower + 1, d.numel() - 1)
    lo = torch.kthvalue(d, lower + 1).values
    hi = torch.kthvalue(d, upper + 1).values if upper != lower else lo
    return lo + (hi - lo) * (rank - lower)


def surface_distances(
    pred: ArrayLike,
    target: ArrayLike,
    *,
    spacing: SpacingLike = None,
    include_background: bool = True,
    surface: SurfaceModel = "corner",
    connectivity: int = 1,
    border_is_surface: bool = True,
) -> SurfaceDistances:
    r"""Directed surface distances of every (case, class) pair, for all distance metrics.

    One surface extraction and one nearest-point search per surface (lattice shells and a k-d
    tree on CPU, a distance transform on CUDA; exact either way): HD, HD95, ASSD, NSD and
    boundary F1 computed from the result cost no further search.

    Args:
        pred: one-hot prediction ``(B, C, *spatial)`` (2D or 3D), bool or 0/1, tensor or array.
        target: one-hot target of the same shape.
        spacing: voxel spacing in mm in array axis order: None (1, or the per-sample spacing
            of a MONAI ``MetaTensor`` target/prediction), a number, one per axis, or per
            sample ``(B, ndim)``.
        include_background: keep channel 0; with False it is dropped (as MONAI).
        surface: ``"corner"`` (deepmind: corner points weighted by contour length/surfel
            area) or ``"voxel"`` (MONAI/medpy: boundary voxels, weight 1).
        connectivity: voxel model only: erosion structure, 1 (faces, MONAI/medpy default) to
            ``ndim`` (full).
        border_is_surface: whether the image border cuts a touching mask with a surface
            (deepmind, MONAI and medpy all say yes).

    Returns:
        A :class:`SurfaceDistances` whose methods give ``(B, C)`` metric tensors.

    Example:
        >>> import torch
        >>> t = torch.zeros(1, 1, 16, 16, dtype=torch.bool); t[..., 4:10, 4:10] = True
        >>> p = torch.roll(t, 2, dims=2)
        >>> sd = surface_distances(p, t)
        >>> sd.hausdorff().item(), sd.hausdorff(95).item()
        (2.0, 2.0)
    """
    p, t, spacing_b = pair_with_spacing(pred, target, spacing, include_background)
    check_choice(surface, "surface", ("corner", "voxel"))
    batch, channels = p.shape[:2]
    pairs = pair_distances(
        p,
        t,
        spacing_b,
        surface=surface,
        connectivity=connectivity,
        border_is_surface=border_is_surface,
    )
    ranks = surface == "corner"
    return SurfaceDistances(
        pred_to_target=pairs.distances[0],
        pred_weights=pairs.weights[0],
        target_to_pred=pairs.distances[1],
        target_weights=pairs.weights[1],
        pred_ranks=pairs.ranks[0] if ranks else None,
        target_ranks=pairs.ranks[1] if ranks else None,
        diagonal=image_diagonal(tuple(p.shape[2:]), spacing_b),
        shape=(batch, channels),
        device=p.device,
    )


_SURFACE_ARGS = """
        spacing: voxel spacing in mm in array axis order: None (1, or the per-sample spacing
            of a MONAI ``MetaTensor`` target/prediction), a number, one per axis, or per
            sample ``(B, ndim)``.
        include_background: keep channel 0 (default); False drops it, as MONAI.
        surface: ``"corner"`` (default, deepmind) or ``"voxel"`` (MONAI/medpy).
        connectivity: voxel model's erosion structure, 1 (faces) to ``ndim`` (full).
        border_is_surface: whether the image border counts as surface (default True, as
            deepmind, MONAI and medpy)."""


def hausdorff_distance(
    pred: ArrayLike,
    target: ArrayLike,
    *,
    spacing: SpacingLike = None,
    percentile: float | None = None,
    include_background: bool = True,
    surface: SurfaceModel = "corner",
    connectivity: int = 1,
    border_is_surface: bool = True,
    percentile_method: PercentileMethod = "weighted_directed",
    empty: EmptyPolicy = "worst",
    max_distance: MaxDistance = None,
) -> Tensor:
    r"""Hausdorff distance and its percentile version (HD95 with ``percentile=95``).

    .. math::
        \mathrm{HD} = \max\Big(\max_{p \in S_P} d_{P\to T}(p),\; \max_{t \in S_T} d_{T\to P}(t)\Big)

    With a percentile :math:`q`:

    - ``"weighted_directed"`` (default, deepmind): in each direction the smallest distance
      whose cumulative surface weight reaches :math:`q\%`, then the max of the two.
    - ``"linear_directed"`` (MONAI, MetricsReloaded): linear-interpolated percentile of the
      distances of each direction (each point counts once), then the max.
    - ``"linear_pooled"`` (medpy, seg-metrics): one linear percentile of both directions'
      distances pooled.

    Args:
        pred: one-hot prediction ``(B, C, *spatial)``, bool or 0/1.
        target: one-hot target, same shape.
        percentile: None for the Hausdorff distance, else in [0, 100].{surface_args}
        percentile_method: see above.
        empty: ``"worst"`` (default): one empty surface gives ``inf`` (or ``max_distance``),
            two give 0; ``"nan"``: any empty surface gives nan.
        max_distance: replaces ``inf``: a number in mm or ``"diagonal"`` (image diagonal).

    Returns:
        ``(B, C)`` float32 distances in mm on the input's device.

    Shapes:
        - pred, target: :math:`(B, C, H, W)` or :math:`(B, C, D, H, W)`.
        - output: :math:`(B, C)`.

    Reference:
        Nikolov et al., "Clinically applicable segmentation of head and neck anatomy for
        radiotherapy", JMIR 2021 (surface-distance).

    Example:
        >>> import torch
        >>> t = torch.zeros(1, 1, 16, 16); t[..., 4:10, 4:10] = 1
        >>> hausdorff_distance(torch.roll(t, 3, dims=3), t, percentile=95)
        tensor([[3.]])
    """
    sd = surface_distances(
        pred,
        target,
        spacing=spacing,
        include_background=include_background,
        surface=surface,
        connectivity=connectivity,
        border_is_surface=border_is_surface,
    )
    return sd.hausdorff(percentile, percentile_method, empty, max_distance)


def average_surface_distance(
    pred: ArrayLike,
    target: ArrayLike,
    *,
    spacing: SpacingLike = None,
    symmetric: bool = True,
    include_background: bool = True,
    surface: SurfaceModel = "corner",
    connectivity: int = 1,
    border_is_surface: bool = True,
    assd_method: AssdMethod = "pooled",
    empty: EmptyPolicy = "worst",
    max_distance: MaxDistance = None,
) -> Tensor:
    r"""Average (symmetric) surface distance.

    .. math::
        \mathrm{ASSD}_{pooled} = \frac{\sum_{S_P} w\, d_{P\to T} + \sum_{S_T} w\, d_{T\to P}}
                                      {\sum_{S_P} w + \sum_{S_T} w}, \qquad
        \mathrm{MASD} = \tfrac12\Big(\frac{\sum_{S_P} w\, d_{P\to T}}{\sum_{S_P} w}
                        + \frac{\sum_{S_T} w\, d_{T\to P}}{\sum_{S_T} w}\Big)

    ``symmetric=False`` gives the directed mean from prediction to target (MONAI's default).

    Args:
        pred: one-hot prediction ``(B, C, *spatial)``, bool or 0/1.
        target: one-hot target, same shape.
        symmetric: both directions (default) or prediction to target only.{surface_args}
        assd_method: ``"pooled"`` (default; MONAI ``symmetric=True``, medpy 0.5.2,
            MetricsReloaded ``assd``) or ``"mean_of_directed"`` (MetricsReloaded ``masd``,
            medpy <= 0.4).
        empty: see :func:`hausdorff_distance`.
        max_distance: see :func:`hausdorff_distance`.

    Returns:
        ``(B, C)`` float32 distances in mm on the input's device.

    Example:
        >>> import torch
        >>> t = torch.zeros(1, 1, 9, 9); t[..., 4, 4] = 1
        >>> p = torch.zeros(1, 1, 9, 9); p[..., 4, 5] = 1
        >>> average_surface_distance(p, t)
        tensor([[0.5000]])
    """
    sd = surface_distances(
        pred,
        target,
        spacing=spacing,
        include_background=include_background,
        surface=surface,
        connectivity=connectivity,
        border_is_surface=border_is_surface,
    )
    return sd.average(symmetric, assd_method, empty, max_distance)


def surface_dice(
    pred: ArrayLike,
    target: ArrayLike,
    tolerance: Tolerance,
    *,
    spacing: SpacingLike = None,
    include_background: bool = True,
    surface: SurfaceModel = "corner",
    connectivity: int = 1,
    border_is_surface: bool = True,
    empty: EmptyPolicy = "worst",
) -> Tensor:
    r"""Normalised surface Dice (NSD) at tolerance :math:`\tau` (Nikolov et al.).

    Both surfaces pooled:

    .. math::
        \mathrm{NSD} = \frac{\sum_{S_P} w\,[d_{P\to T} \le \tau]
                             + \sum_{S_T} w\,[d_{T\to P} \le \tau]}
                            {\sum_{S_P} w + \sum_{S_T} w}

    With the default corner surface this is deepmind's ``compute_surface_dice_at_tolerance``
    and MONAI's ``compute_surface_dice(use_subvoxels=True)``; with ``surface="voxel"`` MONAI's
    default (voxel counts). Compare :func:`boundary_f1`, the harmonic mean of the two directed
    fractions.

    Args:
        pred: one-hot prediction ``(B, C, *spatial)``, bool or 0/1.
        target: one-hot target, same shape.
        tolerance: :math:`\tau` in mm, one number or one per (selected) class.{surface_args}
        empty: ``"worst"`` (default): one empty surface gives 0, two give 1; ``"nan"``.

    Returns:
        ``(B, C)`` float32 in [0, 1] on the input's device.

    Example:
        >>> import torch
        >>> t = torch.zeros(1, 1, 16, 16); t[..., 4:10, 4:10] = 1
        >>> surface_dice(torch.roll(t, 1, dims=2), t, tolerance=1.0)
        tensor([[1.]])
    """
    sd = surface_distances(
        pred,
        target,
        spacing=spacing,
        include_background=include_background,
        surface=surface,
        connectivity=connectivity,
        border_is_surface=border_is_surface,
    )
    return sd.surface_dice(tolerance, empty)


def boundary_f1(
    pred: ArrayLike,
    target: ArrayLike,
    tolerance: Tolerance,
    *,
    spacing: SpacingLike = None,
    include_background: bool = True,
    surface: SurfaceModel = "corner",
    connectivity: int = 1,
    border_is_surface: bool = True,
    empty: EmptyPolicy = "worst",
) -> Tensor:
    r"""Boundary F1 / relaxed boundary Dice (B-DSC of Calivá et al.) at tolerance :math:`\tau`.

    .. math::
        P = \frac{\sum_{S_P} w\,[d_{P\to T} \le \tau]}{\sum_{S_P} w},\quad
        R = \frac{\sum_{S_T} w\,[d_{T\to P} \le \tau]}{\sum_{S_T} w},\quad
        F_1 = \frac{2PR}{P + R}

    Unlike :func:`surface_dice`, which pools both surfaces (a long surface outweighs a short
    one), boundary F1 weighs precision and recall equally. ``tolerance=0`` with the voxel
    model is the unrelaxed boundary Dice.

    Args:
        pred: one-hot prediction ``(B, C, *spatial)``, bool or 0/1.
        target: one-hot target, same shape.
        tolerance: :math:`\tau` in mm, one number or one per (selected) class.{surface_args}
        empty: see :func:`surface_dice`.

    Returns:
        ``(B, C)`` float32 in [0, 1] on the input's device.

    Reference:
        Calivá et al., "Distance map loss penalty term for semantic segmentation", MIDL 2019;
        Csurka et al., "What is a good evaluation measure for semantic segmentation?", BMVC 2013.

    Example:
        >>> import torch
        >>> t = torch.zeros(1, 1, 16, 16); t[..., 4:10, 4:10] = 1
        >>> boundary_f1(t, t, tolerance=0.0)
        tensor([[1.]])
    """
    sd = surface_distances(
        pred,
        target,
        spacing=spacing,
        include_background=include_background,
        surface=surface,
        connectivity=connectivity,
        border_is_surface=border_is_surface,
    )
    return sd.boundary_f1(tolerance, empty)


for _fn in (hausdorff_distance, average_surface_distance, surface_dice, boundary_f1):
    _fn.__doc__ = _fn.__doc__.replace("{surface_args}", _SURFACE_ARGS)  # type: ignore[union-attr]
