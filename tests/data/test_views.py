"""Slicing and re-stacking, the map-cache hook, max_cases (resizing and patches are in test_base.py,
augmentation in test_augment.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgewise.data import ACDCDataset, SyntheticDataset


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
