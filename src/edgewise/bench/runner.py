"""Run a grid of cells: train then evaluate each, resumably, on one or several workers.

Each cell runs in ``<bench dir>/<dataset>/<loss>/seed<k>/`` through
:func:`edgewise.training.train` and :func:`edgewise.training.evaluate`. A cell is *done*
when its ``eval_test/summary.json`` is complete (the evaluation's results appear as a
whole) and is then skipped; a cell with a
``checkpoints/last.ckpt`` but no summary was interrupted and resumes from it; a cell that
raised has its traceback in ``error.txt`` and is retried on the next invocation (resumed
from its ``last.ckpt`` when it has one, else started afresh). A cell's grid config and the
output of its training (Lightning's messages, warnings) are kept beside the run folders, in
``<bench dir>/.bench/<dataset>/<loss>/seed<k>.yaml`` and ``.log``: a cell whose config
changed since it started is refused rather than resumed with another config.

Each cell records the code it ran in ``<cell>/provenance.json`` (:func:`code_provenance`:
the git commit of the edgewise source tree, whether its tracked files under ``src/`` and
``pyproject.toml`` had uncommitted changes, the edgewise version), one entry each time its
training starts or resumes, so a cell resumed from other code lists every commit it ran.
``edgewise report`` refuses to pool cells that ran different or uncommitted code.

Backends: ``local`` runs cells in this process when there is a single worker, else in a pool
of spawned processes, one per job, each bound to one device; ``ray`` submits each cell as a
Ray task (``pip install edgewise[ray]``; a local Ray instance is started unless
``RAY_ADDRESS`` names a cluster, whose workers must see the bench folder).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from edgewise._io import MARKER, atomic_write_text, claim_dir, owner_kind
from edgewise.bench.grid import Cell

__all__ = ["PROVENANCE_FILE", "CellResult", "cell_files", "cell_results", "cell_status", "claim_bench_dir",
           "code_label", "code_provenance", "read_provenance", "record_provenance", "run_cell", "run_grid",
           "write_bench_file"]

Status = Literal["done", "interrupted", "failed", "pending"]

ERROR_NAME = "error.txt"
BENCH_FILE = "bench.yaml"
# bookkeeping beside the run folders: training refuses to start in a non-empty folder
META_DIR = ".bench"
# a cell's evaluation results: edgewise.training.evaluation.eval_dir(cell, "test")
RESULTS_DIR = "eval_test"
# the code each start and resume of a cell ran: code_provenance() entries
PROVENANCE_FILE = "provenance.json"
# tracked paths (from the repository's top) whose uncommitted changes make the code differ
# from its commit; "src" is replaced by the package's own source folder's parent
_CODE_PATHS = ("pyproject.toml",)
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
    if _summary_complete(cell_results(run_dir) / "summary.json"):
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


def _is_old_bench(folder: Path) -> bool:
    return (folder / BENCH_FILE).is_file() or (folder / META_DIR).is_dir()


def claim_bench_dir(bench_dir: str | Path) -> Path:
    """Create and mark the bench folder, or refuse a non-empty folder edgewise did not make.

    Raises:
        FileExistsError: ``bench_dir`` holds files that are not an edgewise bench.
    """
    return claim_dir(bench_dir, "bench", what="bench folder", adopt=_is_old_bench)


def _summary_complete(path: Path) -> bool:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and bool(data)


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


class _GitError(Exception):
    pass


def _git(folder: Path, *args: str, strip: bool = True) -> str:
    """``git -C folder ARGS`` (no optional locks: a bench must not hold the index lock of the
    checkout it runs from); its standard output (stripped with ``strip``). Raises
    :class:`_GitError` with the reason when git is missing or fails."""
    try:
        proc = subprocess.run(["git", "--no-optional-locks", "-C", str(folder), *args],
                              capture_output=True, text=True, timeout=30, check=False)
    except FileNotFoundError:
        raise _GitError("git is not installed (or not on PATH)") from None
    except (OSError, subprocess.SubprocessError) as exc:
        raise _GitError(f"git could not run: {exc}") from None
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        raise _GitError(f"`git {' '.join(args)}` failed in {folder}: {lines[0] if lines else proc.returncode}")
    return proc.stdout.strip() if strip else proc.stdout


def code_provenance(source: str | Path | None = None) -> dict[str, Any]:
    """The code this process runs: what a bench cell records when its training starts.

    ``commit`` is ``git rev-parse HEAD`` of the repository holding the edgewise package's
    source folder (``source``, default the imported package's folder); ``dirty`` whether
    tracked files under that folder's ``src/`` (or the package folder when it is not under
    ``src/``) or ``pyproject.toml`` differ from the commit (``git status --porcelain``,
    untracked files ignored), with the first ``changed`` paths. Where there is no git, no
    repository, or the package is an installed copy that the repository does not track,
    ``commit`` and ``dirty`` are ``None`` and ``reason`` says why; this never raises.

    Returns:
        ``{"commit", "dirty", "changed", "version", "source", "reason", "time"}``.
    """
    import edgewise

    folder = Path(source if source is not None else Path(edgewise.__file__).parent).resolve()
    record: dict[str, Any] = {
        "commit": None, "dirty": None, "changed": [], "version": getattr(edgewise, "__version__", None),
        "source": str(folder), "reason": None,
        "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    try:
        top = Path(_git(folder, "rev-parse", "--show-toplevel")).resolve()
        if not _git(folder, "ls-files", "--", "__init__.py"):
            raise _GitError(f"the package at {folder} is not tracked by the git repository at {top} "
                            "(an installed copy, not the checkout)")
        commit = _git(folder, "rev-parse", "HEAD")
        code_dir = folder.parent if folder.parent.name == "src" else folder
        paths = [code_dir.relative_to(top).as_posix() or ".", *_CODE_PATHS]
        status = _git(top, "status", "--porcelain", "--untracked-files=no", "--", *paths, strip=False)
    except _GitError as exc:
        record["reason"] = str(exc)
        return record
    except ValueError as exc:  # the package folder outside the repository's top
        record["reason"] = f"cannot place {folder} in its git repository: {exc}"
        return record
    changed = [line[3:] for line in status.splitlines() if len(line) > 3]
    record.update(commit=commit, dirty=bool(changed), changed=changed[:20])
    return record


def code_label(entry: dict[str, Any] | None) -> str:
    """One entry of ``provenance.json`` as a short label: the commit, ``<commit>+dirty`` for
    uncommitted changes, ``unknown`` without a commit."""
    if not entry or not entry.get("commit"):
        return "unknown"
    return str(entry["commit"]) + ("+dirty" if entry.get("dirty") or entry.get("dirty") is None else "")


def read_provenance(run_dir: str | Path) -> list[dict[str, Any]] | None:
    """The entries of ``<run_dir>/provenance.json`` (one per start or resume, oldest first),
    or ``None`` when the cell has none (started by an edgewise that did not record it)."""
    path = Path(run_dir) / PROVENANCE_FILE
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    runs = doc.get("runs") if isinstance(doc, dict) else None
    return [r for r in runs if isinstance(r, dict)] if isinstance(runs, list) else None


def record_provenance(run_dir: str | Path, event: Literal["start", "resume"],
                      record: dict[str, Any] | None = None) -> Path:
    """Append ``record`` (default :func:`code_provenance`) as a ``start`` or ``resume`` entry
    to ``<run_dir>/provenance.json``, written atomically; earlier entries are kept."""
    run_dir = Path(run_dir)
    entries = read_provenance(run_dir) or []
    entries.append({"event": event, **(record if record is not None else code_provenance())})
    text = json.dumps({"runs": entries}, indent=2) + "\n"
    return atomic_write_text(run_dir / PROVENANCE_FILE, text)


def _provenance_callback(run_dir: Path, event: Literal["start", "resume"]) -> Any:
    """A Lightning callback that records the code when training starts: by then ``train``
    has claimed the run folder (a file written before would make it refuse the folder)."""
    import lightning.pytorch as pl

    class RecordCode(pl.Callback):
        def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
            if trainer.is_global_zero:
                record_provenance(run_dir, event)

    return RecordCode()


def cell_files(bench_dir: str | Path, name: str) -> tuple[Path, Path]:
    """The grid config (``.yaml``) and training log (``.log``) of cell ``name``."""
    stem = Path(bench_dir) / META_DIR / name
    return stem.with_suffix(".yaml"), stem.with_suffix(".log")


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
        if path.is_dir() and owner_kind(path) is None and owner_kind(bench_dir) and \
                {p.name for p in path.iterdir()} <= _RUN_ARTEFACTS:
            # a cell that an edgewise without folder markers started: the bench made it
            atomic_write_text(path / MARKER, "run\n")
        record = _provenance_callback(path, "resume" if resume else "start")
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
        if not _summary_complete(cell_results(path) / "summary.json"):
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


def _worker_init(device_queue: Any, threads: int) -> None:
    """Bind a pool worker to one device before it imports torch."""
    device = device_queue.get()
    if device.startswith("cuda"):
        index = device.partition(":")[2] or "0"
        os.environ["CUDA_VISIBLE_DEVICES"] = index
    else:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    _exit_with_parent(os.getppid())


def _exit_with_parent(parent: int, interval: float = 2.0) -> None:
    """End this worker when the bench process that started it is gone.

    A pool worker whose parent was killed (``kill -- -PGID`` of a background bench) otherwise
    lives on: Lightning turns SIGTERM into a failed run, and the idle worker then waits
    forever for work from a parent that no longer exists, holding its memory.
    """

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="edgewise-parent-watch", daemon=True).start()


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

    bar = _Progress(len(cells), len(results), progress)
    bar.line(f"bench {bench_dir}: {len(cells)} runs, {len(results)} already done, "
             f"{len(todo)} to run ({jobs} at a time)")
    try:
        if backend == "ray":
            done = _run_ray(todo, runtime, bench_dir, jobs, devices, bar)
        elif inline:
            done = _run_inline(todo, runtime, bench_dir, bar)
        else:
            done = _run_pool(todo, runtime, bench_dir, jobs, devices, bar)
    finally:
        bar.close()
    for cell, res in zip(todo, done):
        results[cell.name] = res
    return [results[c.name] for c in cells]


def _original_stderr() -> Any:
    # A duplicate of fd 2 keeps the bar on the terminal while cells redirect fd 2 to their logs.
    return os.fdopen(os.dup(sys.stderr.fileno()), "w", buffering=1) if _has_fileno() else sys.stderr


def _has_fileno() -> bool:
    try:
        sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    return True


def _duration(seconds: float) -> str:
    minutes, sec = divmod(int(round(seconds)), 60)
    return f"{minutes} min {sec:02d} s" if minutes else f"{sec} s"


class _Progress:
    """The grid's bar (when shown) and one line per finished run (always): a background
    grid's log (`--no-progress > log`) says what finished and when, not nothing until the end."""

    def __init__(self, total: int, initial: int, enabled: bool) -> None:
        from tqdm.auto import tqdm

        self.file = _original_stderr()
        self.total, self.n = total, initial
        self.bar = tqdm(total=total, initial=initial, unit="run", desc="bench", disable=not enabled,
                        file=self.file, dynamic_ncols=True)

    def line(self, text: str) -> None:
        self.bar.write(text, file=self.file)  # tqdm.write clears and redraws the bar around it

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        self.bar.set_postfix_str(text, refresh=refresh)

    def finished(self, res: CellResult, running: Sequence[str]) -> None:
        self.n += 1
        count = f"[{self.n}/{self.total}]"
        if res.outcome == "failed":
            self.line(f"{count} FAILED {res.name} after {_duration(res.seconds)}: {res.error}")
        elif res.outcome == "skipped":
            self.line(f"{count} {res.name} was already done")
        else:
            self.line(f"{count} done {res.name} in {_duration(res.seconds)}")
        self.bar.update(1)
        self.set_postfix_str(("running " + ", ".join(running)) if running else "")

    def close(self) -> None:
        self.bar.close()


