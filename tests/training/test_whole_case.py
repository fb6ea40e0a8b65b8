"""edgewise.training.whole_case: the options that turn a patch dataset into whole cases (applying a
model to whole cases, slices restacked or windows slid, is tested in test_mirroring.py)."""

from __future__ import annotations

from edgewise.training.whole_case import whole_case_options


def test_patches_become_whole_cases_with_the_patch_size_as_window():
    options = {"mode": "patches", "patch_size": [8, "16"], "samples_per_volume": 4, "normalize": "zscore"}
    whole, roi = whole_case_options(options)
    assert roi == [8, 16]
    assert whole["mode"] == "whole" and whole["normalize"] == "zscore"
    assert "patch_size" not in whole and "samples_per_volume" not in whole
    assert options["mode"] == "patches" and options["patch_size"] == [8, "16"]  # the input is left alone


def test_other_modes_are_returned_unchanged_without_a_window():
    assert whole_case_options({"mode": "slices", "size": [4, 4]}) == ({"mode": "slices", "size": [4, 4]}, None)
    assert whole_case_options({}) == ({}, None)
