"""The map cache (``edgewise.maps.cache``): it writes only into a folder of its own, round-trips
its maps and invalidates them by key, and per-slice maps equal the 2D maps of each slice."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from edgewise._io import owner_kind
from edgewise.maps import MapCache, signed_distance


def test_cache_refuses_a_folder_of_other_files(tmp_path):
    data = tmp_path / "DRIVE"
    data.mkdir()
    (data / "01_manual1.gif").write_bytes(b"GIF89a\x00\xd0")
    with pytest.raises(FileExistsError, match="map cache folder .* not made by edgewise"):
        MapCache(data)
    assert os.listdir(data) == ["01_manual1.gif"]
    assert (data / "01_manual1.gif").read_bytes() == b"GIF89a\x00\xd0"


def test_cache_takes_new_and_earlier_cache_folders(tmp_path):
    labels = np.zeros((6, 6), dtype=np.uint8)
    labels[2:4, 2:4] = 1
    cache = MapCache(tmp_path / "new")
    assert owner_kind(tmp_path / "new") == "map-cache"
    stored = cache.path(labels, kind="signed", num_classes=2)
    cache.get_or_compute(labels, kind="signed", num_classes=2)
    # a cache written before folder markers holds only map files: it is reused, not refused
    os.remove(tmp_path / "new" / ".edgewise")
    again = MapCache(tmp_path / "new")
    assert again.path(labels, kind="signed", num_classes=2) == stored
    assert owner_kind(tmp_path / "new") == "map-cache"


def test_cache_round_trip_and_key_invalidation(tmp_path):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, (6, 7, 8)).astype(np.uint8)
    cache = MapCache(tmp_path)
    kw = dict(kind="signed", spacing=(2.5, 0.8, 0.8), num_classes=3)
    m = cache.get_or_compute(labels, **kw)
    assert isinstance(m, np.memmap) and m.dtype == np.float16 and m.shape == (3, 6, 7, 8)
    t = torch.from_numpy(labels)[None, None].long()
    ref = signed_distance(t, (2.5, 0.8, 0.8), num_classes=3)
    np.testing.assert_allclose(m.astype(np.float32), ref[0].numpy(), rtol=2e-3, atol=2e-3)
    files = sorted(p for p in tmp_path.iterdir() if p.name != ".edgewise")  # the folder's marker
    assert len(files) == 1 and not any(f.name.startswith(".tmp") for f in files)
    # same content (even a copy), same key; the backend does not change the values
    again = cache.get_or_compute(labels.copy(), backend="scipy", **kw)
    assert len(list(tmp_path.glob("*.npy"))) == 1
    np.testing.assert_array_equal(again, m)
    # any change of labels, spacing, kind, dtype or parameters gives a new file
    changed = labels.copy()
    changed[0, 0, 0] = (changed[0, 0, 0] + 1) % 3
    cache.get_or_compute(changed, **kw)
    cache.get_or_compute(labels.astype(np.int16), **kw)
    cache.get_or_compute(labels, kind="signed", spacing=(1.0, 0.8, 0.8), num_classes=3)
    cache.get_or_compute(labels, kind="rrw", spacing=(2.5, 0.8, 0.8), num_classes=3)
    cache.get_or_compute(labels, classes=[1], **kw)
    assert len(list(tmp_path.glob("*.npy"))) == 6
    pen = MapCache(tmp_path, dtype=np.float32).get_or_compute(
        labels, kind="penalty", num_classes=3
    )
    assert pen.shape == (1, 6, 7, 8) and pen.dtype == np.float32
    with pytest.raises(ValueError, match="kind"):
        cache.get_or_compute(labels, kind="nope", num_classes=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="label map"):
        cache.get_or_compute(labels[None], num_classes=3)


@pytest.mark.parametrize("axis", [0, 2])
def test_cache_per_slice_maps_equal_2d_maps_of_each_slice(tmp_path, axis):
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, (5, 7, 6)).astype(np.uint8)
    labels[:, :2] = 0  # some slices lose a class: their own 2D map, not the volume's
    spacing = (2.5, 0.8, 0.6)
    cache = MapCache(tmp_path, dtype=np.float32)
    m = cache.get_or_compute(labels, kind="signed", spacing=spacing, num_classes=3, slice_axis=axis)
    assert m.shape == (3, 5, 7, 6)
    inplane = tuple(s for a, s in enumerate(spacing) if a != axis)
    for k in range(labels.shape[axis]):
        sl = torch.from_numpy(np.take(labels, k, axis=axis))[None, None].long()
        ref = signed_distance(sl, inplane, num_classes=3)[0].numpy()
        np.testing.assert_allclose(np.take(m, k, axis=1 + axis), ref, rtol=1e-6, atol=1e-6)
    # per-slice and whole-volume maps are different files; the whole-volume key is unchanged
    whole = cache.get_or_compute(labels, kind="signed", spacing=spacing, num_classes=3)
    assert not np.allclose(whole, m)
    assert cache.path(labels, kind="signed", spacing=spacing, num_classes=3).exists()
    assert len(list(tmp_path.glob("*.npy"))) == 2
    with pytest.raises(ValueError, match="slice_axis"):
        cache.get_or_compute(labels[0], kind="signed", num_classes=3, slice_axis=0)