def _run_inline(todo: Sequence[Cell], runtime: dict[str, Any], bench_dir: Path, bar: _Progress) -> list[CellResult]:
    out = []
    for cell in todo:
        bar.set_postfix_str(f"running {cell.name}", refresh=True)
        res = run_cell(str(bench_dir), cell.name, cell.config, runtime)
        out.append(res)
        bar.finished(res, [])
    return out


def _run_pool(
    todo: Sequence[Cell],
    runtime: dict[str, Any],
    bench_dir: Path,
    jobs: int,
    devices: Sequence[str],
    bar: _Progress,
) -> list[CellResult]:
    import multiprocessing as mp

    # spawn: a forked child would inherit torch's threads and locks from the parent
    ctx = mp.get_context("spawn")
    # a plain queue handed to each worker at its start, not a Manager's: a Manager is a server
    # process of its own, which a killed bench would leave behind
    queue = ctx.Queue()
    workers = min(jobs, len(todo)) or 1
    worker_devices = [devices[i % len(devices)] for i in range(workers)]
    for d in worker_devices:
        queue.put(d)
    cpu_workers = sum(d == "cpu" for d in worker_devices)
    threads = max(1, (os.cpu_count() or 1) // max(cpu_workers, 1))
    out: dict[int, CellResult] = {}
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init, initargs=(queue, threads)) as pool:
        # each worker sees only its own device (CUDA_VISIBLE_DEVICES), so runs ask for "one"
        futures: dict[Future[CellResult], int] = {}
        for i, cell in enumerate(todo):
            futures[pool.submit(run_cell, str(bench_dir), cell.name, cell.config, runtime)] = i
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, timeout=5.0, return_when=FIRST_COMPLETED)
            for fut in finished:
                i = futures[fut]
                path = bench_dir / todo[i].name
                try:
                    res = fut.result()
                except Exception as exc:  # noqa: BLE001 - a dead worker fails its cell only
                    res = CellResult(str(path), "failed", 0.0, f"{type(exc).__name__}: {exc}")
                    path.mkdir(parents=True, exist_ok=True)
                    (path / ERROR_NAME).write_text(f"worker process died: {exc!r}\n")
                out[i] = res
                running = [todo[j].name for j in sorted(futures[f] for f in pending)][:workers]
                bar.finished(res, running)
    return [out[i] for i in range(len(todo))]


