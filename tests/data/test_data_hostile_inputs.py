"""Careless or hostile data inputs (#25, second round): each is an error naming the input
and what was expected, never a silently wrong dataset."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from edgewise.data import DecathlonDataset, FolderDataset, build_dataset


def _pairs(root, names=("a", "b"), mask=None):
    from PIL import Image

    for d in ("img", "gt", "fov"):
        (root / d).mkdir(exist_ok=True)
    for k in names:
        Image.fromarray(np.arange(256, dtype=np.uint8).reshape(16, 16)).save(root / "img" / f"{k}.png")
        lab = np.zeros((16, 16), np.uint8)
        lab[4:10, 4:10] = 1
        Image.fromarray(lab).save(root / "gt" / f"{k}.png")
        fov = np.full((16, 16), 255, np.uint8) if mask is None else mask(k)
        Image.fromarray(fov).save(root / "fov" / f"{k}.png")


def test_an_all_zero_evaluation_mask_is_refused(tmp_path):
    """Metrics inside an empty mask compare two empty sets: case "a" scored a perfect Dice
    and HD95 0 for an all-wrong prediction, raising the mean of `edgewise score`."""
    _pairs(tmp_path, mask=lambda k: np.zeros((16, 16), np.uint8) if k == "a" else np.full((16, 16), 255, np.uint8))
    ds = FolderDataset(tmp_path, "img/*.png", "gt/*.png", masks="fov/*.png")
    assert ds[1]["mask"].all()
    with pytest.raises(ValueError, match=r"evaluation mask .*fov/a.png of case a is all zero"):
        ds[0]


def test_patches_need_samples_per_volume_of_one_or_more(tmp_path):
    """0 (or -2) gave an empty dataset: `train` failed later with "num_samples should be a
    positive integer value", after writing its run folder."""
    _pairs(tmp_path)
    for bad in (0, -2, 1.5):
        with pytest.raises(ValueError, match=rf"samples_per_volume to be an integer >= 1, got {bad}"):
            FolderDataset(tmp_path, "img/*.png", "gt/*.png", mode="patches", patch_size=[8, 8],
                          samples_per_volume=bad)


def test_num_classes_below_one_is_named(tmp_path):
    _pairs(tmp_path)
    with pytest.raises(ValueError, match=r"expected num_classes to be an integer >= 1 \(background included\), got 0"):
        FolderDataset(tmp_path, "img/*.png", "gt/*.png", num_classes=0)


def test_an_absolute_glob_is_a_value_error_naming_the_option(tmp_path):
    _pairs(tmp_path)
    with pytest.raises(ValueError, match=r"option images: expected a glob relative to root .*got '/etc/\*'"):
        FolderDataset(tmp_path, "/etc/*", "gt/*.png")


def test_a_broken_symbolic_link_is_named_not_left_out(tmp_path):
    """A broken link among the images dropped its case silently (or, alone, said "no image
    files match" while the folder listed one)."""
    _pairs(tmp_path)
    os.symlink(tmp_path / "nowhere.png", tmp_path / "img" / "c.png")
    with pytest.raises(FileNotFoundError, match=r"image file .*img/c.png is a broken symbolic link \(to .*nowhere.png"):
        FolderDataset(tmp_path, "img/*.png", "gt/*.png")


@pytest.mark.parametrize("meta, message", [
    ({"labels": {"0": "bg", "1": "x"}, "training": [{"image": "imagesTr/a.nii.gz"}]},
     r"each 'training' entry .* to be \{\"image\": PATH, \"label\": PATH\}, got entry 0"),
    ({"labels": {"0": "bg", "1": "x"}, "training": ["imagesTr/a.nii.gz"]},
     r"each 'training' entry .*got entry 0: 'imagesTr/a.nii.gz'"),
    ({"labels": {"background": "0", "x": "1"}, "training": [{"image": "a", "label": "b"}]},
     r"expected 'labels' in .*dataset.json as integer id -> name"),
    ({"labels": {"0": "bg", "1": "x"}, "modality": {"a": "CT"}, "training": [{"image": "a", "label": "b"}]},
     r"expected 'modality' \(or 'channel_names'\) in .*dataset.json as channel index -> name"),
])
def test_a_malformed_decathlon_dataset_json_is_named(tmp_path, meta, message):
    """Were KeyError 'label', "string indices must be integers" and "invalid literal for int()"."""
    (tmp_path / "dataset.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=message):
        DecathlonDataset(tmp_path)


def test_synthetic_n_val_below_one_names_n_val():
    with pytest.raises(ValueError, match=r"dataset option n_val: expected an integer >= 1 .*got 0"):
        build_dataset("synthetic", "val", n=4, n_val=0)


def test_an_unknown_augment_option_fails_on_every_split():
    """`augment: {flip: 1}` was ignored silently on val/test (and on a train_split not named
    "train"), and a TypeError of Augment.__init__ on "train"."""
    for split in ("train", "val"):
        with pytest.raises(ValueError, match=r"unknown augment option\(s\) \['flip'\]; expected some of \[.*'flip_prob'"):
            build_dataset("synthetic", split, n=2, n_val=2, shape=[16, 16], augment={"flip": 1})


def test_a_run_augments_its_training_split_whatever_its_name():
    """`build_split` augmented the split *named* "train": `train_split: all` trained without
    augmentation, and `val_split: train` (or eval --split train) scored augmented images."""
    from edgewise.data.augment import Augment
    from edgewise.training.datamodule import build_split

    data = {"name": "synthetic", "options": {"n": 2, "n_val": 2, "shape": [16, 16], "augment": {"flip_prob": 1.0}}}
    assert isinstance(build_split(data, "val", role="train").transform, Augment)
    assert build_split(data, "train", role="val").transform is None
    assert build_split(data, "train", role=None).transform is None
    assert isinstance(build_split(data, "train", role="train").transform, Augment)
