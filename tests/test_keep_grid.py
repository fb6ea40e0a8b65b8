"""tools/keep-grid: a grid's finished cells survive a fresh checkout as numbers only."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from importlib.machinery import SourceFileLoader
from pathlib import Path

import pytest

from edgewise._io import LOCK, MARKER
from edgewise.bench.cells import META_DIR, RESULTS_DIR, VAL_RESULTS_DIR, cell_status

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "tools" / "keep-grid"


def _script():
    if "keep_grid" not in sys.modules:
        loader = SourceFileLoader("keep_grid", str(SCRIPT))
        module = importlib.util.module_from_spec(importlib.util.spec_from_loader("keep_grid", loader))
        sys.modules["keep_grid"] = module
        loader.exec_module(module)
    return sys.modules["keep_grid"]


def _write(path: Path, text: str = "x") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def bench(tmp_path: Path) -> Path:
    b = tmp_path / "bench"
    _write(b / ".edgewise", "bench\n")
    _write(b / "bench.yaml", "cells: [a, b]\n")
    # a finished cell of a validation grid
    _write(b / "ds" / "a" / "seed0" / ".edgewise", "run\n")
    _write(b / "ds" / "a" / "seed0" / ".edgewise.lock", "")
    _write(b / "ds" / "a" / "seed0" / "config.yaml", "seed: 0\n")
    _write(b / "ds" / "a" / "seed0" / "metrics.csv", "epoch,val_dice\n0,0.5\n")
    _write(b / "ds" / "a" / "seed0" / "provenance.json", '{"runs": []}')
    _write(b / "ds" / "a" / "seed0" / "checkpoints" / "best.ckpt", "weights")
    _write(b / "ds" / "a" / "seed0" / "tensorboard" / "events.csv", "1")
    _write(b / "ds" / "a" / "seed0" / "learning_curves.png", "png")
    _write(b / "ds" / "a" / "seed0" / "eval_val" / "summary.json", json.dumps({"dice": 0.87}))
    _write(b / "ds" / "a" / "seed0" / "eval_val" / "per_case.csv", "case,dice\nc1,0.87\n")
    _write(b / "ds" / "a" / "seed0" / "eval_val" / "case1.nii.gz", "volume")
    _write(b / "ds" / "a" / "seed0" / "big.log", "y" * 5000)
    _write(b / ".bench" / "ds" / "a" / "seed0.yaml", "seed: 0\n")
    _write(b / ".bench" / "ds" / "a" / "seed0.log", "trained\n")
    # an interrupted cell: not kept
    _write(b / "ds" / "b" / "seed0" / "checkpoints" / "last.ckpt", "weights")
    _write(b / "ds" / "b" / "seed0" / "metrics.csv", "epoch\n0\n")
    _write(b / ".bench" / "ds" / "b" / "seed0.yaml", "seed: 0\n")
    return b


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_save_keeps_numbers_of_finished_cells_only(bench: Path, tmp_path: Path) -> None:
    keep = tmp_path / "keep"
    assert _script().save(bench, keep, max_bytes=1000) == (1, 10)
    assert _tree(keep) == {
        ".edgewise", "bench.yaml", ".bench/ds/a/seed0.yaml", ".bench/ds/a/seed0.log",
        *(f"ds/a/seed0/{f}" for f in (".edgewise", "config.yaml", "metrics.csv", "provenance.json",
                                       "eval_val/summary.json", "eval_val/per_case.csv")),
    }


def test_restored_cell_is_done_for_the_bench_and_nothing_is_overwritten(bench: Path, tmp_path: Path) -> None:
    keep = tmp_path / "keep"
    _script().save(bench, keep, max_bytes=1000)
    fresh = tmp_path / "fresh"
    assert cell_status(fresh / "ds" / "a" / "seed0") == "pending"
    assert _script().restore(keep, fresh) == (1, 10)
    assert cell_status(fresh / "ds" / "a" / "seed0") == "done"
    assert json.loads((fresh / "ds" / "a" / "seed0" / "eval_val" / "summary.json").read_text()) == {"dice": 0.87}
    # a newer file already there is left as it is
    (fresh / "ds" / "a" / "seed0" / "metrics.csv").write_text("newer\n")
    assert _script().restore(keep, fresh) == (1, 0)
    assert (fresh / "ds" / "a" / "seed0" / "metrics.csv").read_text() == "newer\n"


def test_cli_refuses_a_missing_folder(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, str(SCRIPT), "save", str(tmp_path / "nope"), str(tmp_path / "k")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "expected an existing folder" in out.stderr and "nope" in out.stderr
    assert not (tmp_path / "k").exists()


def test_the_script_names_the_files_as_edgewise_does() -> None:
    """The script copies edgewise's names (it runs without edgewise): they must not drift."""
    script = _script()
    assert script.RESULT_DIRS == (RESULTS_DIR, VAL_RESULTS_DIR)
    assert script.META_DIR == META_DIR
    assert script.MARKERS == {MARKER}
    assert script.SKIPPED_NAMES == {LOCK}
