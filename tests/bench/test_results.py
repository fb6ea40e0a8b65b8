"""edgewise.bench.results: the helpers behind the report, on hand-made values (the readers are
tested on a whole bench folder in test_report.py)."""

from __future__ import annotations

import math

import pytest

from edgewise.bench.results import finite_mean, is_sweep, metric_info, short_code


def test_is_sweep_needs_a_sweep_metric_and_a_number():
    assert is_sweep("nsd@2") and is_sweep("nsd@0.5")
    assert not is_sweep("nsd") and not is_sweep("dice") and not is_sweep("nsd@x")


def test_metric_info_labels_and_directions():
    assert metric_info("hd95") == ("HD95", False)
    assert metric_info("nsd@2") == ("NSD@2", True)
    with pytest.raises(ValueError, match="expected a metric among"):
        metric_info("accuracyy")


def test_finite_mean_skips_nan_and_inf():
    assert finite_mean([1.0, math.nan, 3.0, math.inf]) == 2.0
    assert math.isnan(finite_mean([math.nan]))
    assert math.isnan(finite_mean([]))


def test_short_code_shortens_commits_only():
    commit = "0123456789abcdef0123456789abcdef01234567"
    assert short_code(commit) == "0123456789ab"
    assert short_code(commit + "+dirty") == "0123456789ab+dirty"
    assert short_code("unknown") == "unknown"
