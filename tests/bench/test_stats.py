"""Statistics against scipy and hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from edgewise.bench.stats import mean_std, paired_test, seed_average


def test_mean_std_hand_values():
    m, s, n = mean_std([0.7, 0.8, 0.9])
    assert n == 3
    assert m == pytest.approx(0.8, abs=1e-15)
    # sample variance: ((0.1)^2 + 0 + (0.1)^2) / 2 = 0.01
    assert s == pytest.approx(0.1, abs=1e-15)
    assert mean_std([2.0, 4.0], ddof=0)[1] == pytest.approx(1.0)


def test_mean_std_drops_non_finite_and_handles_small_counts():
    m, s, n = mean_std([1.0, float("nan"), 3.0, float("inf")])
    assert (m, n) == (2.0, 2) and s == pytest.approx(math.sqrt(2.0))
    m, s, n = mean_std([5.0])
    assert m == 5.0 and math.isnan(s) and n == 1
    m, s, n = mean_std([])
    assert math.isnan(m) and math.isnan(s) and n == 0


def test_seed_average():
    got = seed_average({0: {"a": 1.0, "b": 2.0, "c": float("nan")}, 1: {"a": 2.0, "b": 4.0}, 2: {"a": 6.0}})
    assert got["a"] == pytest.approx(3.0) and got["b"] == pytest.approx(3.0)
    assert math.isnan(got["c"])
    assert list(got) == ["a", "b", "c"]


def test_paired_tests_agree_with_scipy():
    rng = np.random.default_rng(0)
    b = rng.uniform(0.6, 0.9, 17)
    a = b + rng.normal(0.02, 0.03, 17)
    w = paired_test(a, b, "wilcoxon")
    t = paired_test(a, b, "ttest")
    ref_w = stats.wilcoxon(a, b)
    ref_t = stats.ttest_rel(a, b)
    assert w.pvalue == pytest.approx(ref_w.pvalue, rel=1e-12)
    assert w.statistic == pytest.approx(ref_w.statistic)
    assert t.pvalue == pytest.approx(ref_t.pvalue, rel=1e-12)
    assert t.statistic == pytest.approx(ref_t.statistic)
    assert w.n == t.n == 17
    assert w.mean_diff == pytest.approx(float(np.mean(a - b)))
    assert w.median_diff == pytest.approx(float(np.median(a - b)))


def test_wilcoxon_exact_hand_value():
    # 5 positive differences with distinct ranks: W- = 0, exact two-sided p = 2 / 2^5
    r = paired_test([0.80, 0.82, 0.79, 0.85, 0.90], [0.70, 0.75, 0.74, 0.80, 0.81])
    assert r.statistic == 0.0
    assert r.pvalue == pytest.approx(2 / 32)


def test_paired_t_hand_value():
    # differences 1, 2, 3: mean 2, sd 1, t = 2 / (1 / sqrt 3) = 2 sqrt 3 with 2 dof
    r = paired_test([2.0, 4.0, 6.0], [1.0, 2.0, 3.0], "ttest")
    assert r.statistic == pytest.approx(2 * math.sqrt(3))
    assert r.pvalue == pytest.approx(2 * stats.t.sf(2 * math.sqrt(3), 2))


def test_paired_test_edge_cases():
    same = paired_test([0.5, 0.6, 0.7], [0.5, 0.6, 0.7])
    assert same.pvalue == 1.0 and same.n == 3
    few = paired_test([0.5, float("inf")], [0.4, 0.3], "ttest")
    assert few.n == 1 and math.isnan(few.pvalue)
    dropped = paired_test([1.0, 2.0, float("nan"), 4.0, 5.5], [0.0, 0.5, 1.0, 1.0, 1.0])
    assert dropped.n == 4
    assert dropped.pvalue == pytest.approx(stats.wilcoxon([1.0, 2.0, 4.0, 5.5], [0.0, 0.5, 1.0, 1.0]).pvalue)
    with pytest.raises(ValueError, match="equal length"):
        paired_test([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="'wilcoxon' or 'ttest'"):
        paired_test([1.0, 2.0], [1.0, 2.0], "sign")  # type: ignore[arg-type]
