"""Absent classes get the references' map (0) by default, the image diagonal on request (#28)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from edgewise.maps import (
    MapCache,
    inside_distance,
    penalty_map,
    rrw_map,
    shared_maps,
    signed_distance,
    unsigned_distance,
)

from ._helpers import CPU_BACKENDS

FNS = [signed_distance, unsigned_distance, inside_distance]


def _two_samples() -> torch.Tensor:
    """(2, 1, 3, 4): sample 0 holds class 1 at [1, 1:3]; sample 1 is all background."""
    t = torch.zeros(2, 1, 3, 4, dtype=torch.long)
    t[0, 0, 1, 1:3] = 1
    return t


@pytest.mark.parametrize("be", CPU_BACKENDS)
@pytest.mark.parametrize("fn", FNS)
def test_absent_class_is_zero_by_default_and_the_diagonal_on_request(be, fn):
    t = _two_samples()
    spacing = (2.0, 1.0)
    # the image extent is 3 rows of 2.0 by 4 columns of 1.0: diagonal sqrt(6^2 + 4^2)
    diag = math.sqrt(52.0)
    assert diag == pytest.approx(7.2111, abs=1e-4)
    zero = fn(t, spacing, num_classes=2, backend=be)
    assert torch.equal(zero[1, 1], torch.zeros(3, 4))
    torch.testing.assert_close(fn(t, spacing, num_classes=2, backend=be, empty="zero"), zero)
    old = fn(t, spacing, num_classes=2, backend=be, empty="diagonal")
    torch.testing.assert_close(old[1, 1], torch.full((3, 4), diag))
    # only the absent class changes: present classes (and the full background of sample 1)
    # have the same maps under both fills
    torch.testing.assert_close(old[0], zero[0])
    torch.testing.assert_close(old[1, 0], zero[1, 0])


def test_present_class_hand_values_are_the_same_under_both_fills():
    t = _two_samples()
    for empty in ("zero", "diagonal"):
        phi = signed_distance(t, (2.0, 1.0), num_classes=2, classes=[1], empty=empty)[0, 0]
        # both class elements are boundary elements (0); a row step costs 2.0, a column 1.0
        want = torch.tensor([[math.sqrt(5.0), 2.0, 2.0, math.sqrt(5.0)],
                             [1.0, 0.0, 0.0, 1.0],
                             [math.sqrt(5.0), 2.0, 2.0, math.sqrt(5.0)]])
        torch.testing.assert_close(phi, want)


def test_livia_convention_follows_the_fill_too():
    t = _two_samples()
    assert (signed_distance(t, num_classes=2, convention="livia")[1, 1] == 0).all()
    old = signed_distance(t, num_classes=2, convention="livia", empty="diagonal")[1, 1]
    torch.testing.assert_close(old, torch.full((3, 4), 5.0))  # sqrt(3^2 + 4^2) in voxels


@pytest.mark.parametrize("fn", FNS)
def test_bad_fill_names_the_allowed_values(fn):
    with pytest.raises(ValueError, match=r"expected empty in \('zero', 'diagonal'\), got 'max'"):
        fn(_two_samples(), num_classes=2, empty="max")


def test_rrw_and_penalty_keep_their_own_conventions():
    t = _two_samples()
    # RRW (Valverde & Tohka): every element outside a class is +1, an absent class included
    assert (rrw_map(t, num_classes=2)[1, 1] == 1).all()
    # the penalty weighs each element by its own class: an absent class has nothing to fill
    assert torch.equal(penalty_map(t[1:], num_classes=2), penalty_map(t[1:], num_classes=3))


def test_shared_maps_give_each_fill_its_own_value():
    """Inside one shared_maps block the per-class transforms are shared, the fills are not."""
    t = _two_samples()
    with shared_maps():
        zero = signed_distance(t, (2.0, 1.0), num_classes=2)
        old = signed_distance(t, (2.0, 1.0), num_classes=2, empty="diagonal")
        un_zero = unsigned_distance(t, (2.0, 1.0), num_classes=2)
    torch.testing.assert_close(zero, signed_distance(t, (2.0, 1.0), num_classes=2))
    torch.testing.assert_close(old, signed_distance(t, (2.0, 1.0), num_classes=2, empty="diagonal"))
    assert (un_zero[1, 1] == 0).all()


def test_map_cache_keys_the_fill_and_stores_each(tmp_path):
    cache = MapCache(tmp_path / "maps", dtype=np.float32)
    labels = np.zeros((3, 4), dtype=np.uint8)  # class 1 absent
    kw = {"kind": "signed", "spacing": (2.0, 1.0), "num_classes": 2}
    zero = cache.get_or_compute(labels, **kw)
    assert (np.asarray(zero[1]) == 0).all()
    old = cache.get_or_compute(labels, empty="diagonal", **kw)
    np.testing.assert_allclose(np.asarray(old[1]), math.sqrt(52.0), rtol=1e-6)
    # the default and an explicit "zero" are one file; the diagonal another
    assert cache.path(labels, **kw) == cache.path(labels, empty="zero", **kw)
    assert cache.path(labels, **kw) != cache.path(labels, empty="diagonal", **kw)
    assert len(list((tmp_path / "maps").glob("*.npy"))) == 2


def test_map_cache_voxel_units_ignore_the_spacing(tmp_path):
    """A spacing-2 volume: voxel maps are the physical ones divided by 2."""
    cache = MapCache(tmp_path / "maps", dtype=np.float32)
    labels = np.zeros((6, 7), dtype=np.uint8)
    labels[2:5, 1:4] = 1
    physical = np.asarray(cache.get_or_compute(labels, kind="signed", spacing=2.0, num_classes=2))
    voxel = np.asarray(cache.get_or_compute(labels, kind="signed", spacing=2.0, num_classes=2, units="voxel"))
    np.testing.assert_allclose(voxel, physical / 2, rtol=1e-6)
    assert voxel[1, 0, 2] == 2.0 and physical[1, 0, 2] == 4.0  # two rows above the square
    # stored as the map of no spacing: the same file
    assert cache.path(labels, kind="signed", spacing=None, num_classes=2) in list((tmp_path / "maps").glob("*.npy"))
    with pytest.raises(ValueError, match=r"expected units in \('physical', 'voxel'\), got 'mm'"):
        cache.get_or_compute(labels, kind="signed", spacing=2.0, num_classes=2, units="mm")
