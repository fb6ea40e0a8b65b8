"""Synthetic generator: determinism, imbalance knob, classes, 2D/3D."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgewise.data import SyntheticDataset, build_dataset, make_synthetic
from edgewise.data.synthetic import DEFAULT_FOREGROUND_FRACTION


@pytest.mark.parametrize("kind", ["vessels", "blobs", "rings", "mixed"])
def test_deterministic_per_seed(kind):
    a = make_synthetic((48, 40), kind, 3, rng=5)
    b = make_synthetic((48, 40), kind, 3, rng=np.random.default_rng(5))
    c = make_synthetic((48, 40), kind, 3, rng=6)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])
    assert a[0].dtype == np.float32 and a[0].shape == (1, 48, 40)
    assert a[1].dtype == np.int64 and a[1].shape == (48, 40)


@pytest.mark.parametrize("kind", ["vessels", "blobs", "rings", "mixed"])
@pytest.mark.parametrize("target", [0.02, 0.1])
def test_imbalance_knob_2d(kind, target):
    fracs = [np.mean(make_synthetic((96, 96), kind, 2, foreground_fraction=target, rng=s)[1] > 0) for s in range(3)]
    assert all(target <= f <= 1.35 * target + 0.002 for f in fracs), fracs


@pytest.mark.parametrize("kind", ["vessels", "blobs", "rings", "mixed"])
def test_all_classes_present_3d(kind):
    image, label = make_synthetic((24, 28, 32), kind, 4, rng=1)
    assert image.shape == (1, 24, 28, 32)
    assert set(np.unique(label).tolist()) == {0, 1, 2, 3}
    target = DEFAULT_FOREGROUND_FRACTION[kind]
    assert target <= np.mean(label > 0) <= target * 1.35 + 0.002


def test_foreground_is_brighter_and_vessels_are_thin():
    image, label = make_synthetic((128, 128), "vessels", 2, noise=0.0, bias_field=0.0, rng=0)
    assert image[0][label == 1].mean() > image[0][label == 0].mean() + 0.5
    # thin twigs: some vessel pixels have a background 4-neighbour on both sides
    v = label == 1
    thin = v[1:-1, 1:-1] & ~v[1:-1, :-2] & ~v[1:-1, 2:]
    thin |= v[1:-1, 1:-1] & ~v[:-2, 1:-1] & ~v[2:, 1:-1]
    assert thin.sum() > 20


def test_dataset_splits_and_schema():
    tr = SyntheticDataset(n=3, shape=(32, 32), kind="rings", num_classes=3, seed=4)
    tr2 = SyntheticDataset(n=3, shape=(32, 32), kind="rings", num_classes=3, seed=4)
    va = SyntheticDataset(n=3, shape=(32, 32), kind="rings", num_classes=3, seed=4, split="val")
    item = tr[2]
    assert item["case"] == "synthetic_train_0002" and item["label"].shape == (1, 32, 32)
    torch.testing.assert_close(item["spacing"], torch.ones(2))
    torch.testing.assert_close(tr2[2]["image"], item["image"])
    assert not torch.equal(va[2]["label"], item["label"])
    assert (tr.num_classes, tr.in_channels, tr.spatial_dims, tr.class_names) == (3, 1, 2, ["background", "class1", "class2"])
    ds = build_dataset("synthetic", "test", n=40, shape=[16, 16, 16], kind="blobs")
    assert len(ds) == 10 and ds.spatial_dims == 3 and ds[0]["image"].shape == (1, 16, 16, 16)


def test_bad_arguments():
    with pytest.raises(ValueError, match="expected kind"):
        make_synthetic((32, 32), "stars")
    with pytest.raises(ValueError, match="foreground_fraction"):
        make_synthetic((32, 32), foreground_fraction=0.9)
    with pytest.raises(ValueError, match="2D or 3D shape"):
        make_synthetic((32,))
