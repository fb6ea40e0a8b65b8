"""Report tables and statistics from hand-written run folders (no training needed)."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
from scipy import stats

from edgewise.bench.cells import write_bench_file
from edgewise.bench.grid import expand_grid
from edgewise.bench.report import load_results, read_curves, read_per_case, write_report

from .hand_bench import CASES, CLASSES, METRICS, record_code


def _case_mean(vals, case, m, classes=CLASSES):
    v = [vals[(case, c, m)] for c in classes if math.isfinite(vals[(case, c, m)])]
    return sum(v) / len(v)


def test_per_case_and_curves_readers(scored_bench):
    root, truth = scored_bench
    values = read_per_case(root / "syn/ce/seed1/per_case.csv")
    assert values["hd95"]["artery"]["c3"] == math.inf
    # the class mean leaves the infinite value out
    assert values["hd95"]["mean"]["c3"] == pytest.approx(truth[("ce", 1)][("c3", "vessel", "hd95")])
    assert values["dice"]["mean"]["c0"] == pytest.approx(_case_mean(truth[("ce", 1)], "c0", "dice"))
    curves = read_curves(root / "syn/ce/seed1/metrics.csv")
    assert curves["val/dice"] == pytest.approx({0: 0.51, 1: 0.61, 2: 0.71})
    assert curves["train/loss"] == pytest.approx({0: 1.0, 1: 0.8, 2: 0.6})
    assert curves["val/loss"] == pytest.approx({0: 1.0, 1: 0.9, 2: 0.8})


def test_report_numbers(scored_bench):
    root, truth = scored_bench
    report = write_report(root, overlays=0)
    assert report == root / "report" / "report.md"
    text = report.read_text()
    rows = list(csv.DictReader(open(report.parent / "summary.csv")))

    def row(loss, cls, m):
        (r,) = [r for r in rows if (r["dataset"], r["loss"], r["class"], r["metric"]) == ("syn", loss, cls, m)]
        return r

    for loss, seeds in (("ce", [0, 1, 2]), ("ce_bl", [0, 1])):
        for m in METRICS:
            per_seed = [np.mean([_case_mean(truth[(loss, s)], c, m) for c in CASES]) for s in seeds]
            r = row(loss, "mean", m)
            assert float(r["mean"]) == pytest.approx(np.mean(per_seed), rel=1e-9)
            assert float(r["std"]) == pytest.approx(np.std(per_seed, ddof=1), rel=1e-9)
            assert int(r["n_seeds"]) == len(seeds)
            per_seed_cls = [np.mean([truth[(loss, s)][(c, "vessel", m)] for c in CASES]) for s in seeds]
            assert float(row(loss, "vessel", m)["mean"]) == pytest.approx(np.mean(per_seed_cls), rel=1e-9)

    # paired tests over cases, each case averaged over the seeds that finished
    for m in METRICS:
        a = [np.mean([_case_mean(truth[("ce_bl", s)], c, m) for s in (0, 1)]) for c in CASES]
        b = [np.mean([_case_mean(truth[("ce", s)], c, m) for s in (0, 1, 2)]) for c in CASES]
        r = row("ce_bl", "mean", m)
        assert float(r["p_wilcoxon"]) == pytest.approx(stats.wilcoxon(a, b).pvalue, rel=1e-9)
        assert float(r["p_ttest"]) == pytest.approx(stats.ttest_rel(a, b).pvalue, rel=1e-9)
        assert 0.0 <= float(r["p_wilcoxon"]) <= 1.0 and 0.0 <= float(r["p_ttest"]) <= 1.0
        assert float(r["mean_diff"]) == pytest.approx(np.mean(np.subtract(a, b)), rel=1e-9)
        assert int(r["n_pairs"]) == len(CASES)
        assert row("ce", "mean", m)["p_wilcoxon"] == ""  # the baseline is not tested against itself

    # the Markdown table shows the same numbers
    dice = row("ce", "mean", "dice")
    assert f"| **ce** | 3 | {float(dice['mean']):.3f} ± {float(dice['std']):.3f} |" in text
    assert "### Class artery" in text and "### Foreground mean" in text
    assert "Runs finished: 5 of 6" in text and "failed: `syn/ce_bl/seed2`" in text
    assert (root / "report" / "figures" / "syn_curves.png").stat().st_size > 1000
    assert (root / "report" / "figures" / "syn_boxplots.png").stat().st_size > 1000
    # the tolerance sweep: its own table per class group, values from summary.csv
    assert "#### Foreground mean: boundary scores by tolerance (1, 2 mm)" in text
    assert "| loss | seeds | NSD@1 ↑ | NSD@2 ↑ | BF1@1 ↑ | BF1@2 ↑ |" in text
    sweep = [row("ce", "mean", m) for m in ("nsd@1", "nsd@2", "boundary_f1@1", "boundary_f1@2")]
    cells = " | ".join(f"{float(r['mean']):.3f} ± {float(r['std']):.3f}" for r in sweep)
    assert f"| **ce** | 3 | {cells} |" in text
    assert "#### Class artery: boundary scores by tolerance (1, 2 mm)" in text
    assert "NSD@1" not in text.split("#### Foreground mean")[0]  # not in the main table
    assert "![Learning curves on syn](figures/syn_curves.png)" in text
    assert "![Per-case values on syn](figures/syn_boxplots.png)" in text

    # the one infinite HD95 (ce, seed 1, c3, artery) the means leave out is counted and shown
    assert [int(row("ce", cls, "hd95")["n_inf"]) for cls in ("mean", "artery", "vessel")] == [1, 1, 0]
    assert int(row("ce_bl", "mean", "hd95")["n_inf"]) == 0 and int(row("ce", "mean", "dice")["n_inf"]) == 0
    hd = row("ce", "mean", "hd95")
    assert f"{float(hd['mean']):.2f} ± {float(hd['std']):.2f} (1 inf)" in text
    assert text.count("(1 inf)") == 2  # foreground mean and class artery, nowhere else


def test_report_baseline_choice_and_errors(scored_bench, tmp_path_factory):
    root, _ = scored_bench
    out = tmp_path_factory.mktemp("out")
    write_report(root, baseline="ce_bl", output=out, overlays=0)
    rows = list(csv.DictReader(open(out / "summary.csv")))
    assert {r["baseline"] for r in rows} == {"ce_bl"}
    assert all(r["p_wilcoxon"] == "" for r in rows if r["loss"] == "ce_bl")
    assert all(r["p_wilcoxon"] != "" for r in rows if r["loss"] == "ce")
    with pytest.raises(ValueError, match="baseline among the losses"):
        write_report(root, baseline="dice", overlays=0)
    with pytest.raises(FileNotFoundError, match="bench.yaml"):
        load_results(out)


def test_views_and_loss_subsets_are_slices_of_the_full_report(scored_bench):
    bench_dir, _ = scored_bench
    full = write_report(bench_dir, overlays=0).parent
    full_rows = list(csv.DictReader(open(full / "summary.csv")))
    # a paper's view: its losses and its baseline, into report-<view>
    doc = load_results(bench_dir)
    exp = {**doc.experiment, "views": {"paper": {"losses": ["ce", "ce_bl"], "baseline": "ce_bl"}}}
    write_bench_file(bench_dir, exp, expand_grid(exp))
    out = write_report(bench_dir, view="paper", overlays=0)
    assert out == bench_dir / "report-paper" / "report.md"
    rows = list(csv.DictReader(open(out.parent / "summary.csv")))
    assert {r["baseline"] for r in rows} == {"ce_bl"}
    tested = [r for r in rows if r["loss"] == "ce" and r["metric"] == "dice" and r["class"] == "mean"]
    assert len(tested) == 1 and float(tested[0]["mean_diff"]) < 0  # ce is 0.03 below ce_bl
    # a loss subset keeps the full report's numbers for that loss
    sub = write_report(bench_dir, losses=["ce"], output=bench_dir / "only_ce", overlays=0)
    sub_rows = list(csv.DictReader(open(sub.parent / "summary.csv")))
    assert {r["loss"] for r in sub_rows} == {"ce"}
    key = ("dataset", "loss", "class", "metric", "mean", "std", "n_seeds", "n_cases")
    assert [tuple(r[k] for k in key) for r in sub_rows] == [
        tuple(r[k] for k in key) for r in full_rows if r["loss"] == "ce"
    ]
    with pytest.raises(ValueError, match="view of the experiment among \\['paper'\\], got 'nope'"):
        write_report(bench_dir, view="nope")
    with pytest.raises(ValueError, match="losses of the grid .* got \\['gdl'\\]"):
        write_report(bench_dir, losses=["gdl"])
    with pytest.raises(ValueError, match="either a view or a list of losses"):
        write_report(bench_dir, view="paper", losses=["ce"])


def _write_reference(folder, vals, cases=CASES):
    folder.mkdir(parents=True)
    with open(folder / "per_case.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["case", "class", *METRICS])
        for case in cases:
            for cls in CLASSES:
                w.writerow([case, cls, *[repr(vals[(case, cls, m)]) for m in METRICS]])


def test_reference_row_from_a_scored_folder(scored_bench, tmp_path_factory):
    """A second observer scored by `edgewise score`: a row after the losses, its mean over
    cases, tested against the baseline like a loss, marked in summary.csv and the overview."""
    from edgewise.bench.overview import overview_table
    from edgewise.cli import main

    root, truth = scored_bench
    ref_dir = tmp_path_factory.mktemp("ref") / "observer2"
    rng = np.random.default_rng(42)
    ref_vals = {(c, k, m): float(0.8 + rng.uniform(-0.05, 0.05)) for c in CASES for k in CLASSES for m in METRICS}
    _write_reference(ref_dir, ref_vals)
    out = tmp_path_factory.mktemp("rep") / "report"
    assert main(["report", str(root), "--overlays", "0", "--output", str(out),
                 "--reference", f"second observer={ref_dir}"]) == 0
    text = (out / "report.md").read_text()
    rows = list(csv.DictReader(open(out / "summary.csv")))
    (r,) = [r for r in rows if (r["loss"], r["class"], r["metric"]) == ("second observer", "mean", "dice")]
    expected = np.mean([_case_mean(ref_vals, c, "dice") for c in CASES])
    assert float(r["mean"]) == pytest.approx(expected, rel=1e-9)
    assert r["reference"] == "1" and int(r["n_seeds"]) == 1
    assert {x["reference"] for x in rows if x["loss"] != "second observer"} == {"0"}
    a = [_case_mean(ref_vals, c, "dice") for c in CASES]
    b = [np.mean([_case_mean(truth[("ce", s)], c, "dice") for s in (0, 1, 2)]) for c in CASES]
    assert float(r["p_wilcoxon"]) == pytest.approx(stats.wilcoxon(a, b).pvalue, rel=1e-9)
    assert float(r["mean_diff"]) == pytest.approx(np.mean(np.subtract(a, b)), rel=1e-9)
    assert f"| *second observer* (reference) | – | {expected:.3f} |" in text
    assert "Reference row *second observer* (syn)" in text
    # the loss rows are those of the report without the reference
    plain = write_report(root, overlays=0, output=tmp_path_factory.mktemp("plain") / "r").parent
    plain_rows = [{k: v for k, v in x.items() if k != "reference"} for x in csv.DictReader(open(plain / "summary.csv"))]
    assert plain_rows == [{k: v for k, v in x.items() if k != "reference"} for x in rows if x["reference"] == "0"]
    table = overview_table([out], ["dice"])
    assert "| syn | *second observer* (reference) | – |" in table

    # errors: a folder without per_case.csv, a label that is a loss, no common case, bad syntax
    with pytest.raises(ValueError, match="per_case.csv"):
        write_report(root, overlays=0, output=out, references={"obs": root})
    with pytest.raises(ValueError, match="other than the grid's losses"):
        write_report(root, overlays=0, output=out, references={"ce": ref_dir})
    with pytest.raises(ValueError, match="dataset of the grid"):
        write_report(root, overlays=0, output=out, references={"other:obs": ref_dir})
    elsewhere = tmp_path_factory.mktemp("ref") / "other_cases"
    _write_reference(elsewhere, {(f"x{c}", k, m): v for (c, k, m), v in ref_vals.items()}, [f"x{c}" for c in CASES])
    with pytest.raises(ValueError, match="shares no test case"):
        write_report(root, overlays=0, output=out, references={"obs": elsewhere})
    assert main(["report", str(root), "--output", str(out), "--reference", "no-equals-sign"]) == 2
    assert (out / "report.md").read_text() == text  # a refused report leaves the old one whole


def test_on_request_metrics_get_their_own_table(tmp_path):
    """Runs scored with evaluation.metrics (DRIVE: clDice, Betti errors, AUC, ...): every such
    column is read, summarised and tested against the baseline like Dice, in a table of its
    own; a reference without a column shows a dash there."""
    exp = {"name": "thin", "baseline": "ce", "datasets": {"syn": {"name": "synthetic"}},
           "losses": {"ce": {"terms": [{"name": "ce"}]}, "ce_cldice": {"terms": [{"name": "ce"}]}},
           "seeds": [0, 1]}
    cells = expand_grid(exp)
    write_bench_file(tmp_path, exp, cells)
    cols = ["dice", "hd95", "cldice", "betti0_error", "auc"]
    truth = {}
    for cell in cells:
        rng = np.random.default_rng([len(cell.loss), cell.seed])
        out = tmp_path / cell.name / "eval_test"
        out.mkdir(parents=True)
        vals = {(c, m): float(rng.uniform(0.6, 0.9)) if m != "betti0_error" else float(rng.integers(0, 200))
                for c in CASES for m in cols}
        truth[(cell.loss, cell.seed)] = vals
        with open(out / "per_case.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["case", "class", *cols])
            for c in CASES:
                w.writerow([c, "vessel", *[repr(vals[(c, m)]) for m in cols]])
        (out / "summary.json").write_text(json.dumps({"num_cases": len(CASES)}))
        record_code(out.parent)
    ref = tmp_path / "observer"
    ref.mkdir()
    with open(ref / "per_case.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["case", "class", "dice", "hd95", "cldice", "betti0_error"])  # a mask: no AUC
        for i, c in enumerate(CASES):
            w.writerow([c, "vessel", 0.8, 3.0, 0.75, i])
    report = write_report(tmp_path, overlays=0, references={"observer": ref})
    text = report.read_text()
    rows = list(csv.DictReader(open(report.parent / "summary.csv")))

    def row(loss, m):
        (r,) = [r for r in rows if (r["loss"], r["class"], r["metric"]) == (loss, "mean", m)]
        return r

    for m in ("cldice", "betti0_error", "auc"):
        per_seed = [np.mean([truth[("ce_cldice", s)][(c, m)] for c in CASES]) for s in (0, 1)]
        assert float(row("ce_cldice", m)["mean"]) == pytest.approx(np.mean(per_seed), rel=1e-9)
        a = [np.mean([truth[("ce_cldice", s)][(c, m)] for s in (0, 1)]) for c in CASES]
        b = [np.mean([truth[("ce", s)][(c, m)] for s in (0, 1)]) for c in CASES]
        assert float(row("ce_cldice", m)["p_wilcoxon"]) == pytest.approx(stats.wilcoxon(a, b).pvalue, rel=1e-9)
    assert float(row("observer", "betti0_error")["mean"]) == pytest.approx(2.5)
    assert row("observer", "auc")["mean"] == ""
    assert "#### Foreground mean: topology and pixel metrics" in text
    assert "| loss | seeds | clDice ↑ | Betti-0 err ↓ | AUC ↑ |" in text
    assert "| *observer* (reference) | – | 0.750 | 2.50 | – |" in text
    main_table = text.split("#### Foreground mean: topology")[0]
    assert "clDice" not in main_table.split("### Foreground mean")[1]   # not in the main table
