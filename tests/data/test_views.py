"""Slicing and re-stacking, patches, resizing, augmentation, map-cache hook."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgewise.data import ACDCDataset, Augment, SyntheticDataset, Volume, resize_volume


def test_slices_restack_round_trip(tmp_path, writers):
    truth = writers.acdc(tmp_path, n=1, shape_xyz=(12, 10, 3))
    ds = ACDCDataset(tmp_path, "all", normalize="none")
    idx = ds.indices_of_case("patient001_ED")
    assert [ds[i]["slice"] for i in idx] == [0, 1, 2]
    vol = ds.restack("patient001_ED", [ds[i]["label"] for i in idx])
    np.testing.assert_array_equal(vol[0].numpy(), truth["patient001_ED"][1].transpose(2, 1, 0))
    # resized slices come back to the stored grid; nearest keeps the label set
    small = ACDCDataset(tmp_path, "all", size=(8, 8))
    assert small[0]["image"].shape == (1, 8, 8)
    torch.testing.assert_close(small[0]["spacing"], torch.tensor([1.25 * 10 / 8, 1.5 * 12 / 8]))
    back = small.restack("patient001_ED", {s: small[i]["label"] for s, i in enumerate(idx)})
    assert back.shape == (1, 3, 10, 12) and set(back.unique().tolist()) <= {0, 1, 2, 3}
    probs = small.restack("patient001_ED", [torch.rand(4, 8, 8) for _ in idx], interpolation="linear")
    assert probs.shape == (4, 3, 10, 12) and probs.dtype == torch.float32
    with pytest.raises(ValueError, match="expected 3 slices"):
        ds.restack("patient001_ED", [ds[idx[0]]["label"]])


def test_slice_axis_other_than_zero(tmp_path, writers):
    truth = writers.acdc(tmp_path, n=1, shape_xyz=(6, 5, 4))
    ds = ACDCDataset(tmp_path, "all", frames="ED", slice_axis=2, normalize="none")
    assert len(ds) == 6
    gt = truth["patient001_ED"][1].transpose(2, 1, 0)  # (z, y, x)
    np.testing.assert_array_equal(ds[3]["label"][0].numpy(), gt[:, :, 3])
    vol = ds.restack("patient001_ED", [ds[i]["label"] for i in range(6)])
    np.testing.assert_array_equal(vol[0].numpy(), gt)


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


def _item(ndim=2):
    g = torch.Generator().manual_seed(0)
    shape = (6, 8) if ndim == 2 else (4, 6, 6)
    label = torch.randint(0, 3, (1, *shape), generator=g)
    return {
        "image": label.float() * 10 + torch.rand((2, *shape), generator=g),
        "label": label,
        "mask": label > 0,
        "spacing": torch.tensor([1.0, 2.0] if ndim == 2 else [3.0, 1.0, 2.0]),
        "case": "x",
    }


@pytest.mark.parametrize("ndim", [2, 3])
def test_flip_twice_is_identity_and_alignment(ndim):
    item = _item(ndim)
    flip = Augment(flip_prob=1.0, intensity_prob=0.0)
    once = flip(item)
    assert not torch.equal(once["label"], item["label"])
    twice = flip(once)
    for k in ("image", "label", "mask"):
        assert torch.equal(twice[k], item[k])
    # image was built from the label: still aligned after any augmentation
    aug = Augment(flip_prob=0.5, rot90_prob=1.0, rot90_axes=(-2, -1) if ndim == 2 else (0, 1), intensity_prob=0.0,
                  generator=torch.Generator().manual_seed(3))
    for _ in range(5):
        out = aug(item)
        assert torch.equal((out["image"] / 10).floor().long()[:1], out["label"])
        assert torch.equal(out["mask"], out["label"] > 0)


def test_rot90_swaps_spacing_and_four_times_is_identity():
    item = _item(2)
    item = {**item, "image": item["image"][:, :6, :6], "label": item["label"][:, :6, :6], "mask": item["mask"][:, :6, :6]}
    aug = Augment(flip_prob=0.0, rot90_prob=1.0, intensity_prob=0.0, generator=torch.Generator().manual_seed(1))
    out = item
    ks = 0
    while True:
        before = out["label"]
        out = aug(out)
        for k in range(1, 4):
            if torch.equal(torch.rot90(before, k, dims=(1, 2)), out["label"]):
                ks += k
                break
        if ks % 4 == 0 and ks > 0:
            break
    assert torch.equal(out["label"], item["label"]) and torch.equal(out["image"], item["image"])
    one = Augment(flip_prob=0.0, rot90_prob=1.0, intensity_prob=0.0, generator=torch.Generator().manual_seed(0))(item)
    k = next(k for k in range(1, 4) if torch.equal(torch.rot90(item["label"], k, dims=(1, 2)), one["label"]))
    expected = [2.0, 1.0] if k % 2 else [1.0, 2.0]
    assert one["spacing"].tolist() == expected


def test_small_rotation_keeps_label_values_and_intensity_changes_image_only():
    item = _item(2)
    aug = Augment(flip_prob=0.0, rotate_degrees=15.0, rotate_prob=1.0, intensity_prob=1.0, noise_std=0.1,
                  generator=torch.Generator().manual_seed(0))
    out = aug(item)
    assert set(out["label"].unique().tolist()) <= {0, 1, 2} and out["label"].dtype == torch.int64
    assert out["mask"].dtype == torch.bool and out["image"].shape == item["image"].shape
    ident = Augment(flip_prob=0.0, rotate_degrees=0.0, intensity_prob=1.0, scale=(2.0, 2.0), shift=(1.0, 1.0))(item)
    torch.testing.assert_close(ident["image"], item["image"] * 2 + 1)
    assert torch.equal(ident["label"], item["label"])


def test_map_cache_hook_slices_and_crops_the_whole_volume_map(tmp_path, writers):
    from edgewise.maps import MapCache, signed_distance

    writers.acdc(tmp_path / "acdc", n=1, shape_xyz=(6, 5, 4), zooms=(1.5, 1.25, 10.0))
    ds = ACDCDataset(tmp_path / "acdc", "all", frames="ED", map_cache=str(tmp_path / "maps"), normalize="none")
    vol = ds.volume(0)
    ref = signed_distance(torch.from_numpy(vol.label)[None, None], vol.spacing, num_classes=4)[0]
    item = ds[2]
    assert item["dist_map"].shape == (4, 5, 6) and item["dist_map"].dtype == torch.float32
    # float16 storage: ~3 significant digits
    torch.testing.assert_close(item["dist_map"], ref[:, 2].float(), rtol=2e-3, atol=2e-3)
    torch.manual_seed(0)
    pd = ACDCDataset(tmp_path / "acdc", "all", frames="ED", mode="patches", patch_size=(2, 3, 3),
                     map_cache=MapCache(tmp_path / "maps"), map_kind="signed")
    it = pd[0]
    o = it["origin"].tolist()
    torch.testing.assert_close(it["dist_map"], ref[:, o[0]:o[0] + 2, o[1]:o[1] + 3, o[2]:o[2] + 3].float(), rtol=2e-3, atol=2e-3)
    with pytest.raises(TypeError, match="map_cache"):
        ACDCDataset(tmp_path / "acdc", "all", map_cache=object())


def test_max_cases_keeps_the_first_cases_of_the_split(tmp_path, writers):
    writers.acdc(tmp_path, n=3, shape_xyz=(12, 10, 3))
    full = ACDCDataset(tmp_path, "all", mode="slices")
    two = ACDCDataset(tmp_path, "all", mode="slices", max_cases=2)
    assert two.case_ids == full.case_ids[:2] == ["patient001_ED", "patient001_ES"]
    assert len(two) == 2 * 3  # slices of the kept cases only
    assert SyntheticDataset(n=5, shape=(8, 8), max_cases=10).case_ids == SyntheticDataset(
        n=5, shape=(8, 8)).case_ids
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="expected max_cases to be None or an integer >= 1"):
            SyntheticDataset(n=5, shape=(8, 8), max_cases=bad)