def _run_ray(
    todo: Sequence[Cell],
    runtime: dict[str, Any],
    bench_dir: Path,
    jobs: int,
    devices: Sequence[str],
    bar: _Progress,
) -> list[CellResult]:
    try:
        import ray
    except ImportError as exc:
        raise ImportError("the ray backend needs Ray: pip install 'edgewise[ray]'") from exc
    gpu = any(d.startswith("cuda") for d in devices)
    started_here = False
    if not ray.is_initialized():
        address = os.environ.get("RAY_ADDRESS")
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=jobs, num_gpus=len(devices) if gpu else 0, include_dashboard=False,
                     log_to_driver=False)
        started_here = True
    try:
        task = ray.remote(num_cpus=1, num_gpus=1 if gpu else 0, max_retries=0)(run_cell)
        refs = {task.remote(str(bench_dir), cell.name, cell.config, runtime): i for i, cell in enumerate(todo)}
        out: dict[int, CellResult] = {}
        pending = list(refs)
        while pending:
            finished, pending = ray.wait(pending, num_returns=1)
            for ref in finished:
                i = refs[ref]
                try:
                    res = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - a lost task fails its cell only
                    name = bench_dir / todo[i].name
                    name.mkdir(parents=True, exist_ok=True)
                    (name / ERROR_NAME).write_text(f"ray task failed: {exc!r}\n")
                    res = CellResult(str(name), "failed", 0.0, f"{type(exc).__name__}: {exc}")
                out[i] = res
                bar.finished(res, [todo[refs[r]].name for r in pending][:jobs])
        return [out[i] for i in range(len(todo))]
    finally:
        if started_here:
            ray.shutdown()
