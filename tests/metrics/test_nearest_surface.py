"""The nearest-surface search behind the distance metrics: exact on either route."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from ._helpers import blob


def _brute_force_directed(surf, spacing: torch.Tensor, n: int) -> np.ndarray:
    """Nearest partner-surface distance of every surface point, by comparing all pairs."""
    from scipy.spatial.distance import cdist

    grid = tuple(surf.points.shape[1:])
    sample, position = surf.sample.numpy(), surf.position.numpy()
    coords = np.stack(np.unravel_index(position, grid), 1).astype(np.float64)
    out = np.full(sample.shape, np.inf)
    for j in range(2 * n):
        mine, theirs = sample == j, sample == (j + n) % (2 * n)
        if mine.any() and theirs.any():
            scale = spacing[j].double().numpy()
            out[mine] = cdist(coords[mine] * scale, coords[theirs] * scale).min(1)
    return out


@pytest.mark.parametrize(
    "shape,spacing",
    [
        ((40, 44), [[1.0, 1.0]]),
        ((40, 44), [[0.5, 1.25], [2.0, 0.3], [0.5, 1.25]]),
        ((18, 20, 22), [[1.5, 0.8, 0.8]]),
        ((18, 20, 22), [[1.0, 1.0, 1.0], [3.0, 0.5, 0.7], [1.0, 1.0, 1.0]]),
    ],
)
@pytest.mark.parametrize("surface", ["corner", "voxel"])
@pytest.mark.parametrize("local_offsets,query_cost", [(300, 512), (300, 1), (6, 10**9)])
def test_cpu_nearest_surface_is_exact(
    shape, spacing, surface, local_offsets, query_cost, monkeypatch
):
    """The CPU route (lattice shells, then a k-d tree for the points left) equals brute force
    and the dense-transform route, whichever route settles a point; empty partners give inf."""
    import edgewise.metrics._nearest_surface as engine
    from edgewise.metrics.surface import surface_points

    monkeypatch.setattr(engine, "_LOCAL_OFFSETS", local_offsets)
    monkeypatch.setattr(engine, "_QUERY_COST", query_cost)  # 1: leave the shells early
    engine._offset_shells.cache_clear()
    rng = np.random.default_rng(len(shape) + local_offsets)
    n = 3
    pred = np.stack([blob(rng, shape, 0.2) for _ in range(n)])
    target = np.stack([blob(rng, shape, 0.2) for _ in range(n)])
    pred[1] = False
    pred[1][(slice(0, 2),) * len(shape)] = True  # one tiny object in a corner: far from target
    target[2] = False  # empty partner: every prediction point of sample 2 is at inf
    masks = torch.from_numpy(np.concatenate([pred, target]))
    per_sample = torch.tensor(spacing, dtype=torch.float64).expand(n, -1)
    sample_spacing = per_sample.repeat(2, 1)
    surf = surface_points(masks, sample_spacing, surface=surface)
    try:
        got = engine._nearest_surface_cpu(surf, sample_spacing, n).numpy()
    finally:
        engine._offset_shells.cache_clear()
    expected = _brute_force_directed(surf, sample_spacing, n)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)
    assert np.isinf(got[surf.sample.numpy() == 2]).all()
    assert (got == 0).any() and (got > 5).any()  # both shared points and far ones occur
    dense = engine._nearest_surface_dense(surf, sample_spacing, n).numpy()
    np.testing.assert_allclose(got, dense, rtol=1e-6, atol=0)


def test_offset_shells_are_complete_balls():
    """Every lattice offset shorter than the last shell is in some shell, in ascending order:
    the first shell holding a surface point gives the exact distance."""
    from edgewise.metrics._nearest_surface import _offset_shells

    for spacing in [(1.0, 1.0), (0.7, 2.5), (1.5, 0.8, 0.8), (4.0, 0.5, 0.5)]:
        shells, margin = _offset_shells(spacing)
        lengths = [length for length, _ in shells]
        assert lengths == sorted(lengths) and len(set(lengths)) == len(lengths)
        found = {tuple(o) for _, offsets in shells for o in offsets.tolist()}
        radius = lengths[-1]
        s = np.asarray(spacing)
        box = [range(-int(radius / v) - 1, int(radius / v) + 2) for v in s]
        ball = {
            o
            for o in itertools.product(*box)
            if 0 < math.sqrt(((np.asarray(o) * s) ** 2).sum()) <= radius * (1 + 1e-12)
        }
        assert found == ball
        for length, offsets in shells:
            np.testing.assert_allclose(np.sqrt(((offsets * s) ** 2).sum(1)), length, rtol=1e-12)
        assert (margin == np.abs(np.asarray(sorted(found))).max(0)).all()
