"""The papers' own protocols (configs/papers/*.yaml) and tools/run-papers, which runs as many
of them as fit a GPU time budget (docs/papers.md). Nothing here needs a GPU or trains, except
the one `slow` smoke test of the run path (a synthetic 1-epoch variant on the CPU)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from importlib.machinery import SourceFileLoader
from pathlib import Path

import jsonschema
import pytest
import yaml

from edgewise.bench.grid import expand_grid, load_experiment
from edgewise.training.components import loss_and_cached_terms
from edgewise.training.config import validate_config
from edgewise.training.schema import experiment_json_schema

REPO = Path(__file__).resolve().parents[1]
PAPERS = sorted((REPO / "configs" / "papers").glob("*.yaml"))
SCRIPT = REPO / "tools" / "run-papers"
ROW = re.compile(r"^\s*(\d+)\s+(\S+)\s+(\d+)/(\d+)\s+([0-9.]+)\s+([0-9.]+)\s+(.*)$")


def _script():
    """tools/run-papers as a module (it has no .py suffix), loaded once."""
    if "run_papers" not in sys.modules:
        loader = SourceFileLoader("run_papers", str(SCRIPT))
        module = importlib.util.module_from_spec(importlib.util.spec_from_loader("run_papers", loader))
        sys.modules["run_papers"] = module  # dataclasses look their module up there
        loader.exec_module(module)
    return sys.modules["run_papers"]


def _run(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})})


def _plan(stdout: str) -> list[dict]:
    rows = []
    for line in stdout.splitlines():
        m = ROW.match(line)
        if m:
            rows.append({"grid": m[2], "left": int(m[3]), "total": int(m[4]), "per_run": float(m[5]),
                         "hours": float(m[6]), "fits": m[7].strip()})
    return rows


def test_one_config_per_paper_in_the_priority_order():
    names = {p.stem for p in PAPERS}
    assert names == {"kervadec", "eljurdi_acdc", "eljurdi_hippocampus", "valverde", "caliva", "karimi",
                     "hegazy_drive", "hegazy_acdc", "cldice", "skeleton_recall"}
    priority = _script().PRIORITY
    assert sorted(priority) == sorted(names) and len(set(priority)) == len(priority)


@pytest.mark.parametrize("path", PAPERS, ids=lambda p: p.stem)
def test_every_paper_config_loads_and_validates(path):
    # the checks of tests/training/test_schema.py's test_every_shipped_experiment_and_variant_loads,
    # plus the loss of every cell built as a run builds it
    raw = yaml.safe_load(path.read_text())
    jsonschema.Draft202012Validator(experiment_json_schema()).validate(raw)
    assert raw["name"] == path.stem  # the bench folder runs/papers/<name> is the grid's name
    for variant in [None, *(raw.get("variants") or {})]:
        cells = expand_grid(load_experiment(path, variant))
        assert cells and len({c.name for c in cells}) == len(cells)
        for cell in cells:
            cfg = validate_config(cell.config)
            assert cfg["seed"] == cell.seed
            loss_and_cached_terms(cfg["loss"])


@pytest.mark.parametrize("path", PAPERS, ids=lambda p: p.stem)
def test_protocol_has_three_seeds_a_gpu_and_validation_disjoint_from_test(path):
    exp = load_experiment(path)  # the file as written is the protocol
    assert exp["seeds"] == [0, 1, 2]
    assert exp["baseline"] in exp["losses"]
    for cell in expand_grid(exp):
        cfg = validate_config(cell.config)
        data = cfg["data"]
        assert data["name"] in ("drive", "acdc", "decathlon")
        assert str(data["root"]).startswith("../shared/data/")  # data the project has
        assert data["val_split"] == "val" and data["test_split"] == "test" and not data["val_is_test"]
        assert 0 < data["options"]["val_fraction"] < 1  # validation carved from the training cases
        assert cfg["evaluation"]["checkpoint"] == "best"  # chosen on validation ...
        assert cfg["evaluation"]["bench_split"] == "test"  # ... and scored on test
        assert cfg["trainer"]["accelerator"] == "gpu"
        assert cfg["trainer"]["max_epochs"] >= 100  # the papers' lengths, not a CPU compression


@pytest.mark.parametrize("path", PAPERS, ids=lambda p: p.stem)
def test_header_gives_protocol_deviations_estimate_and_commands(path):
    header = path.read_text().split("\nname:")[0]
    assert "Protocol" in header and "Deviations from the" in header
    assert re.search(r"^# - .+", header, flags=re.M)  # at least one deviation, with its reason
    estimates = re.findall(r"^# gpu-hours-per-run: ([0-9.]+)$", header, flags=re.M)
    assert len(estimates) == 1 and float(estimates[0]) > 0
    assert "estimate" in header and "not a measurement" in header
    assert "tools/run-papers --hours" in header and f"--only {path.stem}" in header
    assert f"edgewise report runs/papers/{path.stem}" in header
    assert re.search(r"optimiser steps per run", header)  # epochs said in steps of our data
    assert _script().hours_per_run(path) == float(estimates[0])


def test_decide_stops_at_the_first_grid_that_does_not_fit():
    mod = _script()
    grids = [mod.Grid("a", Path("a"), 1.0, 3, 3), mod.Grid("b", Path("b"), 1.0, 4, 0),
             mod.Grid("c", Path("c"), 2.0, 3, 2), mod.Grid("d", Path("d"), 0.5, 2, 2)]
    rows = mod.decide(grids, 4.0, fill=False)
    assert [(g.name, chosen) for g, _, chosen in rows] == [("a", True), ("b", False), ("c", False), ("d", False)]
    assert [fits.split()[0] for _, fits, _ in rows] == ["yes", "done", "no", "no"]
    # --fill passes over c (4 h > 1 h left) and still takes d (1 h)
    rows = mod.decide(grids, 4.0, fill=True)
    assert [g.name for g, _, chosen in rows if chosen] == ["a", "d"]
    assert [g.name for g, _, chosen in mod.decide(grids, 0.5, fill=False) if chosen] == []


@pytest.fixture(scope="module")
def empty_output(tmp_path_factory):
    return tmp_path_factory.mktemp("papers")


@pytest.mark.slow
@pytest.mark.parametrize("hours", [0.1, 1000.0])
def test_dry_run_plan_fits_the_budget(hours, empty_output):
    proc = _run("--hours", str(hours), "--dry-run", "--output", str(empty_output))
    assert proc.returncode == 0, proc.stderr
    rows = _plan(proc.stdout)
    assert [r["grid"] for r in rows] == _script().PRIORITY  # every grid, in priority order
    assert all(r["left"] == r["total"] > 0 for r in rows)  # nothing run yet
    for r in rows:
        assert r["hours"] == pytest.approx(r["left"] * r["per_run"], abs=0.006)
    chosen = [r for r in rows if r["fits"] == "yes"]
    assert sum(r["hours"] for r in chosen) <= hours
    if hours < 1:
        assert chosen == [] and "chosen: nothing" in proc.stdout
    else:
        assert len(chosen) == len(rows)
    assert not any(empty_output.iterdir())  # a dry run writes nothing


@pytest.mark.slow
def test_dry_run_counts_only_the_cells_left(tmp_path):
    # one finished cell of kervadec's 9: the estimate is 8 runs, which fits 5 h where 9 would not
    done = tmp_path / "kervadec" / "hippocampus" / "gdl" / "seed0" / "eval_test"
    done.mkdir(parents=True)
    (done / "summary.json").write_text(json.dumps({"mean": {"dice": 0.5}}))
    per_run = _script().hours_per_run(REPO / "configs" / "papers" / "kervadec.yaml")
    proc = _run("--hours", str(8.5 * per_run), "--dry-run", "--only", "kervadec", "--output", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    (row,) = _plan(proc.stdout)
    assert (row["left"], row["total"], row["fits"]) == (8, 9, "yes")
    assert row["hours"] == pytest.approx(8 * per_run, abs=0.006)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--hours", "-1", "--dry-run"], "argument --hours: expected a number of hours > 0, got -1"),
        (["--hours", "0", "--dry-run"], "argument --hours: expected a number of hours > 0, got 0"),
        (["--hours", "six", "--dry-run"], "argument --hours: expected a number of hours > 0, got 'six'"),
        (["--dry-run"], "the following arguments are required: --hours"),
        (["--hours", "1", "--dry-run", "--only", "kervadec,nope"], "--only: unknown grid(s) nope"),
        (["--hours", "1", "--dry-run", "--device", "gpu"], "expected cuda, cuda:<index> or cpu, got 'gpu'"),
        (["--hours", "1", "--dry-run", "--jobs", "0"], "argument --jobs: expected an integer >= 1, got 0"),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message(args, message):
    proc = _run(*args, timeout=120)
    assert proc.returncode == 2
    assert message in proc.stderr and proc.stdout == ""


def test_cuda_is_refused_without_a_gpu_unless_dry_run():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    proc = _run("--hours", "1", "--only", "cldice", timeout=120)
    assert proc.returncode == 2
    assert "--device cuda: torch.cuda.is_available() is False" in proc.stderr
    assert "--dry-run" in proc.stderr  # says what to do instead


@pytest.mark.slow
def test_runs_a_grid_and_then_skips_it(tmp_path):
    # the run path end to end on the CPU: clDice's synthetic 1-epoch smoke variant, then again
    # (the bench resumes: nothing left, so nothing starts)
    args = ("--hours", "100", "--only", "cldice", "--variant", "quick", "--device", "cpu",
            "--output", str(tmp_path))
    first = _run(*args)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    assert "== cldice: exit status 0" in first.stdout
    cells = sorted(p.parent.parent.relative_to(tmp_path).as_posix()
                   for p in tmp_path.glob("cldice-quick/*/*/seed0/eval_test/summary.json"))
    assert cells == [f"cldice-quick/synthetic_vessels/{loss}/seed0"
                     for loss in ("ce", "ce_cldice", "dice", "dice_cldice")]
    second = _run(*args)
    assert second.returncode == 0
    (row,) = _plan(second.stdout)
    assert (row["left"], row["fits"]) == (0, "done")
    assert "== cldice: done (4 runs), skipped" in second.stdout
