"""`edgewise overview`: one table across reports, every number taken from their summary.csv."""

from __future__ import annotations

import csv

import pytest

from edgewise.bench.overview import overview_table
from edgewise.bench.report import write_report
from edgewise.cli import main



def _rows(report_dir):
    with open(report_dir / "summary.csv", newline="") as f:
        return {(r["loss"], r["metric"]): r for r in csv.DictReader(f) if r["class"] == "mean"}


def _delta(row, digits, alpha=0.05, higher=True):
    def signed(v):
        return f"{'+' if v >= 0 else '−'}{abs(v):.{digits}f}"

    diff, p = float(row["mean_diff"]), float(row["p_holm"])
    text = f"{signed(diff)} [{signed(float(row['ci_low']))}, {signed(float(row['ci_high']))}] "
    text += "(p < 0.001)" if p < 0.001 else f"(p = {p:.3f})"
    if p < alpha:
        text += " ▲" if (diff > 0) == higher else " ▼"
    return text


def test_table_repeats_the_reports_numbers(scored_bench, tmp_path):
    """Updated with the subject-level bootstrap (#28): the Δ column is the report's difference,
    its interval and its Holm-adjusted p (no longer the uncorrected Wilcoxon p), and the marks
    follow the adjusted p."""
    root, _ = scored_bench
    write_report(root, overlays=0)
    rows = _rows(root / "report")
    table = overview_table([root, root / "report"], metrics=["dice", "hd95"]).splitlines()
    assert table[0] == "| dataset | loss | seeds | Dice ↑ | Δ Dice (p) | HD95 ↓ | Δ HD95 (p) |"
    assert len(table) == 2 + 2 * 2  # the same bench given twice: two rows each

    ce_dice, ce_hd = rows[("ce", "dice")], rows[("ce", "hd95")]
    assert table[2] == (f"| syn | ce | 3 | {float(ce_dice['mean']):.3f} ± {float(ce_dice['std']):.3f} "
                        f"| baseline | {float(ce_hd['mean']):.2f} ± {float(ce_hd['std']):.2f} (1 inf) "
                        f"| baseline |")
    bl, hd = rows[("ce_bl", "dice")], rows[("ce_bl", "hd95")]
    # the toy grid shifts ce_bl up by 0.03 on every metric: Dice better, HD95 worse
    assert float(bl["mean_diff"]) > 0 and float(hd["mean_diff"]) > 0
    assert float(bl["ci_low"]) <= float(bl["mean_diff"]) <= float(bl["ci_high"])
    assert float(bl["p_holm"]) >= float(bl["p_boot"])
    for alpha in (0.05, 0.99):  # 0.99: every difference is marked, in its direction
        line = overview_table([root], metrics=["dice", "hd95"], alpha=alpha).splitlines()[3]
        assert line == (f"| syn | ce_bl | 2 | {float(bl['mean']):.3f} ± {float(bl['std']):.3f} | "
                        f"{_delta(bl, 3, alpha)} | {float(hd['mean']):.2f} ± {float(hd['std']):.2f} | "
                        f"{_delta(hd, 2, alpha, higher=False)} |")
    assert line.endswith("▼ |") and "▲" in line


def test_errors_name_what_was_expected(scored_bench, tmp_path, capsys):
    root, _ = scored_bench
    with pytest.raises(FileNotFoundError, match="summary.csv"):
        overview_table([root])  # no report written yet
    write_report(root, overlays=0)
    with pytest.raises(ValueError, match="metric names.*got 'dise'"):
        overview_table([root], metrics=["dise"])
    with pytest.raises(ValueError, match=r"no class-mean rows for metric\(s\) \['nsd@3'\]"):
        overview_table([root], metrics=["nsd@3"])
    with pytest.raises(ValueError, match="alpha"):
        overview_table([root], alpha=1.5)
    with pytest.raises(ValueError, match="at least one"):
        overview_table([])
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "summary.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="missing"):
        overview_table([bad])

    assert main(["overview", str(root), "--metrics", "dice", "nsd@2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("| dataset | loss | seeds | Dice ↑ | Δ Dice (p) | NSD@2 ↑ | Δ NSD@2 (p) |")
    assert main(["overview", str(tmp_path / "nowhere")]) == 2
    assert "edgewise overview: error: expected a report folder" in capsys.readouterr().err


def test_arms_without_a_finished_run_say_so(scored_bench):
    root, _ = scored_bench
    report = write_report(root, overlays=0).parent
    rows = (report / "summary.csv").read_text().splitlines()
    # an arm whose every seed is still pending: the report writes its rows empty, 0 seeds
    head = rows[0].split(",")
    empty = {c: "" for c in head} | {"dataset": "syn", "loss": "gdl", "class": "mean",
                                      "metric": "dice", "n_seeds": "0", "baseline": "ce"}
    (report / "summary.csv").write_text("\n".join(rows + [",".join(empty[c] for c in head)]) + "\n")
    table = overview_table([report], metrics=["dice"]).splitlines()
    assert table[-1] == "| syn | gdl | 0 | not run |  |"


def test_more_infinite_values_than_the_baseline_get_no_verdict(scored_bench, tmp_path):
    """An arm that lost a class has an infinite HD95 there, left out of its mean: a lower HD95
    over fewer classes is not a better one, so no ▲/▼ (ACDC: the RV never predicted)."""
    root, _ = scored_bench
    write_report(root, overlays=0)
    src = root / "report" / "summary.csv"
    with open(src, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        if r["loss"] == "ce_bl":
            r["p_holm"] = "0.001"  # significant, so only the infinite values can withhold the mark
        if r["loss"] == "ce_bl" and r["metric"] == "hd95":
            r["n_inf"] = "40"  # more than the baseline's 1
    out = tmp_path / "edited"
    out.mkdir()
    with open(out / "summary.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    line = overview_table([out], metrics=["dice", "hd95"]).splitlines()[3]
    assert line.endswith("(more inf than baseline: not comparable) |") and "▼ |" not in line.split("(40 inf)")[1]
    assert "▲" in line.split("(40 inf)")[0]  # Dice keeps its verdict
