"""Run a grid of cells: train then evaluate each, resumably, on one or several workers.

Each cell runs in ``<bench dir>/<dataset>/<loss>/seed<k>/`` through
:func:`edgewise.training.train` and :func:`edgewise.training.evaluate` (:func:`run_cell`). A
cell that is done (:func:`edgewise.bench.cells.cell_status`) is skipped; a cell with a
``checkpoints/last.ckpt`` but no summary was interrupted and resumes from it; a cell that
raised has its traceback in ``error.txt`` and is retried on the next invocation (resumed
from its ``last.ckpt`` when it has one, else started afresh). A cell's grid config and the
output of its training (Lightning's messages, warnings) are kept beside the run folders
(:func:`edgewise.bench.cells.cell_files`): a cell whose config changed since it started is
refused rather than resumed with another config. Each start and resume records the code it
ran (:mod:`edgewise.bench.provenance`).

:func:`run_grid` runs the cells that are not done on a backend
(:mod:`edgewise.bench.backends`): ``local`` runs them in this process when there is a single
worker, else in a pool of spawned processes, one per job, each bound to one device; ``ray``
submits each cell as a Ray task.

The bookkeeping names that lived here before (#26) are importable from here as before:
:class:`~edgewise.bench.cells.CellResult`, :func:`~edgewise.bench.cells.cell_status`,
:func:`~edgewise.bench.cells.cell_files`, :func:`~edgewise.bench.cells.cell_results`,
:func:`~edgewise.bench.cells.claim_bench_dir`, :func:`~edgewise.bench.cells.write_bench_file`,
and the provenance functions.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml

from edgewise._io import MARKER, atomic_leftover, atomic_write_text, owner_kind
from edgewise.bench.backends import Batch, Progress, run_inline, run_pool, run_ray
from edgewise.bench.cells import (
    ERROR_NAME,
    META_DIR,
    VAL_RESULTS_DIR,
    CellResult,
    cell_files,
    cell_results,
    cell_status,
    claim_bench_dir,
    summary_complete,
    write_bench_file,
)
from edgewise.bench.grid import Cell
from edgewise.bench.provenance import (
    PROVENANCE_FILE,
    code_label,
    code_provenance,
    provenance_callback,
    read_provenance,
    record_provenance,
)

__all__ = ["PROVENANCE_FILE", "CellResult", "cell_files", "cell_results", "cell_status", "check_run_options",
           "claim_bench_dir", "code_label", "code_provenance", "device_config", "read_provenance",
           "record_provenance", "run_cell", "run_grid", "write_bench_file"]


def run_cell(
    bench_dir: str, name: str, config: dict[str, Any], runtime: dict[str, Any] | None = None
) -> CellResult:
    """Train and evaluate cell ``name`` in ``bench_dir/name`` unless it is done; never raises.

    ``runtime`` overrides (device, progress bar) are merged into ``config`` for this
    invocation only: they are not part of the cell's identity, so a grid started on one
    device may resume on another.
    """
    from edgewise import training
    from edgewise.bench.grid import deep_merge
    from edgewise.training.trainer import _RUN_ARTEFACTS

    path = Path(bench_dir) / name
    start = time.perf_counter()
    if cell_status(path) == "done":
        return CellResult(str(path), "skipped", 0.0)
    cfg_file, log_file = cell_files(bench_dir, name)
    try:
        _check_cell_config(cfg_file, config)
        (path / ERROR_NAME).unlink(missing_ok=True)
        resume = (path / "checkpoints" / "last.ckpt").exists()
        if not resume and owner_kind(path) == "run":
            # an attempt that stopped before its first checkpoint starts afresh: nothing it
            # ran survives, and train would refuse a folder holding a file it does not write
            (path / PROVENANCE_FILE).unlink(missing_ok=True)
            # and the half-written record a kill during its write left (train would refuse it)
            for stray in path.glob(f".{PROVENANCE_FILE}.*.tmp"):
                if atomic_leftover(stray.name) == PROVENANCE_FILE:
                    stray.unlink()
        if path.is_dir() and owner_kind(path) is None and owner_kind(bench_dir) and \
                {p.name for p in path.iterdir()} <= _RUN_ARTEFACTS:
            # a cell that an edgewise without folder markers started: the bench made it
            atomic_write_text(path / MARKER, "run\n")
        record = provenance_callback(path, "resume" if resume else "start")
        with _redirect_output(log_file):
            # an attempt that failed before its first checkpoint is started again by train
            training.train(deep_merge(config, runtime or {}), output_dir=path, resume=resume,
                           callbacks=[record])
            # a validation grid chooses weights or recipes: it never scores the test set
            if (config.get("evaluation") or {}).get("bench_split", "test") == "val":
                val_split = (config.get("data") or {}).get("val_split") or "val"
                training.evaluate(path, split=val_split, output_dir=path / VAL_RESULTS_DIR)
            else:
                training.evaluate(path, split="test")
        if not summary_complete(cell_results(path) / "summary.json"):
            raise RuntimeError(f"evaluation finished without writing {cell_results(path) / 'summary.json'}")
    except Exception as exc:  # noqa: BLE001 - one cell's failure must not stop the grid
        path.mkdir(parents=True, exist_ok=True)
        (path / ERROR_NAME).write_text(traceback.format_exc() + f"\ntraining log: {log_file}\n")
        return CellResult(str(path), "failed", time.perf_counter() - start, f"{type(exc).__name__}: {exc}")
    return CellResult(str(path), "ran", time.perf_counter() - start)


def _check_cell_config(cell_file: Path, config: dict[str, Any]) -> None:
    if cell_file.exists():
        old = yaml.safe_load(cell_file.read_text())
        if old != config:
            raise ValueError(
                f"expected the config stored in {cell_file} (this run was started with it), got a "
                "different one: delete the run folder and that file to rerun it, or bench into "
                "another --output"
            )
    else:
        cell_file.parent.mkdir(parents=True, exist_ok=True)
        cell_file.write_text(yaml.safe_dump(config, sort_keys=False))


@contextlib.contextmanager
def _redirect_output(log_path: Path) -> Iterator[None]:
    """Send this process's stdout and stderr (file descriptors too) to ``log_path``."""
    sys.stdout.flush()
    sys.stderr.flush()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    saved = os.dup(1), os.dup(2)
    outer = sys.stdout, sys.stderr
    with open(log_path, "a") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        # Logging handlers keep the stream they were created with (Lightning makes its own
        # on import, inside the first cell): point them at this cell's log, and back after,
        # or the next cell's messages go to a closed file.
        moved = {h: h.stream for h in _stream_handlers() if h.stream in outer}
        for h in moved:
            h.setStream(log)
        try:
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for h in _stream_handlers():
                if h.stream is log:
                    h.setStream(moved.get(h, outer[1]))
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def _stream_handlers() -> list[logging.StreamHandler]:
    """Console handlers of every logger (file handlers excluded)."""
    loggers = [logging.getLogger()] + [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    return [h for lg in loggers for h in lg.handlers
            if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)]


