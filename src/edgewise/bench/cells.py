"""A bench folder's bookkeeping: where each cell's files are, what state it is in, ``bench.yaml``.

Each cell runs in ``<bench dir>/<dataset>/<loss>/seed<k>/``. A cell is *done* when its
``eval_test/summary.json`` is complete (the evaluation's results appear as a whole); a cell
with a ``checkpoints/last.ckpt`` but no summary was *interrupted*; a cell that raised has its
traceback in ``error.txt`` and is *failed*; any other is *pending*
(:func:`cell_status`). A cell's grid config and the output of its training are kept beside
the run folders, in ``<bench dir>/.bench/<dataset>/<loss>/seed<k>.yaml`` and ``.log``
(:func:`cell_files`). ``bench.yaml`` lists the experiment and its cells
(:func:`write_bench_file`).

How a cell is run: :mod:`edgewise.bench.runner`; the code it ran:
:mod:`edgewise.bench.provenance`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from edgewise._io import atomic_write_text, claim_dir
from edgewise.bench.grid import Cell

__all__ = ["BENCH_FILE", "ERROR_NAME", "META_DIR", "RESULTS_DIR", "VAL_RESULTS_DIR", "CellResult", "Status",
           "cell_files", "cell_results", "cell_status", "claim_bench_dir", "summary_complete", "write_bench_file"]

Status = Literal["done", "interrupted", "failed", "pending"]

ERROR_NAME = "error.txt"
BENCH_FILE = "bench.yaml"
# bookkeeping beside the run folders: training refuses to start in a non-empty folder
META_DIR = ".bench"
# a cell's evaluation results: edgewise.training.evaluation.eval_dir(cell, "test")
RESULTS_DIR = "eval_test"
# ... and those of a cell of a validation grid (evaluation.bench_split: val)
VAL_RESULTS_DIR = "eval_val"


@dataclass(frozen=True)
class CellResult:
    """Outcome of one cell in one invocation: ``ran``, ``skipped`` (already done) or ``failed``."""

    name: str
    outcome: Literal["ran", "skipped", "failed"]
    seconds: float
    error: str | None = None


def cell_status(run_dir: str | Path) -> Status:
    """State of a run folder: ``done``, ``failed``, ``interrupted`` (has ``last.ckpt``) or ``pending``."""
    run_dir = Path(run_dir)
    if summary_complete(cell_results(run_dir) / "summary.json"):
        return "done"
    if (run_dir / ERROR_NAME).exists():
        return "failed"
    if (run_dir / "checkpoints" / "last.ckpt").exists():
        return "interrupted"
    return "pending"


def cell_results(run_dir: str | Path) -> Path:
    """The folder of a cell's results: ``<cell>/eval_test``; ``<cell>/eval_val`` for a cell of
    a validation grid (``evaluation.bench_split: val``); or the cell itself for a cell evaluated
    by an edgewise that wrote them there (before results folders)."""
    run_dir = Path(run_dir)
    if not (run_dir / RESULTS_DIR).exists():
        if (run_dir / VAL_RESULTS_DIR).exists():
            return run_dir / VAL_RESULTS_DIR
        if (run_dir / "summary.json").is_file():
            return run_dir
    return run_dir / RESULTS_DIR


def summary_complete(path: Path) -> bool:
    """Whether ``path`` holds a non-empty JSON object (an evaluation's whole summary)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and bool(data)


def cell_files(bench_dir: str | Path, name: str) -> tuple[Path, Path]:
    """The grid config (``.yaml``) and training log (``.log``) of cell ``name``."""
    stem = Path(bench_dir) / META_DIR / name
    return stem.with_suffix(".yaml"), stem.with_suffix(".log")


def _is_old_bench(folder: Path) -> bool:
    return (folder / BENCH_FILE).is_file() or (folder / META_DIR).is_dir()


def claim_bench_dir(bench_dir: str | Path) -> Path:
    """Create and mark the bench folder, or refuse a non-empty folder edgewise did not make.

    Raises:
        FileExistsError: ``bench_dir`` holds files that are not an edgewise bench.
    """
    return claim_dir(bench_dir, "bench", what="bench folder", adopt=_is_old_bench)


def write_bench_file(bench_dir: str | Path, experiment: dict[str, Any], cells: Sequence[Cell]) -> Path:
    """Write ``bench.yaml``: the resolved experiment and the list of its cells.

    A grid filled in parts (``--set 'seeds=[0]'``, then an arm left out with
    ``--set losses.x=null``, ...) keeps the cells of earlier invocations whose run folders
    exist, so ``edgewise report`` sees every run the folder holds; cells keep the order in
    which they were first listed, new ones follow.
    """
    bench_dir = claim_bench_dir(bench_dir)
    new = [{"name": c.name, "dataset": c.dataset, "loss": c.loss, "seed": c.seed} for c in cells]
    names = {c["name"] for c in new}
    listed: list[dict[str, Any]] = []
    old_file = bench_dir / BENCH_FILE
    if old_file.is_file():
        old = yaml.safe_load(old_file.read_text()) or {}
        listed = [c for c in old.get("cells") or []
                  if c.get("name") in names or (bench_dir / str(c.get("name"))).is_dir()]
    kept = {c["name"] for c in listed}
    listed += [c for c in new if c["name"] not in kept]
    doc = {"experiment": experiment, "cells": listed}
    path = bench_dir / BENCH_FILE
    return atomic_write_text(path, yaml.safe_dump(doc, sort_keys=False))
