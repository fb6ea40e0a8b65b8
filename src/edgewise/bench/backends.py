"""Where a grid's cells run: in this process, in a pool of processes, or as Ray tasks.

Each backend runs one task per cell (:func:`edgewise.bench.runner.run_cell`, which never
raises) and reports every finished cell to the grid's :class:`Progress`:

- :func:`run_inline`: one after the other in this process (``local``, one job);
- :func:`run_pool`: a pool of spawned processes, one per job, each bound to one device before
  it imports torch (``local``, several jobs);
- :func:`run_ray`: one Ray task per cell (``pip install edgewise[ray]``; a local Ray instance
  is started unless ``RAY_ADDRESS`` names a cluster, whose workers must see the bench folder).

A worker that dies or a task that is lost fails its cell only (:func:`_gather`).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from edgewise.bench.cells import ERROR_NAME, CellResult
from edgewise.bench.grid import Cell

__all__ = ["Batch", "CellTask", "Progress", "run_inline", "run_pool", "run_ray"]

#: what a backend runs for each cell: ``task(bench_dir, name, config, runtime)``
CellTask = Callable[[str, str, dict[str, Any], dict[str, Any] | None], CellResult]

_Handle = TypeVar("_Handle")
#: waits for some of the pending handles: ``(finished, still pending)``
_NextDone = Callable[[list[_Handle]], tuple[Iterable[_Handle], Collection[_Handle]]]


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


class Progress:
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


@dataclass(frozen=True)
class Batch:
    """What a backend runs: ``task`` for each of ``cells`` of the bench folder ``bench_dir``,
    with the ``runtime`` overrides of this invocation, reported to ``progress``."""

    cells: Sequence[Cell]
    bench_dir: Path
    runtime: dict[str, Any]
    task: CellTask
    progress: Progress

    def args(self, cell: Cell) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
        """The task's arguments for ``cell`` (plain values: they travel to other processes)."""
        return str(self.bench_dir), cell.name, cell.config, self.runtime


def run_inline(batch: Batch) -> list[CellResult]:
    """Run the cells one after the other in this process."""
    out = []
    for cell in batch.cells:
        batch.progress.set_postfix_str(f"running {cell.name}", refresh=True)
        res = batch.task(*batch.args(cell))
        out.append(res)
        batch.progress.finished(res, [])
    return out


def run_pool(batch: Batch, jobs: int, devices: Sequence[str]) -> list[CellResult]:
    """Run the cells in ``jobs`` spawned processes, which take ``devices`` in turn; CPU workers
    share the cores equally."""
    import multiprocessing as mp

    # spawn: a forked child would inherit torch's threads and locks from the parent
    ctx = mp.get_context("spawn")
    # a plain queue handed to each worker at its start, not a Manager's: a Manager is a server
    # process of its own, which a killed bench would leave behind
    queue = ctx.Queue()
    workers = min(jobs, len(batch.cells)) or 1
    worker_devices = [devices[i % len(devices)] for i in range(workers)]
    for d in worker_devices:
        queue.put(d)
    cpu_workers = sum(d == "cpu" for d in worker_devices)
    threads = max(1, (os.cpu_count() or 1) // max(cpu_workers, 1))
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init, initargs=(queue, threads)) as pool:
        # each worker sees only its own device (CUDA_VISIBLE_DEVICES), so runs ask for "one"
        futures = {pool.submit(batch.task, *batch.args(cell)): i for i, cell in enumerate(batch.cells)}

        return _gather(batch, futures, lambda pending: wait(pending, timeout=5.0, return_when=FIRST_COMPLETED),
                       Future.result, "worker process died", workers)


def run_ray(batch: Batch, jobs: int, devices: Sequence[str]) -> list[CellResult]:
    """Run each cell as a Ray task (one CPU, and one GPU when ``devices`` are CUDA), at most
    ``jobs`` at a time on a local Ray instance started here."""
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
        task = ray.remote(num_cpus=1, num_gpus=1 if gpu else 0, max_retries=0)(batch.task)
        refs = {task.remote(*batch.args(cell)): i for i, cell in enumerate(batch.cells)}
        return _gather(batch, refs, lambda pending: ray.wait(pending, num_returns=1), ray.get,
                       "ray task failed", jobs)
    finally:
        if started_here:
            ray.shutdown()


def _gather(
    batch: Batch,
    handles: dict[_Handle, int],
    next_done: _NextDone[_Handle],
    result: Callable[[_Handle], CellResult],
    failure: str,
    shown: int,
) -> list[CellResult]:
    """The results of the submitted cells (``handles``: handle -> index into ``batch.cells``)
    in the order of the cells, reported as they finish with the first ``shown`` of those
    still running. ``next_done(pending)`` waits for some and returns ``(finished, pending)``;
    ``result(handle)`` gives the cell's result or raises, and then the cell fails with
    ``failure`` in its ``error.txt``."""
    out: dict[int, CellResult] = {}
    pending = list(handles)
    while pending:
        finished, rest = next_done(pending)
        pending = list(rest)
        for handle in finished:
            i = handles[handle]
            try:
                res = result(handle)
            except Exception as exc:  # noqa: BLE001 - a dead worker or a lost task fails its cell only
                path = batch.bench_dir / batch.cells[i].name
                path.mkdir(parents=True, exist_ok=True)
                (path / ERROR_NAME).write_text(f"{failure}: {exc!r}\n")
                res = CellResult(str(path), "failed", 0.0, f"{type(exc).__name__}: {exc}")
            out[i] = res
            running = [batch.cells[j].name for j in sorted(handles[h] for h in pending)][:shown]
            batch.progress.finished(res, running)
    return [out[i] for i in range(len(batch.cells))]


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
