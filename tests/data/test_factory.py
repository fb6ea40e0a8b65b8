"""edgewise.data.factory: build_dataset's names, options and root checks."""

from __future__ import annotations

import pytest

from edgewise.data import (
    build_dataset,
)


def test_build_dataset_rejects_unknown():
    with pytest.raises(ValueError, match="expected dataset name"):
        build_dataset("imagenet", "train")
    with pytest.raises(ValueError, match="needs root="):
        build_dataset("drive", "train")


@pytest.mark.parametrize(
    "name, options, message",
    [
        ("synthetic", {"size": [0, 0]}, "dataset option size: expected a list of integers >= 1 (one per axis), got [0, 0]"),
        ("synthetic", {"size": [-5, 64]}, "dataset option size: expected a list of integers >= 1 (one per axis), got [-5, 64]"),
        ("synthetic", {"patch_size": "64"}, "dataset option patch_size: expected a list of integers >= 1"),
        ("synthetic", {"sizes": [64, 64]}, "unknown dataset option(s) ['sizes'] for dataset 'synthetic'; expected some of"),
        ("folder", {"root": "."}, "dataset 'folder' needs option(s) ['images', 'labels']"),
        ("folder", {"root": ".", "images": "*.png", "labels": "*.png", "case_regex": "("},
         "option case_regex: expected a regular expression, got '('"),
    ],
)
def test_bad_dataset_options_name_the_option(name, options, message):
    # they raised ZeroDivisionError, a raw torch error, or a TypeError naming an __init__
    with pytest.raises(ValueError) as info:
        build_dataset(name, "train", **{"n": 2, "shape": [32, 32], **options} if name == "synthetic" else options)
    assert message in str(info.value)


def test_a_reader_root_that_is_a_file_says_so(tmp_path):
    f = tmp_path / "DRIVE.zip"
    f.write_bytes(b"PK")
    with pytest.raises(FileNotFoundError, match="but it is a file: give the folder that holds it"):
        build_dataset("drive", "train", root=f)
