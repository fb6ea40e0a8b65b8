"""A baseline that misses its recipe's documented level is not a baseline (#28 item 5):
the report shows the values and withholds the comparisons."""

from __future__ import annotations

import csv
import json
import math

import pytest

from edgewise.bench.cells import write_bench_file
from edgewise.bench.grid import expand_grid
from edgewise.bench.report import write_report
from edgewise.training.schema import validate_experiment

COMMIT = "0123456789abcdef0123456789abcdef01234567"
CASES = ["c0", "c1", "c2", "c3"]
# per (loss, seed): Dice of every case and class; the baseline's mean over seeds is 0.80
DICE = {("ce", 0): 0.79, ("ce", 1): 0.81, ("ce_bl", 0): 0.83, ("ce_bl", 1): 0.85}


def _bench(root, level=None, bench_split=None):
    exp = {
        "name": "toy", "baseline": "ce",
        "datasets": {"syn": {"name": "synthetic"}},
        "losses": {"ce": {"terms": [{"name": "ce"}]}, "ce_bl": {"terms": [{"name": "ce"}, {"name": "boundary"}]}},
        "seeds": [0, 1],
    }
    if level is not None:
        exp["baseline_level"] = {"syn": level}
    if bench_split is not None:
        exp["base"] = {"evaluation": {"bench_split": bench_split}}
    validate_experiment(exp)
    cells = expand_grid(exp)
    write_bench_file(root, exp, cells)
    for cell in cells:
        run = root / cell.name
        run.mkdir(parents=True)
        with open(run / "per_case.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["case", "class", "dice", "hd95"])
            for i, case in enumerate(CASES):
                # cases spread around the arm's value so the bootstrap has something to resample
                w.writerow([case, "fg", DICE[(cell.loss, cell.seed)] + 0.01 * (i - 1.5), 2.0])
        (run / "summary.json").write_text(json.dumps({"num_cases": len(CASES)}))
        (run / "provenance.json").write_text(json.dumps({"runs": [{
            "event": "start", "commit": COMMIT, "dirty": False, "changed": [], "version": "0.1.0",
            "source": "/src", "reason": None, "time": "2026-01-01T00:00:00+00:00"}]}))
    return root


def _rows(report):
    return {(r["loss"], r["class"], r["metric"]): r for r in csv.DictReader(open(report.parent / "summary.csv"))}


def test_a_baseline_that_reaches_its_level_is_compared(tmp_path):
    level = {"metric": "dice", "at_least": 0.80, "source": "configs/recipe.yaml: 0.80"}
    report = write_report(_bench(tmp_path, level), overlays=0)
    text, rows = report.read_text(), _rows(report)
    assert "- syn: the baseline **ce** reaches its level: mean dice 0.800 over 2 seeds; its recipe " \
           "documents at least 0.8 (configs/recipe.yaml: 0.80)." in text
    assert float(rows[("ce_bl", "mean", "dice")]["mean_diff"]) == pytest.approx(0.04)
    assert rows[("ce_bl", "mean", "dice")]["p_holm"] != ""


def test_a_baseline_below_its_level_gets_no_comparison(tmp_path):
    level = {"metric": "dice", "at_least": 0.86, "source": "configs/recipe.yaml: test Dice 0.869 / 0.865"}
    report = write_report(_bench(tmp_path, level), overlays=0)
    text, rows = report.read_text(), _rows(report)
    assert "> **syn: no comparison.** The baseline **ce** **misses** its level: mean dice 0.800 over 2 " \
           "seeds; its recipe documents at least 0.86 (configs/recipe.yaml: test Dice 0.869 / 0.865)." in text
    # values stay, every test is withheld (summary.csv leaves them empty)
    assert float(rows[("ce_bl", "mean", "dice")]["mean"]) == pytest.approx(0.84)
    for key, row in rows.items():
        assert row["mean_diff"] in ("", "nan") and row["p_holm"] in ("", "nan"), key
    tables = text.split("## syn", 1)[1]
    assert "▲" not in tables and "▼" not in tables and "p=" not in tables


def test_a_lower_is_better_level_and_levels_that_do_not_apply(tmp_path):
    report = write_report(_bench(tmp_path / "a", {"metric": "hd95", "at_most": 1.5, "source": "s"}), overlays=0)
    assert "**misses** its level: mean hd95 2.00" in report.read_text()
    # measured on test, the cells were scored on validation: not checked, and said so
    report = write_report(_bench(tmp_path / "b", {"metric": "dice", "at_least": 0.99, "source": "s"}, "val"),
                          overlays=0)
    assert "- syn: not checked against the level: its recipe documents at least 0.99 (s) on test, " \
           "these cells were scored on val." in report.read_text()
    assert not math.isnan(float(_rows(report)[("ce_bl", "mean", "dice")]["mean_diff"]))
    # another baseline than the recipe: its level does not apply
    report = write_report(_bench(tmp_path / "c", {"metric": "dice", "at_least": 0.99, "source": "s"}),
                          baseline="ce_bl", overlays=0)
    assert "the level of ce is not checked: this report's baseline is ce_bl" in report.read_text()


@pytest.mark.parametrize("level, message", [
    ({"metric": "dice", "source": "s"}, "exactly one of 'at_least' and 'at_most'"),
    ({"metric": "dice", "at_least": 0.8, "at_most": 0.9, "source": "s"}, "exactly one of"),
    ({"metric": "hd95", "at_least": 2.0, "source": "s"}, "expected 'at_most' for hd95 (lower is better), got 'at_least'"),
    ({"metric": "dices", "at_least": 0.8, "source": "s"}, "expected a metric among"),
    ({"metric": "dice", "at_least": 0.8}, "source"),
])
def test_bad_levels_are_refused(tmp_path, level, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _bench(tmp_path, level)


def test_a_level_for_an_unknown_dataset_is_refused():
    exp = {"datasets": {"syn": {"name": "synthetic"}}, "losses": {"ce": {"terms": [{"name": "ce"}]}},
           "baseline_level": {"drive": {"metric": "dice", "at_least": 0.8, "source": "s"}}}
    with pytest.raises(ValueError, match=r"expected 'baseline_level' keys among the datasets \['syn'\], got \['drive'\]"):
        validate_experiment(exp)


def test_the_shipped_selection_grids_carry_their_recipes_level_into_the_final_grid():
    from pathlib import Path

    import yaml

    from edgewise.bench.selection import Selection, final_experiment

    root = Path(__file__).resolve().parents[2] / "configs" / "experiments"
    for name, ds in (("hippocampus_terms", "hippocampus"), ("acdc_terms", "acdc"), ("drive_terms", "drive")):
        stage1 = yaml.safe_load((root / f"{name}.yaml").read_text())
        level = stage1["baseline_level"][ds]
        assert level["metric"] == "dice" and level["split"] == "test" and 0.5 < level["at_least"] < 1
        final = final_experiment(stage1, Selection("dice", "recipe", {"recipe": {"recipe": 0.8}}, {"recipe": "recipe"}))
        assert final["baseline_level"] == stage1["baseline_level"]
        validate_experiment(final)