def device_config(device: str, bound: bool = True) -> dict[str, Any]:
    """Trainer overrides that put a run on ``device``.

    ``bound`` says the worker process already sees only that device (``CUDA_VISIBLE_DEVICES``
    set by the pool or by Ray), so the run asks for one device of its kind; otherwise a CUDA
    run names its index. Bench runs never draw their own progress bar.
    """
    if device.startswith("cuda"):
        index = device.partition(":")[2] or "0"
        if not index.isdigit():
            raise ValueError(f"expected a device 'cpu', 'cuda' or 'cuda:<index>', got {device!r}")
        devices: int | list[int] = 1 if bound else [int(index)]
        return {"trainer": {"accelerator": "gpu", "devices": devices, "enable_progress_bar": False}}
    if device == "cpu":
        return {"trainer": {"accelerator": "cpu", "devices": 1, "enable_progress_bar": False}}
    raise ValueError(f"expected a device 'cpu', 'cuda' or 'cuda:<index>', got {device!r}")


def check_run_options(backend: str, jobs: int, devices: Sequence[str] | None) -> list[str]:
    """The devices of :func:`run_grid` (default ``["cpu"]``), or a ``ValueError`` naming a
    bad ``backend``, ``jobs`` or device; ``edgewise bench`` checks them before writing."""
    if backend not in ("local", "ray"):
        raise ValueError(f"expected backend 'local' or 'ray', got {backend!r}")
    devices = list(devices or ["cpu"])
    for d in devices:
        device_config(d)
    if len({d.startswith("cuda") for d in devices}) > 1:
        raise ValueError(f"expected devices of one kind (all CPU or all CUDA), got {devices}")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"expected jobs >= 1, got {jobs}")
    return devices


