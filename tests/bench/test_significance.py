"""The report's statistics with known answers (#28): the hierarchical bootstrap over subjects
and seeds, Holm's adjustment, and ACDC's ED/ES frames counted as one patient."""

from __future__ import annotations

import csv
import math
import time

import numpy as np
import pytest
from scipy import stats

from edgewise.bench.grid import expand_grid
from edgewise.bench.report import write_report
from edgewise.bench.cells import write_bench_file
from edgewise.bench.stats import compare, hierarchical_bootstrap, holm, significance_mark, subject_table
from edgewise.data import subject_of

from .hand_bench import write_cell_results


def _arms(rng: np.random.Generator, n_subjects: int = 16, n_seeds: int = 3, shift: float = 0.0,
          seed_sd: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """Dice-like ``subjects x seeds`` tables of a loss and the baseline: a subject effect both
    share (what pairing by subject removes), a subject effect of each loss, a seed effect of
    each loss (one trained model scores every subject), and noise."""
    subject = rng.normal(0.80, 0.05, (n_subjects, 1))

    def arm(delta: float) -> np.ndarray:
        return (subject + delta + rng.normal(0, 0.02, (n_subjects, 1)) + rng.normal(0, seed_sd, (1, n_seeds))
                + rng.normal(0, 0.02, (n_subjects, n_seeds)))

    return arm(shift), arm(0.0)


def _margin(n: int, rate: float = 0.05) -> float:
    """The largest rejection rate of ``n`` replicates that is still consistent with ``rate``
    (binomial, one-sided, 0.1%)."""
    return float(stats.binom.ppf(0.999, n, rate)) / n


def test_identical_arms_are_marked_at_no_more_than_the_nominal_rate():
    """(a) Both arms from one distribution, with subject and seed noise: over 200 replicates
    the bootstrap p falls below 0.05 at most at the nominal rate (plus binomial margin), both
    with the seeds shared and with seeds of their own."""
    rng = np.random.default_rng(2028)
    start = time.perf_counter()
    for paired in (True, False):
        hits = 0
        for _ in range(200):
            a, b = _arms(rng)
            hits += hierarchical_bootstrap(a, b, paired_seeds=paired).pvalue < 0.05
        assert hits / 200 <= _margin(200), (paired, hits)  # 0.05 plus the binomial margin
    assert time.perf_counter() - start < 10.0


def test_a_report_of_identical_arms_is_marked_at_no_more_than_the_nominal_family_rate():
    """(a) Holm keeps the family-wise rate: reports of 3 losses x 2 metrics, all identical to
    the baseline, get any mark in at most 5% of 100 replicates (plus binomial margin)."""
    rng = np.random.default_rng(7)
    any_mark = 0
    for _ in range(100):
        p = [hierarchical_bootstrap(*_arms(rng), paired_seeds=True).pvalue for _ in range(6)]
        any_mark += bool((holm(p) < 0.05).any())
    assert any_mark / 100 <= _margin(100)


def test_a_planted_shift_is_found_with_an_interval_around_it():
    """(b) A loss 0.06 better everywhere: small p, an interval that excludes 0 and holds 0.06;
    over 100 replicates the 95% interval holds the planted value about 95% of the time."""
    rng = np.random.default_rng(11)
    a, b = _arms(rng, shift=0.06, seed_sd=0.005)
    r = hierarchical_bootstrap(a, b, paired_seeds=True)
    assert r.pvalue < 0.001 and r.n_subjects == 16 and (r.n_seeds, r.n_seeds_baseline) == (3, 3)
    assert 0 < r.ci_low < 0.06 < r.ci_high
    covered = 0
    for _ in range(100):
        x, y = _arms(rng, shift=0.03)
        res = hierarchical_bootstrap(x, y, paired_seeds=True)
        covered += res.ci_low <= 0.03 <= res.ci_high
    assert covered >= 100 * (1 - _margin(100))
    assert r.mean_diff == pytest.approx(float(np.mean(a - b)), abs=1e-12)
    assert significance_mark(r.mean_diff, r.pvalue, higher_is_better=True) == "▲"
    assert significance_mark(-r.mean_diff, r.pvalue, higher_is_better=True) == "▼"
    # a smaller shift than the noise allows: no mark, and the interval says what is not ruled out
    a, b = _arms(rng, shift=0.002)
    r = hierarchical_bootstrap(a, b, paired_seeds=False)
    assert r.pvalue > 0.05 and r.ci_low < 0 < r.ci_high
    assert significance_mark(r.mean_diff, r.pvalue, True) == ""


def test_bootstrap_is_reproducible_fast_and_handles_edges():
    rng = np.random.default_rng(3)
    a, b = _arms(rng, n_subjects=50)
    start = time.perf_counter()
    first = hierarchical_bootstrap(a, b, paired_seeds=True)
    assert time.perf_counter() - start < 1.0  # 10 000 replicates of 50 subjects x 3 seeds
    assert hierarchical_bootstrap(a, b, paired_seeds=True) == first  # a fixed generator seed
    # identical arms: a zero difference, p = 1
    same = hierarchical_bootstrap(a, a, paired_seeds=True)
    assert same.mean_diff == 0 and same.pvalue == 1.0 and same.ci_low == same.ci_high == 0
    # one subject: nothing to resample
    one = hierarchical_bootstrap(a[:1], b[:1])
    assert one.n_subjects == 1 and math.isnan(one.pvalue) and math.isnan(one.ci_low)
    # non-finite entries are left out; a subject with none in one loss is dropped
    a2 = a.copy()
    a2[0, :] = np.inf
    a2[1, 2] = np.nan
    r = hierarchical_bootstrap(a2, b)
    assert r.n_subjects == 49 and math.isfinite(r.pvalue)
    expected = np.nanmean(np.where(np.isfinite(a2), a2, np.nan)[1:]) - b[1:].mean()
    assert r.mean_diff == pytest.approx(expected, abs=1e-12)
    # one seed each: the subjects carry the test alone
    single = hierarchical_bootstrap(a[:, :1], b[:, :1], paired_seeds=True)
    assert single.n_seeds == 1 and math.isfinite(single.pvalue)
    with pytest.raises(ValueError, match="same subjects"):
        hierarchical_bootstrap(a, b[:10])
    with pytest.raises(ValueError, match="one shape for paired seeds"):
        hierarchical_bootstrap(a, b[:, :2], paired_seeds=True)


def test_seeds_are_replicated_not_averaged_away():
    """A loss whose seeds disagree (a large run-to-run spread) gets a wider interval than the
    same seed means with no spread: the bootstrap sees the seeds."""
    rng = np.random.default_rng(5)
    a, b = _arms(rng, seed_sd=0.0)
    spread = a + np.array([[-0.03, 0.0, 0.03]])  # same mean over seeds, run-to-run spread
    narrow = hierarchical_bootstrap(a, b, paired_seeds=True)
    wide = hierarchical_bootstrap(spread, b, paired_seeds=True)
    assert wide.mean_diff == pytest.approx(narrow.mean_diff, abs=1e-12)
    assert (wide.ci_high - wide.ci_low) > 1.5 * (narrow.ci_high - narrow.ci_low)


def test_holm_by_hand():
    """(c) m = 4: sorted 0.005, 0.01, 0.03, 0.04 -> 4 x 0.005 = 0.02, 3 x 0.01 = 0.03,
    2 x 0.03 = 0.06, max(0.06, 1 x 0.04) = 0.06; NaN stays NaN and is not counted."""
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    out = holm([0.01, math.nan, 0.04])
    assert out[0] == pytest.approx(0.02) and math.isnan(out[1]) and out[2] == pytest.approx(0.04)
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert holm([]).size == 0
    # ties keep their order and their value
    assert holm([0.01, 0.01, 0.2]) == pytest.approx([0.03, 0.03, 0.2])


def test_holm_against_statsmodels():
    """(c) The same adjustment as statsmodels' ``multipletests(method="holm")``, when installed."""
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    p = np.random.default_rng(0).uniform(0, 0.2, 25)
    assert holm(p) == pytest.approx(multitest.multipletests(p, method="holm")[1])


def test_acdc_frames_of_one_patient_are_one_subject():
    """(d) ACDC's ED and ES volumes of a patient are one unit: 32 cases, 16 subjects; giving
    both frames the same value changes nothing against one frame per patient."""
    assert subject_of("acdc", "patient101_ED") == subject_of("acdc", "patient101_ES") == "patient101"
    assert subject_of("acdc", "patient101") == "patient101"
    assert subject_of("drive", "test_01") == "test_01" and subject_of(None, "x_ED") == "x_ED"
    rng = np.random.default_rng(1)
    a, b = _arms(rng, n_subjects=16, shift=0.01)
    patients = [f"patient{101 + i:03d}" for i in range(16)]

    def frames(table: np.ndarray, both: bool = True) -> dict[int, dict[str, float]]:
        return {k: {f"{p}_{f}": float(table[i, k]) for i, p in enumerate(patients)
                    for f in (("ED", "ES") if both else ("ED",))} for k in range(table.shape[1])}

    key = lambda c: subject_of("acdc", c)  # noqa: E731
    subs, seeds, table = subject_table(frames(a), key)
    assert subs == patients and seeds == [0, 1, 2] and np.allclose(table, a)
    both = compare(frames(a), frames(b), key)
    one = compare(frames(a, both=False), frames(b, both=False), key)
    assert both.n_subjects == 16 and both == one
    # without the grouping the same values pass for 32 independent cases
    assert compare(frames(a), frames(b)).n_subjects == 32


def _acdc_bench(root, shift: float = 0.02, losses=("ce", "dice")):
    exp = {"name": "acdc_toy", "baseline": "ce", "datasets": {"acdc": {"name": "acdc"}},
           "losses": {loss: {"terms": [{"name": "ce"}]} for loss in losses}, "seeds": [0, 1, 2]}
    cells = expand_grid(exp)
    write_bench_file(root, exp, cells)
    rng = np.random.default_rng(4)
    patient = {p: rng.normal(0.8, 0.05) for p in range(16)}
    for cell in cells:
        rows = []
        for p in range(16):
            for frame in ("ED", "ES"):
                for cls in ("right_ventricle", "left_ventricle"):
                    v = patient[p] + (shift if cell.loss == "dice" else 0) + rng.normal(0, 0.02)
                    rows.append([f"patient{101 + p:03d}_{frame}", cls, v, 5 - 10 * (v - 0.8)])
        write_cell_results(root / cell.name, ["case", "class", "dice", "hd95"], rows, num_cases=32)
    return root


def test_report_pairs_acdc_by_patient(tmp_path):
    """(d) in a report: 32 test volumes are 16 patients; the tables say so."""
    report = write_report(_acdc_bench(tmp_path), overlays=0)
    rows = list(csv.DictReader(open(report.parent / "summary.csv")))
    (r,) = [r for r in rows if (r["loss"], r["class"], r["metric"]) == ("dice", "mean", "dice")]
    assert (int(r["n_cases"]), int(r["n_subjects"]), int(r["n_pairs"])) == (32, 16, 16)
    assert float(r["ci_low"]) < float(r["mean_diff"]) < float(r["ci_high"])
    assert 0 < float(r["p_boot"]) <= float(r["p_holm"]) <= 1
    # 1 loss x (mean + 2 classes) x 2 metrics in the family
    assert {int(x["n_tests"]) for x in rows if x["loss"] == "dice"} == {6}
    text = report.read_text()
    assert "acdc: 16 subjects for 32 cases" in text and "over the report's 6 comparisons" in text
    # the planted 0.02 Dice gain is found: better Dice, lower HD95, both marked
    line = next(x for x in text.splitlines() if x.startswith("| dice | +"))
    assert line.count("▲") == 2, line
    assert (report.parent / "figures" / "acdc_differences.png").stat().st_size > 2000


def test_a_loss_subset_repeats_the_full_reports_bootstrap(tmp_path):
    """Fixed generator, same subjects and seeds: the same interval and p in a subset of the
    losses; only the Holm family (and so the adjusted p) changes."""
    root = _acdc_bench(tmp_path, losses=("ce", "dice", "gdl"))
    full = list(csv.DictReader(open(write_report(root, overlays=0).parent / "summary.csv")))
    sub = list(csv.DictReader(open(write_report(root, overlays=0, losses=["ce", "dice"],
                                                output=tmp_path / "sub").parent / "summary.csv")))
    key = ("dataset", "loss", "class", "metric", "mean_diff", "ci_low", "ci_high", "p_boot", "n_subjects")
    assert [tuple(r[k] for k in key) for r in sub] == [tuple(r[k] for k in key) for r in full if r["loss"] != "gdl"]
    assert {r["n_tests"] for r in sub if r["loss"] == "dice"} == {"6"}
    assert {r["n_tests"] for r in full if r["loss"] == "dice"} == {"12"}
