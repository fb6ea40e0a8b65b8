"""Bench and report never overwrite a user's folder; a report appears whole or not at all."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
import yaml

from edgewise import _io
from edgewise.bench.grid import Cell, expand_grid
from edgewise.bench.report import write_report
from edgewise.bench.cells import cell_results, cell_status, write_bench_file
from edgewise.bench.runner import run_cell
from edgewise.cli import main

from .hand_bench import write_cell_results

USER_BYTES = b"lab notebook \x00\xd0\n"

EXPERIMENT = {
    "name": "tiny",
    "base": {"data": {"batch_size": 4, "options": {"n": 4, "n_val": 4, "shape": [32, 32]}},
             "model": {"name": "unet", "args": {"base_channels": 4, "depth": 2}},
             "trainer": {"max_epochs": 1}, "evaluation": {"overlays": 0}},
    "datasets": {"syn": {"name": "synthetic"}},
    "losses": {"ce": {"terms": [{"name": "ce"}]}, "dice": {"terms": [{"name": "dice"}]}},
    "seeds": [0, 1],
}


def _user_folder(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "notebook.txt").write_bytes(USER_BYTES)


def _untouched(folder: Path) -> None:
    assert sorted(os.listdir(folder)) == ["notebook.txt"]
    assert (folder / "notebook.txt").read_bytes() == USER_BYTES


def _finished_bench(root: Path) -> Path:
    """A bench folder whose cells hold evaluation results as edgewise writes them."""
    cells = expand_grid(EXPERIMENT)
    write_bench_file(root, EXPERIMENT, cells)
    for cell in cells:
        rows = [[f"c{i}", "vessel", 0.5 + 0.1 * i + 0.01 * cell.seed + (cell.loss == "dice") * 0.05, 2.0 + i]
                for i in range(4)]
        write_cell_results(root / cell.name, ["case", "class", "dice", "hd95"], rows, num_cases=4)
    return root


def test_bench_refuses_a_user_output_folder(tmp_path, capsys):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(EXPERIMENT))
    _user_folder(tmp_path / "mine")
    assert main(["bench", str(cfg), "--output", str(tmp_path / "mine"), "--no-progress"]) == 2
    assert "not made by edgewise" in capsys.readouterr().err
    _untouched(tmp_path / "mine")


def test_report_refuses_user_folders_and_the_bench_folder(tmp_path, capsys):
    bench = _finished_bench(tmp_path / "bench")
    _user_folder(tmp_path / "mine")
    assert main(["report", str(bench), "--output", str(tmp_path / "mine"), "--overlays", "0"]) == 2
    assert "not made by edgewise" in capsys.readouterr().err
    _untouched(tmp_path / "mine")
    before = sorted(os.listdir(bench))
    assert main(["report", str(bench), "--output", str(bench), "--overlays", "0"]) == 2
    assert "is an edgewise bench folder" in capsys.readouterr().err
    assert sorted(os.listdir(bench)) == before
    # its own report folder is replaced by the next report, unless the user added a file
    assert main(["report", str(bench), "--overlays", "0"]) == 0
    assert main(["report", str(bench), "--overlays", "0"]) == 0
    (bench / "report" / "my_figure.png").write_bytes(USER_BYTES)
    assert main(["report", str(bench), "--overlays", "0"]) == 2
    assert "holds files edgewise did not write (my_figure.png)" in capsys.readouterr().err
    assert (bench / "report" / "my_figure.png").read_bytes() == USER_BYTES


def _report_state(folder: Path) -> str | None:
    if not folder.exists():
        return None
    names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))
    assert names == [".edgewise", "figures", "figures/syn_boxplots.png", "figures/syn_differences.png",
                     "report.md", "summary.csv"], names
    baseline = {r["baseline"] for r in csv.DictReader(open(folder / "summary.csv"))}
    text = (folder / "report.md").read_text()
    (version,) = baseline
    assert f"Paired tests against **{version}**" in text, "mixed report"
    return version


def test_report_faulted_at_each_write_point_stays_whole(tmp_path):
    bench = _finished_bench(tmp_path / "bench")
    write_report(bench, baseline="ce", overlays=0)
    seen: list[str] = []
    _io._FAULT_HOOK = seen.append
    try:
        write_report(bench, baseline="ce", overlays=0)
    finally:
        _io._FAULT_HOOK = None
    assert "write:report.md" in seen and "swap:exchange" in seen
    for k, point in enumerate(seen):
        calls = iter(range(len(seen)))

        def fault(name, k=k, calls=calls):
            if next(calls) == k:
                raise KeyboardInterrupt(name)

        _io._FAULT_HOOK = fault
        try:
            with pytest.raises(KeyboardInterrupt):
                write_report(bench, baseline="dice", overlays=0)
        finally:
            _io._FAULT_HOOK = None
        state = _report_state(bench / "report")
        # before the swap the old report, after it the new one; never a mix, never nothing
        assert state == ("dice" if point == "swap:cleanup" else "ce"), point
        assert [n for n in os.listdir(bench) if n.startswith(".report")] == [], point
        write_report(bench, baseline="ce", overlays=0)


def test_cell_status_reads_the_results_folder(tmp_path):
    cell = tmp_path / "cell"
    (cell / "eval_test").mkdir(parents=True)
    assert cell_status(cell) == "pending" and cell_results(cell) == cell / "eval_test"
    (cell / "eval_test" / "summary.json").write_text(json.dumps({"split": "test"}))
    assert cell_status(cell) == "done"
    legacy = tmp_path / "legacy"  # evaluated by an edgewise that wrote results in the run folder
    legacy.mkdir()
    (legacy / "summary.json").write_text(json.dumps({"split": "test"}))
    assert cell_status(legacy) == "done" and cell_results(legacy) == legacy


def test_a_cell_folder_with_user_files_is_never_cleared(tmp_path):
    bench = _finished_bench(tmp_path / "bench")
    cell = Cell("syn", "ce", 5, {**EXPERIMENT["base"], "loss": {"terms": [{"name": "ce"}]}})
    _user_folder(bench / cell.name)  # no checkpoint: once an attempt was wiped and restarted
    res = run_cell(str(bench), cell.name, cell.config)
    assert res.outcome == "failed" and "not made by edgewise" in res.error
    assert sorted(os.listdir(bench / cell.name)) == ["error.txt", "notebook.txt"]  # the why, beside it
    assert (bench / cell.name / "notebook.txt").read_bytes() == USER_BYTES