def run_grid(
    cells: Sequence[Cell],
    bench_dir: str | Path,
    *,
    backend: Literal["local", "ray"] = "local",
    jobs: int = 1,
    devices: Sequence[str] | None = None,
    progress: bool = True,
) -> list[CellResult]:
    """Run every cell of the grid that is not done; return one result per cell.

    Args:
        cells: the grid, from :func:`edgewise.bench.grid.expand_grid`.
        bench_dir: root folder; cell ``c`` runs in ``bench_dir / c.name``.
        backend: ``local`` (this machine) or ``ray``.
        jobs: number of cells run at once. With ``devices``, workers take the devices in
            turn (``jobs`` defaults to one per device); on CPU each of the ``jobs`` processes
            gets an equal share of the cores.
        devices: e.g. ``["cuda:0", "cuda:1"]`` or ``["cpu"]`` (default).
        progress: show a progress bar over the whole grid (cells done/total, running cells,
            estimated time left).

    Raises:
        ValueError: for a bad ``backend``, ``jobs`` or device name.
    """
    devices = check_run_options(backend, jobs, devices)
    jobs = max(jobs, len(devices))
    bench_dir = claim_bench_dir(bench_dir)
    with _bench_lock(bench_dir):
        return _run_grid(cells, bench_dir, backend, jobs, devices, progress)


@contextlib.contextmanager
def _bench_lock(bench_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on the bench folder: two benches writing one run would corrupt it."""
    import fcntl

    lock_path = bench_dir / META_DIR / "lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            raise RuntimeError(
                f"expected no other bench running in {bench_dir}, got one (pid {lock.read().strip() or '?'})"
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(str(os.getpid()))
        lock.flush()
        yield


def _run_grid(
    cells: Sequence[Cell],
    bench_dir: Path,
    backend: str,
    jobs: int,
    devices: list[str],
    progress: bool,
) -> list[CellResult]:
    inline = backend == "local" and jobs == 1
    runtime = device_config(devices[0], bound=not inline)
    todo: list[Cell] = []
    results: dict[str, CellResult] = {}
    for cell in cells:
        if cell_status(bench_dir / cell.name) == "done":
            results[cell.name] = CellResult(str(bench_dir / cell.name), "skipped", 0.0)
        else:
            todo.append(cell)

    bar = Progress(len(cells), len(results), progress)
    bar.line(f"bench {bench_dir}: {len(cells)} runs, {len(results)} already done, "
             f"{len(todo)} to run ({jobs} at a time)")
    # run_cell is read from this module when the grid runs: a stand-in patched over it runs
    batch = Batch(todo, bench_dir, runtime, run_cell, bar)
    try:
        if backend == "ray":
            done = run_ray(batch, jobs, devices)
        elif inline:
            done = run_inline(batch)
        else:
            done = run_pool(batch, jobs, devices)
    finally:
        bar.close()
    for cell, res in zip(todo, done):
        results[cell.name] = res
    return [results[c.name] for c in cells]
