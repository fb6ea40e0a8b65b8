"""edgewise.data.base: resize_volume, and SegmentationDataset's patches with foreground oversampling."""

from __future__ import annotations

import numpy as np
import torch

from edgewise.data import SyntheticDataset, Volume, resize_volume


def test_resize_volume_nearest_labels_and_spacing():
    lab = np.zeros((4, 6), np.int64)
    lab[:, 3:] = 2
    vol = Volume(np.arange(24, dtype=np.float32).reshape(1, 4, 6), lab, (1.0, 2.0), lab > 0)
    out = resize_volume(vol, (8, 12))
    assert out.image.shape == (1, 8, 12) and out.label.shape == (8, 12) and out.mask.dtype == bool
    np.testing.assert_array_equal(out.label[:, :6], 0)
    np.testing.assert_array_equal(out.label[:, 6:], 2)
    assert out.spacing == (0.5, 1.0)


def test_patches_shape_and_foreground_oversampling(tmp_path):
    torch.manual_seed(0)
    ds = SyntheticDataset(n=2, shape=(32, 32, 32), kind="blobs", foreground_fraction=0.01,
                          mode="patches", patch_size=(8, 8, 8), samples_per_volume=10, foreground_oversample=1.0)
    assert len(ds) == 20 and ds.spatial_dims == 3
    items = [ds[i] for i in range(len(ds))]
    assert all(it["image"].shape == (1, 8, 8, 8) and it["label"].shape == (1, 8, 8, 8) for it in items)
    assert all(it["label"].sum() > 0 for it in items)
    full = ds.volume(0)
    o = items[0]["origin"].tolist()
    np.testing.assert_array_equal(items[0]["label"][0].numpy(), full.label[o[0]:o[0] + 8, o[1]:o[1] + 8, o[2]:o[2] + 8])
    uniform = SyntheticDataset(n=2, shape=(32, 32, 32), kind="blobs", foreground_fraction=0.01,
                               mode="patches", patch_size=(8, 8, 8), samples_per_volume=10, foreground_oversample=0.0)
    empty = sum(int(uniform[i]["label"].sum() == 0) for i in range(20))
    assert empty > 5  # 1% foreground: most uniform patches miss it
    # a patch larger than the volume is padded with background
    big = SyntheticDataset(n=1, shape=(8, 8, 8), kind="blobs", mode="patches", patch_size=(8, 12, 8))
    assert big[0]["label"].shape == (1, 8, 12, 8)
