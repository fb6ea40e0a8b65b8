"""Statistics for benchmark reports: spread over seeds and paired tests over cases.

Seeds measure how much a result depends on the training run; cases measure how much it
depends on the image. The report therefore gives mean ± standard deviation over seeds (of
each seed's mean over cases), and tests a loss against the baseline with a paired test over
cases, each case's value first averaged over seeds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = ["PairedTest", "mean_std", "paired_test", "seed_average"]


def mean_std(values: Sequence[float] | np.ndarray, ddof: int = 1) -> tuple[float, float, int]:
    """Mean and standard deviation of the finite values, and how many there were.

    The standard deviation is the sample one (``ddof=1``) by default, as is usual for a
    handful of seeds; it is NaN when fewer than ``ddof + 1`` values are finite. Non-finite
    values (an infinite HD95 for an empty prediction, a NaN for an empty class) are left out
    and show as a smaller count.

    Example:
        >>> m, s, n = mean_std([0.7, 0.8, 0.9, float("inf")])
        >>> round(m, 6), round(s, 6), n
        (0.8, 0.1, 3)
    """
    arr = np.asarray(values, dtype=np.float64).ravel()
    arr = arr[np.isfinite(arr)]
    n = int(arr.size)
    if n == 0:
        return math.nan, math.nan, 0
    mean = float(arr.mean())
    std = float(arr.std(ddof=ddof)) if n > ddof else math.nan
    return mean, std, n


def seed_average(values: Mapping[int, Mapping[str, float]]) -> dict[str, float]:
    """Average per-case values over seeds: ``{seed: {case: value}}`` -> ``{case: mean}``.

    Non-finite values are left out of a case's mean; a case with no finite value gets NaN.

    Example:
        >>> seed_average({0: {"a": 1.0, "b": 2.0}, 1: {"a": 3.0, "b": float("inf")}})
        {'a': 2.0, 'b': 2.0}
    """
    cases: dict[str, list[float]] = {}
    for per_case in values.values():
        for case, v in per_case.items():
            cases.setdefault(case, []).append(float(v))
    out = {}
    for case in sorted(cases):
        arr = np.asarray(cases[case])
        arr = arr[np.isfinite(arr)]
        out[case] = float(arr.mean()) if arr.size else math.nan
    return out


@dataclass(frozen=True)
class PairedTest:
    """Result of a paired test of ``a`` against ``b`` (differences are ``a - b``)."""

    method: str
    statistic: float
    pvalue: float
    n: int
    mean_diff: float
    median_diff: float


def paired_test(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    method: Literal["wilcoxon", "ttest"] = "wilcoxon",
) -> PairedTest:
    """Two-sided paired test of ``a`` against ``b`` over the same cases.

    ``wilcoxon`` is the Wilcoxon signed-rank test (:func:`scipy.stats.wilcoxon`, zero
    differences dropped, exact distribution for small samples as scipy chooses), ``ttest``
    the paired t-test (:func:`scipy.stats.ttest_rel`). Pairs where either value is not
    finite are dropped. When every difference is zero the p-value is 1; with fewer than two
    usable pairs it is NaN.

    Args:
        a: values of the loss under test, one per case.
        b: values of the baseline, same cases in the same order.
        method: which test.

    Raises:
        ValueError: if ``a`` and ``b`` differ in length or ``method`` is unknown.

    Example:
        >>> r = paired_test([0.80, 0.82, 0.79, 0.85, 0.90], [0.70, 0.75, 0.74, 0.80, 0.81])
        >>> r.n, round(r.pvalue, 4)
        (5, 0.0625)
    """
    if method not in ("wilcoxon", "ttest"):
        raise ValueError(f"expected method 'wilcoxon' or 'ttest', got {method!r}")
    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"expected paired values of equal length, got {x.size} and {y.size}")
    keep = np.isfinite(x) & np.isfinite(y)
    d = x[keep] - y[keep]
    n = int(d.size)
    if n < 2:
        return PairedTest(method, math.nan, math.nan, n, _mean(d), _median(d))
    if np.all(d == 0):
        return PairedTest(method, 0.0, 1.0, n, 0.0, 0.0)
    from scipy import stats

    if method == "wilcoxon":
        res = stats.wilcoxon(x[keep], y[keep], alternative="two-sided")
    else:
        res = stats.ttest_rel(x[keep], y[keep], alternative="two-sided")
    return PairedTest(method, float(res.statistic), float(res.pvalue), n, _mean(d), _median(d))


def _mean(d: np.ndarray) -> float:
    return float(d.mean()) if d.size else math.nan


def _median(d: np.ndarray) -> float:
    return float(np.median(d)) if d.size else math.nan
