r"""Surface distance metrics: Hausdorff (HD, HD95), ASSD, NSD, boundary F1, perimeter error.

Every metric starts from the same per-case, per-class quantities, computed once by
:func:`surface_distances`: the surface points of prediction :math:`S_P` and target :math:`S_T`
with weights :math:`w` (contour length / surfel area in mm for the default corner model, 1 per
voxel for the voxel model), and the directed distances
:math:`d_{P\to T}(p) = \min_{t \in S_T} \lVert p - t \rVert` (exact, in mm) and
:math:`d_{T\to P}`. See ``docs/metrics.md`` for the definitions and how each option maps onto
deepmind surface-distance, MONAI and medpy.

Empty surfaces (policy ``empty="worst"``, the default): when both surfaces are empty the
segmentations agree (distances 0, NSD 1, boundary F1 1); when exactly one is empty the
distances are ``inf`` (or ``max_distance`` when given) and NSD/boundary F1 are 0. With
``empty="nan"`` every case with an empty surface is ``nan``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from edgewise._core.spacing import SpacingLike, spacing_or_meta, spacing_table

from ._validate import (
    ArrayLike,
    Tolerance,
    check_choice,
    check_pair,
    drop_background,
    tolerance_tensor,
)
from .surface import (
    Surface,
    SurfaceModel,
    corner_codes,
    image_diagonal,
    surface_points,
    surfel_measure_table,
)

__all__ = [
    "SurfaceDistances",
    "surface_distances",
    "hausdorff_distance",
    "average_surface_distance",
    "surface_dice",
    "boundary_f1",
    "perimeter_error",
]

EmptyPolicy = Literal["worst", "nan"]
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


def _bounding_boxes(union: Tensor) -> list[list[list[tuple[int, int]] | None]]:
    """Per (case, class), the bounding box of ``union`` ``(B, C, *spatial)`` as per-axis
    ``(start, stop)``, or None when empty; one device-to-host transfer."""
    ndim = union.dim() - 2
    projections = []
    for axis in range(ndim):
        others = tuple(2 + a for a in range(ndim) if a != axis)
        projections.append(union.any(dim=others).cpu())
    boxes: list[list[list[tuple[int, int]] | None]] = []
    for b in range(union.shape[0]):
        row: list[list[tuple[int, int]] | None] = []
        for c in range(union.shape[1]):
            box: list[tuple[int, int]] = []
            for axis in range(ndim):
                hits = projections[axis][b, c].nonzero()
                if hits.numel() == 0:
                    row.append(None)
                    break
                box.append((int(hits[0]), int(hits[-1]) + 1))
            else:
                row.append(box)
        boxes.append(row)
    return boxes


# elements of the crops of one chunk: bounds the memory of its surface grids (and of the
# padded copy on CPU, of the batched distance transform on CUDA)
_CHUNK_ELEMENTS = 1 << 25
# grid elements whose per-element work (surface extraction, padding or transform) costs
# about as much as the fixed overhead of a separate chunk
_SMALL = 1 << 16


def _chunks(boxes: list[list[tuple[int, int]] | None], shape: tuple[int, ...]):
    """Groups consecutive non-empty pairs that can share one crop (the union of their bounding
    boxes plus one voxel of margin): a pair joins the current group while the shared crop
    wastes at most a quarter of the per-element work of separate crops (or less than the
    overhead of one more chunk) and the group stays within the element budget. Yields
    ``(pair indices, crop slices)``."""

    def crop(lo: list[int], hi: list[int]) -> tuple[slice, ...]:
        # one background voxel of margin keeps the crop's edge free of the masks, so the crop
        # changes nothing but the size of the grids
        return tuple(slice(max(a - 1, 0), min(b + 1, n)) for a, b, n in zip(lo, hi, shape))

    def size(lo: list[int], hi: list[int]) -> int:
        return math.prod(s.stop - s.start + 1 for s in crop(lo, hi))

    chunk: list[int] = []
    lo: list[int] = []
    hi: list[int] = []
    separate = 0
    for pair, box in enumerate(boxes):
        if box is None:
            continue
        own_lo, own_hi = [b[0] for b in box], [b[1] for b in box]
        own = size(own_lo, own_hi)
        if chunk:
            new_lo = [min(a, b) for a, b in zip(lo, own_lo)]
            new_hi = [max(a, b) for a, b in zip(hi, own_hi)]
            shared = (len(chunk) + 1) * size(new_lo, new_hi)
            if shared <= 1.25 * (separate + own) + _SMALL and 2 * shared <= _CHUNK_ELEMENTS:
                chunk.append(pair)
                lo, hi, separate = new_lo, new_hi, separate + own
                continue
            yield chunk, crop(lo, hi)
        chunk, lo, hi, separate = [pair], own_lo, own_hi, own
    if chunk:
        yield chunk, crop(lo, hi)


def _directed_distances(surf: Surface, spacing: Tensor, n: int) -> Tensor:
    """For every surface point of sample ``j`` (predictions ``0..n-1``, targets ``n..2n-1``),
    the distance in mm to the surface of its partner sample ``(j + n) mod 2n``; ``inf`` when
    the partner has no surface.

    On CUDA: one dense distance transform per non-empty surface (embarrassingly parallel
    there). On CPU a dense transform costs the whole crop for a few surface points, so the
    points are matched directly: :func:`_nearest_surface_cpu`."""
    if surf.points.device.type == "cpu":
        return _nearest_surface_cpu(surf, spacing, n)
    return _nearest_surface_dense(surf, spacing, n)


def _nearest_surface_dense(surf: Surface, spacing: Tensor, n: int) -> Tensor:
    """Nearest-surface distances read from one distance transform per non-empty surface."""
    present = torch.tensor([c > 0 for c in surf.counts])
    partner = (surf.sample + n) % (2 * n)
    out = torch.full(
        surf.sample.shape, float("inf"), dtype=torch.float64, device=surf.sample.device
    )
    if not bool(present.any()):
        return out
    rows = torch.full((2 * n,), -1, dtype=torch.long)
    rows[present] = torch.arange(int(present.sum()))
    from ..maps import edt

    seeds = surf.points[present.to(surf.points.device)]
    maps = edt(~seeds, spacing[present], spatial_dims=seeds.dim() - 1).flatten(1)
    rows = rows.to(surf.sample.device)[partner]
    known = rows >= 0
    out[known] = maps[rows[known], surf.position[known]].double()
    return out


# lattice offsets tried around each point at most before the k-d tree
_LOCAL_OFFSETS = 300
# look-ups worth one k-d tree query (a query for a far point costs ~1.5 us, a look-up a few
# ns): the shells stop early when they settle fewer points than one per this many look-ups,
# so surfaces far apart go to the tree almost at once (measured: a 3D batch shifted by 12
# voxels 1.56 s -> 1.14 s; unchanged when the surfaces are close)
_QUERY_COST = 512


@functools.cache
def _offset_shells(spacing: tuple[float, ...]) -> tuple[list[tuple[float, np.ndarray]], np.ndarray]:
    """The nearest non-zero lattice offsets in mm, grouped into shells of equal length in
    ascending order, and the largest offset per axis (the padding the look-ups need).

    Every offset shorter than the last shell's length is included, so the first shell that
    contains a surface point gives the exact nearest distance."""
    s = np.asarray(spacing, dtype=np.float64)
    radius = 2 * float(s.min())
    while True:
        half = np.floor(radius / s).astype(int)
        axes = [np.arange(-h, h + 1) for h in half]
        offsets = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, len(s))
        squared = ((offsets * s) ** 2).sum(1)
        inside = (squared > 0) & (squared <= radius**2)
        if inside.sum() >= _LOCAL_OFFSETS or radius > 64 * float(s.max()):
            break
        radius *= 1.5
    offsets, squared = offsets[inside], squared[inside]
    order = np.argsort(squared, kind="stable")
    offsets, squared = offsets[order], squared[order]
    shells: list[tuple[float, np.ndarray]] = []
    start, used = 0, 0
    for i in range(1, len(squared) + 1):
        if i < len(squared) and squared[i] <= squared[start] * (1 + 1e-12):
            continue
        if used + i - start > _LOCAL_OFFSETS and shells:
            break
        shells.append((math.sqrt(squared[start]), offsets[start:i]))
        used += i - start
        start = i
    margin = np.abs(np.concatenate([o for _, o in shells])).max(0)
    return shells, margin


def _nearest_surface_cpu(surf: Surface, spacing: Tensor, n: int) -> Tensor:
    """Exact nearest-surface distances on CPU without a dense transform.

    A point also on the partner surface is at 0. The others look at the lattice offsets of
    :func:`_offset_shells` shell by shell (all samples of the crop at once, on a padded copy
    of the surface grid), so a point whose partner surface is within a few voxels, the vast
    majority, is settled by a handful of look-ups; the rest query a k-d tree of the partner's
    surface points (scipy). Distances are ``sqrt(sum((offset * spacing)^2))`` in float64 for
    both routes, so equal offsets give bit-equal distances."""
    from scipy.spatial import cKDTree

    points = surf.points.numpy()
    grid = points.shape[1:]
    sample, position = surf.sample.numpy(), surf.position.numpy()
    counts = np.asarray(surf.counts)
    out = np.full(sample.shape, np.inf)
    if sample.size == 0:
        return torch.from_numpy(out)
    spacing_np = spacing.detach().cpu().double().numpy()
    partner = (sample + n) % (2 * n)
    per_sample = math.prod(grid)
    on_partner = points.reshape(-1)[partner * per_sample + position]
    out[on_partner] = 0.0
    todo = np.flatnonzero((counts[partner] > 0) & ~on_partner)
    if todo.size == 0:
        return torch.from_numpy(out)
    coords = np.stack(np.unravel_index(position, grid), 1)
    # samples of a crop usually share one spacing: one pass per distinct spacing
    rows, row_of_sample = np.unique(spacing_np, axis=0, return_inverse=True)
    row_of_sample = row_of_sample.reshape(-1)
    unmatched = []
    for r, row in enumerate(rows):
        idx = todo[row_of_sample[sample[todo]] == r]
        if idx.size == 0:
            continue
        shells, margin = _offset_shells(tuple(float(v) for v in row))
        padded = np.pad(points, [(0, 0)] + [(int(m), int(m)) for m in margin])
        strides = np.array([math.prod(padded.shape[a + 1 :]) for a in range(padded.ndim)])
        flat = padded.reshape(-1)
        # integer matmul has no BLAS path in numpy: sum the axes by hand
        lookup = partner[idx] * strides[0]
        for axis in range(len(grid)):
            lookup += (coords[idx, axis] + margin[axis]) * strides[axis + 1]
        # judged over windows of at least 8 look-ups per point, as single shells vary in size
        window_points, window_lookups, window_hits = idx.size, 0, 0
        for length, offsets in shells:
            steps = (offsets * strides[1:]).sum(1)
            hit = flat[lookup + steps[0]]
            for step in steps[1:]:
                hit |= flat[lookup + step]
            window_lookups += idx.size * len(steps)
            hits = int(np.count_nonzero(hit))
            if hits:
                out[idx[hit]] = length
                window_hits += hits
                idx, lookup = idx[~hit], lookup[~hit]
                if idx.size == 0:
                    break
            if window_lookups >= 8 * window_points:
                if window_hits * _QUERY_COST < window_lookups:
                    break
                window_points, window_lookups, window_hits = idx.size, 0, 0
        unmatched.append(idx)
    left = np.concatenate(unmatched) if unmatched else todo[:0]
    if left.size:
        workers = torch.get_num_threads()
        starts = np.concatenate([[0], np.cumsum(counts)])
        for j in np.unique(partner[left]):
            queries = left[partner[left] == j]
            seeds = coords[starts[j] : starts[j + 1]]
            scale = spacing_np[j]
            tree = cKDTree(seeds * scale, leafsize=32, balanced_tree=False, compact_nodes=False)
            # scipy starts fresh threads per query: worth it only for many points
            threads = workers if queries.size > 20_000 else 1
            nearest = tree.query(coords[queries] * scale, k=1, workers=threads)[1]
            out[queries] = np.sqrt((((coords[queries] - seeds[nearest]) * scale) ** 2).sum(1))
    return torch.from_numpy(out)


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
    p, t = check_pair(pred, target)
    p, t = drop_background(p, t, include_background)
    check_choice(surface, "surface", ("corner", "voxel"))
    batch, channels = p.shape[:2]
    ndim = p.dim() - 2
    spacing_b = spacing_table(spacing_or_meta(spacing, target, pred, spatial_dims=ndim), batch, ndim)
    boxes = [box for row in _bounding_boxes(p | t) for box in row]
    empty_f = torch.zeros(0, dtype=torch.float64, device=p.device)
    empty_r = torch.zeros(0, dtype=torch.long, device=p.device)
    n_pairs = batch * channels
    d_lists = [[empty_f] * n_pairs, [empty_f] * n_pairs]
    w_lists = [[empty_f] * n_pairs, [empty_f] * n_pairs]
    r_lists = [[empty_r] * n_pairs, [empty_r] * n_pairs]
    for chunk, crop in _chunks(boxes, p.shape[2:]):
        index = torch.tensor(chunk, device=p.device)
        bs, cs = index // channels, index % channels
        region = (slice(None), *crop)
        masks = torch.cat([p[bs, cs][region], t[bs, cs][region]])
        sample_spacing = spacing_b[(index // channels).cpu()].repeat(2, 1)
        surf = surface_points(
            masks,
            sample_spacing,
            surface=surface,
            connectivity=connectivity,
            border_is_surface=border_is_surface,
        )
        d = _directed_distances(surf, sample_spacing, len(chunk))
        rank = surf.rank if surf.rank is not None else torch.zeros_like(surf.sample)
        for parts, values in ((d_lists, d), (w_lists, surf.weights), (r_lists, rank)):
            split = torch.split(values, surf.counts)
            for j, pair in enumerate(chunk):
                parts[0][pair] = split[j]
                parts[1][pair] = split[len(chunk) + j]
    ranks = surface == "corner"
    return SurfaceDistances(
        pred_to_target=d_lists[0],
        pred_weights=w_lists[0],
        target_to_pred=d_lists[1],
        target_weights=w_lists[1],
        pred_ranks=r_lists[0] if ranks else None,
        target_ranks=r_lists[1] if ranks else None,
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


def perimeter_error(
    pred: ArrayLike,
    target: ArrayLike,
    *,
    spacing: SpacingLike = None,
    include_background: bool = True,
    border_is_surface: bool = True,
    relative: bool = False,
    empty: EmptyPolicy = "worst",
) -> Tensor:
    r"""Absolute difference of perimeters (2D, mm) or surface areas (3D, mm²).

    .. math::
        E = \lvert |S_P| - |S_T| \rvert, \qquad E_{rel} = E / |S_T|

    Perimeters are the corner model's marching-squares contour lengths (marching-cubes surface
    areas in 3D), which do not suffer the staircase overestimate of voxel-edge counting.

    Args:
        pred: one-hot prediction ``(B, C, *spatial)``, bool or 0/1.
        target: one-hot target, same shape.
        spacing: voxel spacing in mm (array axis order), per axis or per sample ``(B, ndim)``;
            None: 1, or the spacing of a MONAI ``MetaTensor`` target/prediction.
        include_background: keep channel 0 (default).
        border_is_surface: whether the image border counts as surface.
        relative: divide by the target's perimeter.
        empty: ``"worst"``: with ``relative`` an empty target gives 0 when the prediction is
            empty too and ``inf`` otherwise; ``"nan"``: nan for any empty mask.

    Returns:
        ``(B, C)`` float32 on the input's device.

    Example:
        >>> import torch
        >>> t = torch.zeros(1, 1, 8, 8); t[..., 2:6, 2:6] = 1
        >>> p = torch.zeros(1, 1, 8, 8); p[..., 2:6, 2:4] = 1
        >>> perimeter_error(p, t)  # 14.83 (4x4 square) - 10.83 (4x2)
        tensor([[4.]])
    """
    check_choice(empty, "empty", ("worst", "nan"))
    p, t = check_pair(pred, target)
    p, t = drop_background(p, t, include_background)
    batch, channels = p.shape[:2]
    ndim = p.dim() - 2
    spacing_b = spacing_table(spacing_or_meta(spacing, target, pred, spatial_dims=ndim), batch, ndim)
    table = surfel_measure_table(spacing_b.to(p.device))  # (B, codes)
    n_codes = table.shape[-1]
    lengths = torch.empty(2, batch, channels, dtype=torch.float64, device=p.device)
    for b in range(batch):
        # a histogram of the codes per mask keeps memory at one case's corner grid
        codes = corner_codes(torch.cat([p[b], t[b]]), ndim, border_is_surface).flatten(1).long()
        offsets = torch.arange(2 * channels, device=p.device)[:, None] * n_codes
        counts = torch.bincount((codes + offsets).flatten(), minlength=2 * channels * n_codes)
        lengths[:, b] = (counts.view(2, channels, n_codes).double() * table[b]).sum(-1)
    error = (lengths[0] - lengths[1]).abs()
    if relative:
        error = torch.where(
            lengths[1] > 0,
            error / lengths[1].clamp_min(1e-300),
            torch.where(error > 0, float("inf"), 0.0),
        )
    if empty == "nan":
        has_empty = ~(p.flatten(2).any(2) & t.flatten(2).any(2))
        error = torch.where(has_empty, float("nan"), error)
    return error.to(torch.float32)


for _fn in (hausdorff_distance, average_surface_distance, surface_dice, boundary_f1):
    _fn.__doc__ = _fn.__doc__.replace("{surface_args}", _SURFACE_ARGS)  # type: ignore[union-attr]
