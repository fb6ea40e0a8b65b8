"""Statistics for benchmark reports: spread over seeds, and tests of each loss against the
baseline with the subject as the unit and the seeds replicated.

Seeds measure how much a result depends on the training run; subjects measure how much it
depends on the patient (or image). The report gives mean ± standard deviation over seeds (of
each seed's mean over cases) for each loss, and compares a loss with the baseline as follows.

- **Unit: the subject.** Cases of one subject (ACDC: the ED and ES frames of a patient, see
  :func:`edgewise.data.subject_of`) are not independent, so per-case values are first
  averaged within the subject, per seed: a ``subjects x seeds`` table per loss
  (:func:`subject_table`).
- **Hierarchical bootstrap** (:func:`hierarchical_bootstrap`) of the difference
  ``loss - baseline``: each replicate resamples the subjects with replacement and, within
  that, the seeds with replacement, and takes the difference of the two weighted means.
  Both losses use the same resampled subjects (the comparison is paired by subject), and the
  same resampled seeds when they ran the same seeds. Seeds are drawn once per replicate, not
  once per subject: a seed is one trained model that scored every subject, so its effect is
  shared by all of them, and drawing seeds per subject would average the run-to-run spread
  away. Each level draws ``n - 1`` of its ``n`` units (subjects, seeds; at least one), the
  size that makes the bootstrap variance of a mean the unbiased one (McCarthy and Snowden
  1985; Rao and Wu 1988): with 3 seeds, ``n`` draws would understate the seed spread by a
  third. The result is the observed difference, the 95% percentile interval of the
  replicates, and the two-sided bootstrap p-value ``2 * (min(#{d* <= 0}, #{d* >= 0}) + 1) /
  (B + 1)`` (capped at 1), which is below ``alpha`` exactly when the ``1 - alpha`` percentile
  interval excludes 0. Replicates use :class:`numpy.random.Generator` with a fixed seed, so a
  report is reproducible, and are computed as matrix products of resampling counts (10 000
  replicates of 50 subjects x 3 seeds: a few milliseconds).
- **Multiple comparisons**: :func:`holm` adjusts the p-values of every comparison of a
  report (all losses x classes x metrics); a difference is marked (:func:`significance_mark`)
  only when its Holm-adjusted p is below 0.05, ▲ in the better direction of the metric, ▼ in
  the worse. No mark means no difference was detected: the interval shows which differences
  the data cannot rule out.

Known limits: the seed level is estimated from the seeds there are; with 3 seeds and a
run-to-run spread larger than the spread over subjects, the marks are somewhat liberal (more
seeds fix it). With fewer than about 10 subjects, percentile intervals are short of their
nominal coverage. p-values below ``2 / (B + 1)`` cannot be resolved; :func:`n_boot_for`
raises ``B`` so that the first Holm threshold stays reachable.

:func:`paired_test` (Wilcoxon signed-rank, paired t-test over subjects, seeds averaged) is
kept for ``summary.csv``: classical, uncorrected, and blind to the seed spread.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

__all__ = [
    "BOOTSTRAP_SEED",
    "N_BOOT",
    "BootstrapDiff",
    "PairedTest",
    "compare",
    "hierarchical_bootstrap",
    "holm",
    "mean_std",
    "n_boot_for",
    "paired_test",
    "seed_average",
    "significance_mark",
    "subject_table",
]

# replicates of the hierarchical bootstrap, and the seed of its generator (fixed: a report
# gives the same numbers every time it is written)
N_BOOT = 10_000
BOOTSTRAP_SEED = 20_240_528


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


# ----------------------------------------------------------------------------- subjects
def subject_table(
    values: Mapping[int, Mapping[str, float]],
    subject_of: Callable[[str], str] | None = None,
    subjects: Sequence[str] | None = None,
) -> tuple[list[str], list[int], np.ndarray]:
    """Per-case values of one loss, ``{seed: {case: value}}``, as a ``subjects x seeds`` table.

    Each entry is the mean of the subject's finite case values in that seed (ACDC: the ED and
    ES frames of a patient), NaN when it has none.

    Args:
        values: each seed's per-case values.
        subject_of: case id -> subject (default: every case is its own subject).
        subjects: the rows, in this order (default: the subjects present, sorted); a subject
            the loss did not score gets a row of NaN.

    Returns:
        ``(subjects, seeds, table)`` with seeds sorted.

    Example:
        >>> subs, seeds, t = subject_table({0: {"p1_ED": 0.8, "p1_ES": 0.6, "p2_ED": 0.9}},
        ...                                lambda c: c.partition("_")[0])
        >>> subs, seeds, t.round(3).tolist()
        (['p1', 'p2'], [0], [[0.7], [0.9]])
    """
    key = subject_of or (lambda c: c)
    seeds = sorted(values)
    sums: dict[str, np.ndarray] = {}
    counts: dict[str, np.ndarray] = {}
    for j, seed in enumerate(seeds):
        for case, v in values[seed].items():
            sub = key(case)
            if sub not in sums:
                sums[sub] = np.zeros(len(seeds))
                counts[sub] = np.zeros(len(seeds))
            if math.isfinite(v):
                sums[sub][j] += v
                counts[sub][j] += 1
    rows = list(subjects) if subjects is not None else sorted(sums)
    table = np.full((len(rows), len(seeds)), np.nan)
    for i, sub in enumerate(rows):
        if sub in sums:
            with np.errstate(invalid="ignore", divide="ignore"):
                table[i] = np.where(counts[sub] > 0, sums[sub] / np.maximum(counts[sub], 1), np.nan)
    return rows, seeds, table


# ---------------------------------------------------------------------------- bootstrap
@dataclass(frozen=True)
class BootstrapDiff:
    """Difference ``loss - baseline`` by :func:`hierarchical_bootstrap`.

    ``mean_diff`` is the observed difference of the means over subjects and seeds, ``ci_low``
    and ``ci_high`` the percentile interval at ``confidence``, ``pvalue`` the two-sided
    bootstrap p-value (uncorrected); all NaN with fewer than two subjects.
    """

    mean_diff: float
    ci_low: float
    ci_high: float
    pvalue: float
    n_subjects: int
    n_seeds: int
    n_seeds_baseline: int
    paired_seeds: bool
    n_boot: int
    confidence: float = 0.95


def n_boot_for(n_tests: int, alpha: float = 0.05, minimum: int = N_BOOT) -> int:
    """Replicates needed for a family of ``n_tests``: the smallest bootstrap p-value,
    ``2 / (B + 1)``, must fall below Holm's first threshold ``alpha / n_tests``.

    Example:
        >>> n_boot_for(20), n_boot_for(1000)
        (10000, 40000)
    """
    need = math.ceil(2 * max(n_tests, 1) / alpha)
    return max(minimum, need)


@functools.lru_cache(maxsize=16)
def _counts(n: int, draws: int, n_boot: int, seed: int, stream: int) -> np.ndarray:
    """``(n_boot, n)`` resampling weights: how often each of ``n`` units is drawn in ``draws``
    draws with replacement, divided by ``draws``. Cached read-only: every comparison of the
    same shape uses the same draws (common random numbers), whatever else the report holds."""
    rng = np.random.default_rng([seed, stream, n, draws])
    idx = rng.integers(0, n, size=(n_boot, draws))
    flat = (idx + n * np.arange(n_boot)[:, None]).ravel()
    out = np.bincount(flat, minlength=n_boot * n).reshape(n_boot, n) / draws
    out.setflags(write=False)
    return out


@functools.lru_cache(maxsize=1)
def _thread_controller() -> Any:
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    return ThreadpoolController()  # finds the loaded BLAS libraries once (milliseconds)


def _one_blas_thread() -> contextlib.AbstractContextManager[object]:
    """One BLAS thread for the small products of the bootstrap: threads cost far more than
    they save there (5-10 times slower on a busy 2-core machine). Needs ``threadpoolctl``
    (installed with scikit-learn and others); without it, BLAS keeps its threads."""
    controller = _thread_controller()
    if controller is None:
        return contextlib.nullcontext()
    return controller.limit(limits=1, user_api="blas")


def _weighted_means(table: np.ndarray, subj_w: np.ndarray, seed_w: np.ndarray) -> np.ndarray:
    """Mean of the finite entries of ``table`` (subjects x seeds) under each replicate's
    subject and seed weights (rows of ``subj_w``, ``seed_w``, each summing to 1)."""
    finite = np.isfinite(table)
    num = ((subj_w @ np.where(finite, table, 0.0)) * seed_w).sum(axis=1)
    if finite.all():
        return num
    den = ((subj_w @ finite.astype(np.float64)) * seed_w).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def hierarchical_bootstrap(
    a: Sequence[Sequence[float]] | np.ndarray,
    b: Sequence[Sequence[float]] | np.ndarray,
    *,
    paired_seeds: bool = False,
    n_boot: int = N_BOOT,
    confidence: float = 0.95,
    seed: int = BOOTSTRAP_SEED,
) -> BootstrapDiff:
    """Two-level bootstrap of ``mean(a) - mean(b)`` over subjects (rows) and seeds (columns).

    Rows of ``a`` and ``b`` are the same subjects; columns are seeds (see
    :func:`subject_table`). Each replicate draws ``S - 1`` of the ``S`` subjects with
    replacement (the same draw for both losses: paired by subject), then ``K - 1`` of each
    loss's ``K`` seeds (at least one; the same draw for both when ``paired_seeds``, i.e. both
    ran the same seeds, in the same column order), and takes the difference of the means of
    the finite entries under those weights. Non-finite entries are left out; subjects without
    a finite value in either loss (with ``paired_seeds``: in a common seed) are dropped, as
    are seeds without any.

    Args:
        a: the loss under test, ``subjects x seeds``.
        b: the baseline, ``subjects x seeds``.
        paired_seeds: both ran the same seeds (columns aligned).
        n_boot: replicates.
        confidence: level of the percentile interval.
        seed: seed of the :class:`numpy.random.Generator`.

    Returns:
        The observed difference, its percentile interval and the two-sided bootstrap
        p-value (see the module docstring).

    Raises:
        ValueError: ``a`` and ``b`` have other numbers of rows, or other shapes with
            ``paired_seeds``; bad ``n_boot`` or ``confidence``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> base = rng.normal(0.8, 0.05, size=(20, 3))
        >>> r = hierarchical_bootstrap(base + 0.03 + rng.normal(0, 0.01, (20, 3)), base, paired_seeds=True)
        >>> r.n_subjects, r.ci_low < 0.03 < r.ci_high, r.pvalue < 0.001
        (20, True, True)
    """
    x = np.array(a, dtype=np.float64, ndmin=2)
    y = np.array(b, dtype=np.float64, ndmin=2)
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f"expected two subjects x seeds tables with the same subjects, got shapes "
                         f"{x.shape} and {y.shape}")
    if paired_seeds and x.shape != y.shape:
        raise ValueError(f"expected tables of one shape for paired seeds, got {x.shape} and {y.shape}")
    if n_boot < 100:
        raise ValueError(f"expected n_boot >= 100, got {n_boot}")
    if not 0 < confidence < 1:
        raise ValueError(f"expected confidence in (0, 1), got {confidence}")
    x[~np.isfinite(x)] = np.nan
    y[~np.isfinite(y)] = np.nan
    if paired_seeds:
        d = x - y
        rows = np.isfinite(d).any(axis=1)
        d = d[rows][:, np.isfinite(d[rows]).any(axis=0)]
        tables = [d]
    else:
        rows = np.isfinite(x).any(axis=1) & np.isfinite(y).any(axis=1)
        x, y = x[rows], y[rows]
        tables = [x[:, np.isfinite(x).any(axis=0)], y[:, np.isfinite(y).any(axis=0)]]
    n_sub = int(rows.sum())
    k_a, k_b = tables[0].shape[1], tables[-1].shape[1]
    if n_sub < 2:
        return BootstrapDiff(math.nan, math.nan, math.nan, math.nan, n_sub, k_a, k_b, paired_seeds, n_boot,
                             confidence)
    ones_s, ones_k = np.ones((1, n_sub)), [np.ones((1, t.shape[1])) for t in tables]
    subj_w = _counts(n_sub, n_sub - 1, n_boot, seed, 0)
    seed_w = [_counts(t.shape[1], max(t.shape[1] - 1, 1), n_boot, seed, 1 + i) for i, t in enumerate(tables)]
    with _one_blas_thread():
        means = [_weighted_means(t, ones_s / n_sub, k / k.size) for t, k in zip(tables, ones_k)]
        observed = float(means[0][0] - (means[1][0] if len(tables) > 1 else 0.0))
        reps = _weighted_means(tables[0], subj_w, seed_w[0])
        if len(tables) > 1:
            reps = reps - _weighted_means(tables[1], subj_w, seed_w[1])
    reps = reps[np.isfinite(reps)]
    if not reps.size:
        return BootstrapDiff(observed, math.nan, math.nan, math.nan, n_sub, k_a, k_b, paired_seeds, n_boot,
                             confidence)
    tail = (1 - confidence) / 2
    low, high = np.quantile(reps, [tail, 1 - tail])
    extreme = min(int((reps <= 0).sum()), int((reps >= 0).sum()))
    p = min(1.0, 2 * (extreme + 1) / (reps.size + 1))
    return BootstrapDiff(observed, float(low), float(high), p, n_sub, k_a, k_b, paired_seeds, n_boot,
                         confidence)


def compare(
    loss: Mapping[int, Mapping[str, float]],
    baseline: Mapping[int, Mapping[str, float]],
    subject_of: Callable[[str], str] | None = None,
    *,
    n_boot: int = N_BOOT,
    seed: int = BOOTSTRAP_SEED,
) -> BootstrapDiff:
    """:func:`hierarchical_bootstrap` of two losses' per-case values, ``{seed: {case: value}}``.

    Cases are grouped into subjects by ``subject_of`` (:func:`subject_table`) over the
    subjects either loss scored; the seeds are paired when both ran the same seeds.

    Example:
        >>> base = {s: {f"p{i}_{f}": 0.70 + 0.01 * i for i in range(8) for f in ("ED", "ES")} for s in (0, 1, 2)}
        >>> better = {s: {c: v + 0.05 for c, v in per.items()} for s, per in base.items()}
        >>> r = compare(better, base, lambda c: c.partition("_")[0])
        >>> r.n_subjects, round(r.mean_diff, 6), r.paired_seeds
        (8, 0.05, True)
    """
    subs = sorted({subject_of(c) if subject_of else c for per in (*loss.values(), *baseline.values()) for c in per})
    _, seeds_a, a = subject_table(loss, subject_of, subs)
    _, seeds_b, b = subject_table(baseline, subject_of, subs)
    return hierarchical_bootstrap(a, b, paired_seeds=seeds_a == seeds_b, n_boot=n_boot, seed=seed)


# ----------------------------------------------------------------- multiple comparisons
def holm(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values (non-finite ones stay NaN and do
    not count in the family).

    The ``i``-th smallest of ``m`` p-values becomes ``max_{j <= i} min(1, (m - j + 1) p_(j))``;
    rejecting where the adjusted p is below ``alpha`` controls the family-wise error rate at
    ``alpha`` (Holm 1979).

    Example:
        >>> holm([0.01, 0.04, 0.03, 0.005]).round(3).tolist()
        [0.03, 0.06, 0.06, 0.02]
    """
    p = np.asarray(pvalues, dtype=np.float64).ravel()
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    q = p[ok]
    m = q.size
    if m:
        order = np.argsort(q, kind="stable")
        adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * q[order]))
        res = np.empty(m)
        res[order] = adjusted
        out[ok] = res
    return out


def significance_mark(diff: float, p_adjusted: float, higher_is_better: bool, alpha: float = 0.05) -> str:
    """``"▲"`` for a difference that is significant (adjusted p below ``alpha``) and better,
    ``"▼"`` for one that is significant and worse, ``""`` otherwise.

    Example:
        >>> significance_mark(-2.0, 0.001, higher_is_better=False), significance_mark(0.02, 0.2, True)
        ('▲', '')
    """
    if not (math.isfinite(diff) and math.isfinite(p_adjusted)) or p_adjusted >= alpha or diff == 0:
        return ""
    return "▲" if (diff > 0) == higher_is_better else "▼"
