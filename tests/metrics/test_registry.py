"""The metric registry is the one list: every place that names metrics agrees with it.

``edgewise.metrics.registry`` holds each metric's name, report label, direction of better and
role (written by every evaluation, on request, swept over tolerances). These tests fail when
a copy drifts: ``SegmentationMetrics``' names and groups, the evaluation's columns, the run
schema's ``evaluation.metrics``, the bench report's labels, digits and arrows, the overview,
the selection and the command-line help. A few facts are listed by hand, so that an edit of
the registry itself that turns one of them round fails too.
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
from typing import get_args

import pytest

from edgewise.metrics import registry
from edgewise.metrics.registry import (
    EVALUATED_METRICS,
    EXTRA_METRICS,
    HIGHER_IS_BETTER,
    METRIC_NAMES,
    METRIC_SPECS,
    SWEEP_METRICS,
    MetricName,
    MetricSpec,
    metric_spec,
)

# --- the registry itself, against facts known independently --------------------------------

HIGHER = ["dice", "iou", "nsd", "boundary_f1", "cldice", "topology_precision",
          "topology_sensitivity", "sensitivity", "specificity", "accuracy", "f1", "auc"]
LOWER = ["hd", "hd95", "assd", "masd", "perimeter_error", "betti0_error", "betti1_error"]
# the labels the reports have always shown
LABELS = {"dice": "Dice", "hd95": "HD95", "assd": "ASSD", "nsd": "NSD", "boundary_f1": "BF1",
          "cldice": "clDice", "topology_precision": "Tprec", "topology_sensitivity": "Tsens",
          "betti0_error": "Betti-0 err", "betti1_error": "Betti-1 err", "sensitivity": "Se",
          "specificity": "Sp", "accuracy": "Acc", "f1": "F1", "auc": "AUC"}


def test_known_directions():
    assert sorted(HIGHER + LOWER) == sorted(METRIC_NAMES)
    for name in HIGHER:
        assert metric_spec(name).higher_is_better, name
    for name in LOWER:
        assert not metric_spec(name).higher_is_better, name
    assert HIGHER_IS_BETTER == set(HIGHER)


def test_known_roles():
    assert [n for n, s in METRIC_SPECS.items() if s.needs_tolerance] == ["nsd", "boundary_f1"]
    assert [n for n, s in METRIC_SPECS.items() if s.needs_probabilities] == ["auc"]
    assert EVALUATED_METRICS == ("dice", "hd95", "assd", "nsd", "boundary_f1")
    assert SWEEP_METRICS == ("nsd", "boundary_f1")
    assert EXTRA_METRICS == ("cldice", "topology_precision", "topology_sensitivity",
                             "betti0_error", "betti1_error", "sensitivity", "specificity",
                             "accuracy", "f1", "auc")
    assert not set(EVALUATED_METRICS) & set(EXTRA_METRICS)
    assert {n: METRIC_SPECS[n].unit for n in ("hd95", "assd", "dice", "betti0_error")} == \
        {"hd95": "mm", "assd": "mm", "dice": "", "betti0_error": "count"}


def test_labels_and_digits():
    assert {n: METRIC_SPECS[n].label for n in LABELS} == LABELS
    assert len({s.label for s in METRIC_SPECS.values()}) == len(METRIC_SPECS)
    for spec in METRIC_SPECS.values():
        # the reports' rule: scores with 3 decimals, distances and errors with 2
        assert spec.digits == (3 if spec.higher_is_better else 2), spec.name
        assert spec.arrow == ("↑" if spec.higher_is_better else "↓")


def test_records_are_frozen_and_keyed_by_name():
    assert all(name == spec.name for name, spec in METRIC_SPECS.items())
    with pytest.raises(dataclasses.FrozenInstanceError):
        metric_spec("dice").label = "DSC"  # type: ignore[misc]
    with pytest.raises(TypeError):
        METRIC_SPECS["dice"] = METRIC_SPECS["iou"]  # type: ignore[index]


def test_unknown_metric():
    with pytest.raises(ValueError, match=r"expected a metric among \['dice', .*got 'bogus'"):
        metric_spec("bogus")


def test_the_literal_type_lists_the_registry():
    assert get_args(MetricName) == METRIC_NAMES


def test_registry_loads_without_torch():
    # the run schema and the bench reports read it: they must not pay for importing torch
    code = ("import sys\nimport edgewise.metrics.registry, edgewise.training.schema, "
            "edgewise.bench.report, edgewise.bench.overview, edgewise.bench.selection\n"
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


# --- SegmentationMetrics ------------------------------------------------------------------


def test_collection_reads_the_registry():
    import edgewise.metrics as metrics
    from edgewise.metrics import collection

    assert metrics.METRIC_NAMES == collection.METRIC_NAMES == METRIC_NAMES
    assert collection._DISTANCE == {"hd", "hd95", "assd", "masd", "nsd", "boundary_f1"}
    assert collection._CENTERLINE == {"cldice", "topology_precision", "topology_sensitivity"}
    assert collection._PIXEL == {"sensitivity", "specificity", "accuracy", "f1"}
    assert metrics.MetricSpec is MetricSpec and metrics.metric_spec is metric_spec


@pytest.mark.parametrize("name", ["dice", "hd95", "nsd", "betti0_error"])
def test_collection_worst_cases_follow_the_direction(name):
    import torch

    from edgewise.metrics import SegmentationMetrics

    t = torch.zeros(2, 1, 16, 16, dtype=torch.long)
    t[:, :, 4:10, 4:10] = 1
    p = t.clone()
    p[1, :, 4:10, 11:13] = 1  # case "b": a wrong stripe and a second component
    m = SegmentationMetrics((name,), num_classes=2, include_background=False)
    m.update(p, t, case_ids=["a", "b"])
    worst = m.summary()["metrics"][name]["classes"]["class_1"]["worst"]
    assert worst[0]["case"] == "b", worst


# --- edgewise eval / edgewise score ------------------------------------------------------


def test_evaluation_columns_come_from_the_registry():
    from edgewise.training import evaluation

    assert evaluation.METRIC_NAMES == EVALUATED_METRICS
    assert evaluation.SWEEP_METRICS == SWEEP_METRICS
    columns = evaluation.metric_names([1, 2.5], EXTRA_METRICS)
    assert {c.partition("@")[0] for c in columns} <= set(METRIC_NAMES)
    assert [c for c in columns if "@" in c] == ["nsd@1", "nsd@2.5", "boundary_f1@1",
                                                "boundary_f1@2.5"]


def test_evaluation_writes_exactly_its_columns():
    import torch

    from edgewise.training.evaluation import _case_metrics, metric_names

    label = torch.zeros(1, 12, 12, dtype=torch.long)
    label[:, 3:8, 3:8] = 1
    pred = torch.roll(label, 1, dims=2)
    probs = torch.stack([1.0 - pred.float(), pred.float()], dim=1)[0]
    case = {"pred": pred, "label": label, "spacing": torch.ones(2), "probs": probs}
    out = _case_metrics(case, 2, 1.0, [1.0, 2.0], EXTRA_METRICS)
    assert sorted(out) == sorted(metric_names([1.0, 2.0], EXTRA_METRICS))


def test_score_refuses_the_metrics_that_need_probabilities(tmp_path):
    from edgewise.training.scoring import score

    for name in ("pred", "data"):
        (tmp_path / name).mkdir()
    with pytest.raises(ValueError, match="expected metrics without auc: a folder of label masks"):
        score(tmp_path / "pred", tmp_path / "out", data="drive", data_root=tmp_path / "data",
              metrics=["cldice", "auc"])


# --- the run schema -------------------------------------------------------------------------


def test_schema_accepts_exactly_the_extra_metrics():
    from edgewise.training import schema
    from edgewise.training.config import evaluation_option

    assert get_args(schema.ExtraMetric) == EXTRA_METRICS
    assert schema.EXTRA_METRICS == EXTRA_METRICS
    assert evaluation_option("metrics", list(EXTRA_METRICS)) == list(EXTRA_METRICS)
    for name in set(METRIC_NAMES) - set(EXTRA_METRICS):
        with pytest.raises(ValueError, match="evaluation.metrics"):
            evaluation_option("metrics", [name])
    # what editors complete from: the JSON Schema's enum
    field = schema.run_json_schema()["$defs"]["EvaluationConfig"]["properties"]["metrics"]
    assert tuple(field["anyOf"][0]["items"]["enum"]) == EXTRA_METRICS


def test_schema_descriptions_name_the_registry_metrics():
    from edgewise.training.schema import EvaluationConfig

    fields = EvaluationConfig.model_fields
    for name in SWEEP_METRICS:
        assert f"`{name}`" in (fields["tolerance"].description or "")
        assert f"`{name}@<t>`" in (fields["tolerances"].description or "")
    assert all(f"`{name}`" in (fields["metrics"].description or "") for name in EXTRA_METRICS)


# --- the bench: results, report, overview, selection, figures ------------------------------


def test_bench_results_are_views_of_the_registry():
    from edgewise.bench import results

    assert list(results.METRICS) == list(EVALUATED_METRICS)
    assert list(results.EXTRA_METRICS) == list(EXTRA_METRICS)
    assert tuple(results.SWEEP_METRICS) == SWEEP_METRICS
    for name, (label, higher) in {**results.METRICS, **results.EXTRA_METRICS}.items():
        assert (label, higher) == (METRIC_SPECS[name].label, METRIC_SPECS[name].higher_is_better)
        assert results.metric_info(name) == (label, higher)
        assert results.column_spec(name) is METRIC_SPECS[name]
    for name in SWEEP_METRICS:
        spec = METRIC_SPECS[name]
        assert results.metric_info(f"{name}@2") == (f"{spec.label}@2", spec.higher_is_better)
        assert results.column_spec(f"{name}@0.5") is spec
        assert results.is_sweep(f"{name}@3")
    for name in set(METRIC_NAMES) - set(EVALUATED_METRICS) - set(EXTRA_METRICS):
        with pytest.raises(ValueError, match="expected a metric among"):
            results.metric_info(name)  # not a column of any per_case.csv


def test_report_reads_digits_and_arrows_from_the_registry():
    from edgewise.bench import report

    for name in [*EVALUATED_METRICS, *EXTRA_METRICS, "nsd@2"]:
        assert report._digits(name) == metric_spec(name.partition("@")[0]).digits


@pytest.mark.parametrize(("diff", "name", "mark"),
                         [(0.1, "dice", "▲"), (-0.1, "dice", "▼"), (-1.0, "hd95", "▲"),
                          (1.0, "hd95", "▼"), (-1.0, "betti0_error", "▲"), (0.1, "nsd@2", "▲")])
def test_significance_marks_follow_the_registry(diff, name, mark):
    from edgewise.bench.results import metric_info
    from edgewise.bench.stats import significance_mark

    assert significance_mark(diff, 0.001, metric_info(name)[1]) == mark


def test_selection_direction_follows_the_registry():
    from edgewise.bench.selection import Selection

    for name in ["dice", "nsd", "hd95", "assd"]:
        table = Selection(name, "base", {"base": {"base": 1.0}}, {"base": "base"}).table()
        order = "highest" if metric_spec(name).higher_is_better else "lowest"
        assert f"Chosen: the {order} mean validation {name}" in table


def test_overview_names_the_registry_metrics_when_refusing_one(tmp_path, monkeypatch):
    from edgewise.bench import overview

    monkeypatch.setattr(overview, "check_code", lambda *a, **k: "")
    monkeypatch.setattr(overview, "code_groups", lambda folders: {})
    with pytest.raises(ValueError) as info:
        overview.overview_table([tmp_path], metrics=["iou"])
    assert f"({', '.join(EVALUATED_METRICS)}, nsd@2, ...), got 'iou'" in str(info.value)


def test_demo_columns_are_the_evaluated_metrics():
    from edgewise.training.demo import _COLUMNS

    assert [m for m, _ in _COLUMNS] == list(EVALUATED_METRICS)
    assert dict(_COLUMNS) == {"dice": "Dice", "hd95": "HD95", "assd": "ASSD", "nsd": "NSD@1",
                              "boundary_f1": "BF1@1"}


# --- the command line ---------------------------------------------------------------------


@pytest.mark.parametrize(("command", "expected"), [
    ("evaluate", EXTRA_METRICS),
    ("score", tuple(m for m in EXTRA_METRICS if not METRIC_SPECS[m].needs_probabilities)),
])
def test_cli_help_lists_the_extra_metrics(command, expected):
    import importlib

    module = importlib.import_module(f"edgewise.training.commands.{command}")
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    action = next(a for a in parser._actions if "--metrics" in a.option_strings)
    assert f"also score these metrics: {', '.join(expected)}" in (action.help or "")


def test_no_module_spells_the_lists_out_again():
    # the lists the registry replaced, as they were written: none may come back
    from pathlib import Path

    src = Path(registry.__file__).resolve().parents[1]
    copies = ['"topology_sensitivity", "betti0_error"', '("nsd", "boundary_f1")',
              '"dice", "hd95", "assd", "nsd", "boundary_f1"', '"hd95": ("HD95", False)',
              '"sensitivity", "specificity", "accuracy", "f1"']
    found = [f"{path.relative_to(src)}: {c}" for path in sorted(src.rglob("*.py"))
             if path.name != "registry.py" for c in copies if c in path.read_text()]
    assert found == []


def test_the_metrics_docs_name_every_metric():
    from pathlib import Path

    docs = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"
    text = docs.read_text()
    bullet = text[text.index("- Metric names:"):text.index("- The registry")]
    assert [n for n in METRIC_NAMES if f"`{n}`" not in bullet] == []
