r"""The nearest-surface search behind the distance metrics.

For every (case, class) pair it extracts the surfaces of prediction and target
(:func:`edgewise.metrics.surface.surface_points`) and finds, for each surface point, the exact
distance in mm to the other mask's surface: :math:`d_{P\to T}` and :math:`d_{T\to P}`. Pairs
that share a crop (the union of their bounding boxes, :func:`_chunks`) are searched together;
on CPU by lattice shells then a k-d tree (:func:`_nearest_surface_cpu`), on CUDA by one
distance transform per surface (:func:`_nearest_surface_dense`).

:func:`pair_distances` is the entry point; :mod:`edgewise.metrics.distance` turns its lists
into :class:`~edgewise.metrics.distance.SurfaceDistances` and the metrics.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from .surface import Surface, SurfaceModel, surface_points

__all__ = ["PairDistances", "pair_distances"]


class PairDistances(NamedTuple):
    """Per (case, class) pair, row-major over ``(B, C)``: index 0 the prediction's surface
    points (distances to the target surface), index 1 the target's (distances to the
    prediction surface). Empty tensors for an empty surface."""

    distances: tuple[list[Tensor], list[Tensor]]  # float64 mm, ``inf`` without a partner
    weights: tuple[list[Tensor], list[Tensor]]  # float64 surface weights
    ranks: tuple[list[Tensor], list[Tensor]]  # int64 weight ranks (zeros for the voxel model)


def pair_distances(
    p: Tensor,
    t: Tensor,
    spacing: Tensor,
    *,
    surface: SurfaceModel,
    connectivity: int,
    border_is_surface: bool,
) -> PairDistances:
    """The directed surface distances of every pair of the checked bool masks ``p`` and ``t``
    ``(B, C, *spatial)``, with ``spacing`` ``(B, ndim)`` in mm; one surface extraction and
    one search per chunk of pairs."""
    batch, channels = p.shape[:2]
    boxes = [box for row in _bounding_boxes(p | t) for box in row]
    empty_f = torch.zeros(0, dtype=torch.float64, device=p.device)
    empty_r = torch.zeros(0, dtype=torch.long, device=p.device)
    n_pairs = batch * channels
    out = PairDistances(
        ([empty_f] * n_pairs, [empty_f] * n_pairs),
        ([empty_f] * n_pairs, [empty_f] * n_pairs),
        ([empty_r] * n_pairs, [empty_r] * n_pairs),
    )
    for chunk, crop in _chunks(boxes, tuple(p.shape[2:])):
        index = torch.tensor(chunk, device=p.device)
        bs, cs = index // channels, index % channels
        region = (slice(None), *crop)
        masks = torch.cat([p[bs, cs][region], t[bs, cs][region]])
        sample_spacing = spacing[(index // channels).cpu()].repeat(2, 1)
        surf = surface_points(
            masks,
            sample_spacing,
            surface=surface,
            connectivity=connectivity,
            border_is_surface=border_is_surface,
        )
        d = _directed_distances(surf, sample_spacing, len(chunk))
        rank = surf.rank if surf.rank is not None else torch.zeros_like(surf.sample)
        for parts, values in ((out.distances, d), (out.weights, surf.weights), (out.ranks, rank)):
            split = torch.split(values, surf.counts)
            for j, pair in enumerate(chunk):
                parts[0][pair] = split[j]
                parts[1][pair] = split[len(chunk) + j]
    return out


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


def _chunks(
    boxes: list[list[tuple[int, int]] | None], shape: tuple[int, ...]
) -> Iterator[tuple[list[int], tuple[slice, ...]]]:
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

