"""Readers on tiny files written in the official layouts, and on ../shared/data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgewise.data import (
    ACDCDataset,
    DecathlonDataset,
    DriveDataset,
    FolderDataset,
    build_dataset,
    read_nifti,
)


def _check_schema(item, in_ch, ndim):
    assert item["image"].dtype == torch.float32 and item["image"].shape[0] == in_ch
    assert item["label"].dtype == torch.int64 and item["label"].shape[0] == 1
    assert item["image"].shape[1:] == item["label"].shape[1:]
    assert item["spacing"].dtype == torch.float32 and item["spacing"].shape == (ndim,)
    assert item["image"].ndim == ndim + 1
    assert isinstance(item["case"], str)


# ---------------------------------------------------------------------------- DRIVE
def test_drive_values_fov_and_splits(tmp_path, writers):
    truth = writers.drive(tmp_path, n_train=5, n_test=2)
    ds = DriveDataset(tmp_path, "train", normalize="none")
    assert len(ds) == 5 and ds.num_classes == 2 and ds.in_channels == 3 and ds.spatial_dims == 2
    assert ds.class_names == ["background", "vessel"]
    item = ds[0]
    img, lab, fov = truth[item["case"]]
    _check_schema(item, 3, 2)
    np.testing.assert_array_equal(item["image"].numpy(), np.moveaxis(img, -1, 0).astype(np.float32))
    np.testing.assert_array_equal(item["label"][0].numpy(), (lab > 0).astype(np.int64))
    assert item["mask"].dtype == torch.bool
    np.testing.assert_array_equal(item["mask"][0].numpy(), fov > 0)
    # min-max per channel by default
    mm = DriveDataset(tmp_path, "train")[0]["image"]
    assert torch.allclose(mm.amin(dim=(1, 2)), torch.zeros(3)) and torch.allclose(mm.amax(dim=(1, 2)), torch.ones(3))
    # green channel only
    g = DriveDataset(tmp_path, "train", channels="green", normalize="none")[0]
    np.testing.assert_array_equal(g["image"][0].numpy(), img[..., 1].astype(np.float32))
    # validation carve-out: disjoint, deterministic per seed, covers training/
    tr = DriveDataset(tmp_path, "train", val_fraction=0.4, seed=3)
    va = DriveDataset(tmp_path, "val", val_fraction=0.4, seed=3)
    assert len(tr) == 3 and len(va) == 2 and not set(tr.case_ids) & set(va.case_ids)
    assert sorted(tr.case_ids + va.case_ids) == ds.case_ids
    assert DriveDataset(tmp_path, "val", val_fraction=0.4, seed=3).case_ids == va.case_ids
    others = {tuple(DriveDataset(tmp_path, "val", val_fraction=0.4, seed=s).case_ids) for s in range(6)}
    assert len(others) > 1
    te = DriveDataset(tmp_path, "test")
    assert te.case_ids == ["test_01", "test_02"]
    assert len(DriveDataset(tmp_path, "all")) == 7


def test_drive_resize_scales_spacing_and_keeps_binary(tmp_path, writers):
    writers.drive(tmp_path, n_train=1, n_test=1, shape=(24, 20))
    item = build_dataset("drive", "train", root=str(tmp_path), size=[12, 40])[0]
    assert item["image"].shape == (3, 12, 40) and item["mask"].shape == (1, 12, 40)
    torch.testing.assert_close(item["spacing"], torch.tensor([2.0, 0.5]))
    assert set(item["label"].unique().tolist()) <= {0, 1}


def test_drive_errors_name_the_file(tmp_path, writers):
    with pytest.raises(FileNotFoundError, match="expected the DRIVE layout"):
        DriveDataset(tmp_path, "train")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        DriveDataset(tmp_path / "nope", "train")
    writers.drive(tmp_path, n_train=2, n_test=1)
    (tmp_path / "training" / "1st_manual" / "22_manual1.gif").unlink()
    with pytest.raises(FileNotFoundError, match="22_manual1.gif"):
        DriveDataset(tmp_path, "train")
    from PIL import Image

    bad = np.zeros((24, 20), np.uint8)
    bad[0, 0] = 7
    Image.fromarray(bad).save(tmp_path / "training" / "1st_manual" / "22_manual1.gif")
    ds = DriveDataset(tmp_path, "train")
    with pytest.raises(ValueError, match=r"unexpected values \[0, 7\].*22_manual1.gif"):
        ds[1]
    Image.fromarray(np.zeros((10, 20), np.uint8)).save(tmp_path / "training" / "1st_manual" / "22_manual1.gif")
    with pytest.raises(ValueError, match="size mismatch.*22_training.tif.*22_manual1.gif"):
        DriveDataset(tmp_path, "train")[1]
    with pytest.raises(ValueError, match="split 'val' is empty"):
        DriveDataset(tmp_path, "val")


# ---------------------------------------------------------------------------- ACDC
def test_acdc_axis_order_spacing_frames_and_slices(tmp_path, writers):
    truth = writers.acdc(tmp_path, n=4, shape_xyz=(12, 10, 3), zooms=(1.5, 1.25, 10.0))
    ds = ACDCDataset(tmp_path, "all", mode="whole", normalize="none")
    assert ds.num_classes == 4 and ds.class_names[3] == "left_ventricle"
    assert ds.case_ids[:2] == ["patient001_ED", "patient001_ES"] and len(ds) == 8
    item = ds[1]
    img, gt = truth["patient001_ES"]
    _check_schema(item, 1, 3)
    assert item["image"].shape == (1, 3, 10, 12)  # (z, y, x)
    np.testing.assert_allclose(item["image"][0].numpy(), img.transpose(2, 1, 0))
    np.testing.assert_array_equal(item["label"][0].numpy(), gt.transpose(2, 1, 0))
    torch.testing.assert_close(item["spacing"], torch.tensor([10.0, 1.25, 1.5]))
    # frames picked from Info.cfg (ES of patient 2 is frame 07)
    es = ACDCDataset(tmp_path, "all", frames="ES", mode="whole")
    assert es.cases[1].image[0].name == "patient002_frame07.nii.gz"
    # 2D slices along z with in-plane spacing
    sl = ACDCDataset(tmp_path, "all", normalize="none")
    assert sl.spatial_dims == 2 and len(sl) == 8 * 3
    s = sl[4]
    assert (s["case"], s["slice"]) == ("patient001_ES", 1)
    np.testing.assert_array_equal(s["label"][0].numpy(), gt[:, :, 1].T)
    torch.testing.assert_close(s["spacing"], torch.tensor([1.25, 1.5]))


def test_acdc_patient_level_split(tmp_path, writers):
    writers.acdc(tmp_path, n=5)
    kw = dict(val_fraction=0.2, test_fraction=0.2, seed=7, mode="whole")
    parts = {s: ACDCDataset(tmp_path, s, **kw).case_ids for s in ("train", "val", "test")}
    patients = {s: {c.split("_")[0] for c in ids} for s, ids in parts.items()}
    assert [len(patients[s]) for s in ("train", "val", "test")] == [3, 1, 1]
    assert not (patients["train"] & patients["val"]) and not (patients["train"] & patients["test"])
    assert all(len(ids) == 2 * len(patients[s]) for s, ids in parts.items())  # ED+ES together
    assert ACDCDataset(tmp_path, "val", **kw).case_ids == parts["val"]


def test_acdc_training_folder_alone_is_pooled(tmp_path, writers):
    # the shared copy has training/ without testing/: all splits come from training/
    writers.acdc(tmp_path / "training", n=5)
    kw = dict(val_fraction=0.2, test_fraction=0.2, seed=7, mode="whole")
    parts = {s: ACDCDataset(tmp_path, s, **kw).case_ids for s in ("train", "val", "test")}
    assert [len(parts[s]) for s in ("train", "val", "test")] == [6, 2, 2]
    assert parts == {s: ACDCDataset(tmp_path / "training", s, **kw).case_ids for s in parts}


def test_acdc_errors(tmp_path, writers):
    with pytest.raises(FileNotFoundError, match="expected the ACDC layout"):
        ACDCDataset(tmp_path, "all")
    writers.acdc(tmp_path, n=2)
    (tmp_path / "patient002" / "patient002_frame07_gt.nii.gz").unlink()
    with pytest.raises(FileNotFoundError, match="patient002_frame07_gt.nii.gz"):
        ACDCDataset(tmp_path, "all")


def test_acdc_bad_label_values(tmp_path, writers):
    writers.acdc(tmp_path, n=1, shape_xyz=(4, 4, 2))
    bad = np.zeros((4, 4, 2), np.uint8)
    bad[0, 0, 0] = 5
    writers.nifti(tmp_path / "patient001" / "patient001_frame01_gt.nii.gz", bad, (1.0, 1.0, 1.0))
    ds = ACDCDataset(tmp_path, "all", mode="whole")
    with pytest.raises(ValueError, match=r"unexpected label values \[5\].*patient001_frame01_gt"):
        ds[0]


# ---------------------------------------------------------------------------- Decathlon
def test_decathlon_multimodal_channels_and_spacing(tmp_path, writers):
    truth = writers.decathlon(tmp_path, n=5, shape_xyz=(8, 6, 4), modalities=2, zooms=(0.8, 0.7, 5.0))
    ds = DecathlonDataset(tmp_path, "all", mode="whole", normalize="none")
    assert ds.in_channels == 2 and ds.num_classes == 3 and ds.class_names == ["background", "edema", "tumour"]
    assert ds.modalities == ["mod0", "mod1"] and ds.spatial_dims == 3
    item = ds[2]
    img, lab = truth[item["case"]]
    assert item["image"].shape == (2, 4, 6, 8)
    np.testing.assert_allclose(item["image"].numpy(), img.transpose(3, 2, 1, 0))
    np.testing.assert_array_equal(item["label"][0].numpy(), lab.transpose(2, 1, 0))
    torch.testing.assert_close(item["spacing"], torch.tensor([5.0, 0.7, 0.8]))
    # z-score per channel over the volume
    z = DecathlonDataset(tmp_path, "all", mode="whole")[2]["image"]
    torch.testing.assert_close(z.mean(dim=(1, 2, 3)), torch.zeros(2), atol=1e-5, rtol=0)
    tr = DecathlonDataset(tmp_path, "train", val_fraction=0.4, seed=0)
    va = DecathlonDataset(tmp_path, "val", val_fraction=0.4, seed=0)
    assert len(tr.cases) == 3 and len(va.cases) == 2 and not set(tr.case_ids) & set(va.case_ids)


def test_decathlon_errors(tmp_path, writers):
    with pytest.raises(FileNotFoundError, match="expected the Decathlon layout"):
        DecathlonDataset(tmp_path)
    writers.decathlon(tmp_path, n=2, modalities=1)
    (tmp_path / "labelsTr" / "case_001.nii.gz").unlink()
    with pytest.raises(FileNotFoundError, match="case_001.nii.gz"):
        DecathlonDataset(tmp_path, "all")
    writers.nifti(tmp_path / "labelsTr" / "case_001.nii.gz", np.zeros((8, 6, 3), np.uint8), (1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="size mismatch.*case_001"):
        DecathlonDataset(tmp_path, "all", mode="whole")[1]


# ---------------------------------------------------------------------------- folder
def test_folder_png_pairs_with_label_map(tmp_path):
    from PIL import Image

    (tmp_path / "img").mkdir()
    (tmp_path / "gt").mkdir()
    rng = np.random.default_rng(0)
    truth = {}
    for k in ("a", "b", "c"):
        im = rng.integers(0, 256, (16, 12), dtype=np.uint8)
        lab = np.where(rng.random((16, 12)) < 0.3, 255, 0).astype(np.uint8)
        Image.fromarray(im).save(tmp_path / "img" / f"{k}.png")
        Image.fromarray(lab).save(tmp_path / "gt" / f"{k}_mask.png")
        truth[k] = (im, lab)
    ds = FolderDataset(tmp_path, "img/*.png", "gt/*.png", label_map={0: 0, 255: 1}, normalize="none")
    assert ds.case_ids == ["a", "b", "c"] and ds.in_channels == 1 and ds.num_classes == 2
    item = ds[1]
    _check_schema(item, 1, 2)
    np.testing.assert_array_equal(item["image"][0].numpy(), truth["b"][0])
    np.testing.assert_array_equal(item["label"][0].numpy(), truth["b"][1] // 255)
    # without the map, 255 is out of range for 2 classes: the error names the file
    with pytest.raises(ValueError, match=r"unexpected label values \[255\].*b_mask.png"):
        FolderDataset(tmp_path, "img/*.png", "gt/*.png")[1]
    Image.fromarray(np.zeros((16, 12), np.uint8)).save(tmp_path / "img" / "d.png")
    with pytest.raises(FileNotFoundError, match="no label for image .*d.png"):
        FolderDataset(tmp_path, "img/*.png", "gt/*.png")
    with pytest.raises(FileNotFoundError, match="no image files match"):
        FolderDataset(tmp_path, "nothing/*.png", "gt/*.png")


def test_folder_fov_masks_and_2d_patches(tmp_path):
    """A field-of-view glob gives item["mask"] (matched by case id, RGB pictures read by
    their first channel); 2D images crop into patches with foreground oversampling."""
    from PIL import Image

    for d in ("img", "gt", "fov"):
        (tmp_path / d).mkdir()
    rng = np.random.default_rng(1)
    fovs = {}
    for k in ("a", "b"):
        Image.fromarray(rng.integers(0, 256, (40, 36, 3), dtype=np.uint8)).save(tmp_path / "img" / f"{k}.png")
        lab = np.zeros((40, 36), np.uint8)
        lab[30:32, 30:34] = 255  # a small structure in a corner
        Image.fromarray(lab).save(tmp_path / "gt" / f"{k}_manual1.png")
        fov = (rng.random((40, 36)) < 0.7).astype(np.uint8) * 255
        Image.fromarray(np.stack([fov] * 3, -1)).save(tmp_path / "fov" / f"{k}_mask.png")
        fovs[k] = fov > 0
    ds = FolderDataset(tmp_path, "img/*.png", "gt/*.png", masks="fov/*.png", label_map={0: 0, 255: 1})
    item = ds[1]
    _check_schema(item, 3, 2)
    assert item["mask"].shape == (1, 40, 36) and item["mask"].dtype == torch.bool
    np.testing.assert_array_equal(item["mask"][0].numpy(), fovs["b"])
    torch.manual_seed(0)
    patches = FolderDataset(tmp_path, "img/*.png", "gt/*.png", masks="fov/*.png", label_map={0: 0, 255: 1},
                            mode="patches", patch_size=(16, 12), samples_per_volume=20,
                            foreground_oversample=1.0)
    assert len(patches) == 40
    crops = [patches[i] for i in range(len(patches))]
    assert all(c["image"].shape == (3, 16, 12) and c["mask"].shape == (1, 16, 12) for c in crops)
    # every crop is centred on the structure, so every crop holds some of it
    assert all(int(c["label"].sum()) > 0 for c in crops)
    o = crops[0]["origin"]
    np.testing.assert_array_equal(crops[0]["mask"][0].numpy(), fovs["a"][o[0]:o[0] + 16, o[1]:o[1] + 12])
    (tmp_path / "fov" / "b_mask.png").unlink()
    with pytest.raises(FileNotFoundError, match="no mask for image .*b.png"):
        FolderDataset(tmp_path, "img/*.png", "gt/*.png", masks="fov/*.png", label_map={0: 0, 255: 1})


def test_folder_nifti_slices(tmp_path, writers):
    vol = np.arange(5 * 4 * 3, dtype=np.float32).reshape(5, 4, 3)
    lab = (vol % 3).astype(np.uint8)
    writers.nifti(tmp_path / "im" / "x_0000.nii.gz", vol, (2.0, 3.0, 4.0))
    writers.nifti(tmp_path / "lb" / "x.nii.gz", lab, (2.0, 3.0, 4.0))
    ds = build_dataset(
        "folder", "all", root=str(tmp_path), images="im/*.nii.gz", labels="lb/*.nii.gz",
        num_classes=3, mode="slices", normalize="none",
    )
    assert len(ds) == 3 and ds.spatial_dims == 2
    np.testing.assert_array_equal(ds[2]["image"][0].numpy(), vol[:, :, 2].T)
    torch.testing.assert_close(ds[2]["spacing"], torch.tensor([3.0, 2.0]))


# ---------------------------------------------------------------------------- shared data
@pytest.mark.data
def test_shared_drive(shared):
    root = shared / "drive"
    if not root.is_dir():
        pytest.skip("no DRIVE copy in the shared data")
    tr, te = DriveDataset(root, "train"), DriveDataset(root, "test")
    assert len(tr) == 20 and len(te) == 20
    item = te[0]
    assert item["image"].shape == (3, 584, 565) and item["mask"].shape == (1, 584, 565)
    # ~8.6% vessel pixels over the image (README), ~12.7% inside the field of view
    labels = [te[i] for i in range(0, 20, 5)]
    whole = np.mean([x["label"].float().mean().item() for x in labels])
    in_fov = np.mean([x["label"][x["mask"]].float().mean().item() for x in labels])
    assert 0.07 < whole < 0.10 and 0.11 < in_fov < 0.14


@pytest.mark.data
def test_shared_nifti_spacing_order(shared):
    path = shared / "samples" / "sub-spleen2_ct.nii.gz"
    if not path.is_file():
        pytest.skip("no spleen sample in the shared data")
    arr, spacing = read_nifti(path)
    assert arr.shape == (26, 166, 164)
    np.testing.assert_allclose(spacing, (5.0, 0.794922, 0.794922), rtol=1e-5)
    ds = FolderDataset(
        shared / "samples", "sub-spleen2_ct.nii.gz", "sub-spleen2_ct_seg-manual.nii.gz",
        case_regex=r"^(sub-spleen2)_ct", mode="slices", size=(64, 64),
    )
    item = ds[13]
    assert item["image"].shape == (1, 64, 64)
    torch.testing.assert_close(item["spacing"], torch.tensor([0.794922 * 166 / 64, 0.794922 * 164 / 64]))
    whole = FolderDataset(
        shared / "samples", "sub-spleen2_ct.nii.gz", "sub-spleen2_ct_seg-manual.nii.gz",
        case_regex=r"^(sub-spleen2)_ct",
    )[0]
    assert 0.10 < whole["label"].float().mean().item() < 0.18


@pytest.mark.parametrize("normalize", ["zscore", "minmax"])
def test_a_non_finite_image_voxel_is_an_error_naming_the_file(tmp_path, writers, normalize):
    # zscore turned such an image into zeros (minmax let NaN reach the items), silently
    from edgewise.data import build_dataset

    truth = writers.decathlon(tmp_path, n=3, modalities=1)
    img, _ = truth["case_001"]
    img = img.copy()
    img[1, 2, 3] = np.nan
    img[0, 0, 0] = np.inf
    writers.nifti(tmp_path / "imagesTr" / "case_001.nii.gz", img, (0.8, 0.7, 5.0))
    ds = build_dataset("decathlon", "all", root=tmp_path, normalize=normalize, mode="whole")
    with pytest.raises(ValueError) as info:
        [ds[i] for i in range(len(ds))]
    assert "case_001.nii.gz has 2 non-finite voxel(s)" in str(info.value)
    assert "nonfinite: mean" in str(info.value)


def test_non_finite_voxels_replaced_on_request_are_counted(tmp_path, writers):
    from edgewise.data import build_dataset

    truth = writers.decathlon(tmp_path, n=2, modalities=1)
    img, _ = truth["case_000"]
    img = img.copy()
    img[1, 2, 3] = np.nan
    writers.nifti(tmp_path / "imagesTr" / "case_000.nii.gz", img, (0.8, 0.7, 5.0))
    ds = build_dataset("decathlon", "all", root=tmp_path, normalize="none", mode="whole", nonfinite="mean")
    with pytest.warns(UserWarning, match="case_000.nii.gz: replaced 1 non-finite voxel"):
        item = ds[ds.case_ids.index("case_000")]
    image = item["image"].numpy()
    assert np.isfinite(image).all()
    finite = np.delete(img.ravel(), np.ravel_multi_index((1, 2, 3), img.shape))
    # the replaced voxel holds the mean of the others (array axes are reversed from NIfTI's)
    assert image[0, 3, 2, 1] == pytest.approx(float(finite.mean()), rel=1e-5)
    with pytest.raises(ValueError, match=r"expected nonfinite in \('error', 'mean'\), got 'zero'"):
        build_dataset("decathlon", "all", root=tmp_path, nonfinite="zero")
