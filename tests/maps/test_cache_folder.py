"""The map cache writes only into a folder of its own."""

from __future__ import annotations

import os

import numpy as np
import pytest

from edgewise._io import owner_kind
from edgewise.maps import MapCache


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
