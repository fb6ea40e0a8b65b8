"""shared_maps(): per-class transforms are computed once per block and values do not change."""

from __future__ import annotations

import pytest
import torch

from edgewise.maps import (
    MapContext,
    inside_distance,
    penalty_map,
    rrw_map,
    shared_maps,
    signed_distance,
    unsigned_distance,
)

from ._helpers import CPU_BACKENDS


def _target(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    t = torch.zeros(2, 1, 24, 20, dtype=torch.long)
    t[0, 0, 3:12, 4:15] = 1
    t[0, 0, 14:20, 2:9] = 2
    t[1, 0, 8:22, 6:18] = 2
    t[1, 0, 10:14, 9:13] = 1
    t[1, 0, 0] = (torch.rand(20, generator=g) > 0.5).long()
    return t


MAPS = {
    "signed": signed_distance,
    "unsigned": unsigned_distance,
    "inside": inside_distance,
    "rrw": rrw_map,
    "penalty": penalty_map,
}


@pytest.mark.parametrize("be", [*CPU_BACKENDS])
def test_values_equal_inside_and_outside_a_block(be):
    t, sp = _target(), (0.7, 1.2)
    plain = {k: fn(t, sp, num_classes=3, backend=be) for k, fn in MAPS.items()}
    with shared_maps() as ctx:
        shared = {k: fn(t, sp, num_classes=3, backend=be) for k, fn in MAPS.items()}
    for k in MAPS:
        torch.testing.assert_close(shared[k], plain[k], rtol=1e-6, atol=1e-6)
        # +0.0 on the boundary either way
        assert torch.equal(torch.signbit(shared[k]), torch.signbit(plain[k]))
    assert ctx.reused > 0


def test_counts_one_transform_per_class_mask():
    t = _target()
    with shared_maps() as ctx:
        signed_distance(t, num_classes=3, backend="scipy")
        assert (ctx.computed, ctx.reused) == (6, 0)  # 2 samples x 3 classes
        unsigned_distance(t, num_classes=3, backend="scipy")
        # outside distances reused, inside distances: one transform per class
        assert (ctx.computed, ctx.reused) == (12, 6)
        inside_distance(t, num_classes=3, backend="scipy")
        rrw_map(t, num_classes=3, backend="scipy")
        penalty_map(t, num_classes=3, backend="scipy")
        assert (ctx.computed, ctx.reused) == (12, 6 + 6 + 6 + 6)
        # another selection of the same classes, given as a one-hot: still the same masks
        onehot = torch.cat([t == k for k in range(3)], 1)
        signed_distance(onehot[:, 1:], backend="scipy")
        assert (ctx.computed, ctx.reused) == (12, 28)


def test_no_reuse_across_spacing_backend_or_changed_target():
    t = _target()
    with shared_maps() as ctx:
        signed_distance(t, num_classes=3, backend="scipy")
        signed_distance(t, (1.0, 2.0), num_classes=3, backend="scipy")
        signed_distance(t, num_classes=3, backend="torch")
        t2 = t.clone()
        t2[0, 0, 0, 0] = 2
        signed_distance(t2, num_classes=3, backend="scipy")
    # the changed target changes sample 0's masks of classes 0 and 2 only
    assert (ctx.computed, ctx.reused) == (6 + 6 + 6 + 2, 4)


def test_blocks_nest_and_reopen():
    t = _target()
    ctx = MapContext()
    with shared_maps(ctx):
        signed_distance(t, num_classes=3)
        with shared_maps() as inner:
            assert inner is ctx
            signed_distance(t, num_classes=3)
    with shared_maps(ctx):
        signed_distance(t, num_classes=3)
    assert (ctx.computed, ctx.reused) == (6, 12)
    with shared_maps() as fresh:
        signed_distance(t, num_classes=3)
    assert (fresh.computed, fresh.reused) == (6, 0)


def test_edt_multilabel_counts_once_per_sample():
    t = _target()
    with shared_maps() as ctx:
        inside_distance(t, num_classes=3, backend="edt")
        rrw_map(t, num_classes=3, backend="edt")
    assert (ctx.computed, ctx.reused) == (2, 6)


def test_disjoint_masks_take_one_multilabel_transform_per_sample():
    from scipy import ndimage

    t = _target()
    onehot = torch.cat([t == k for k in range(3)], 1)
    disjoint = onehot[:, 1:]  # classes 1 and 2 only: disjoint, not covering the image
    with shared_maps() as ctx:
        got = inside_distance(disjoint, (0.7, 1.2), backend="edt")
    assert ctx.computed == 2  # one per sample, not one per class
    for b in range(2):
        for c in range(2):
            m = disjoint[b, c].numpy()
            ref = ndimage.distance_transform_edt(m, sampling=(0.7, 1.2))
            torch.testing.assert_close(got[b, c], torch.from_numpy(ref).float(), rtol=1e-5, atol=1e-5)
    overlapping = onehot.clone()
    overlapping[0, 1, 0, :5] = True  # class 1 overlaps class 0 there: per-class transforms
    with shared_maps() as ctx:
        inside_distance(overlapping, backend="edt")
    assert ctx.computed == 6
