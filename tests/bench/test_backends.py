"""The backends' shared collection of results, without processes: order, progress, lost cells."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgewise.bench.backends import Batch, Progress, _gather, run_inline
from edgewise.bench.cells import ERROR_NAME, CellResult, cell_status
from edgewise.bench.grid import Cell


class _Lines:
    """Stands in for the progress bar: what it was told, in order."""

    def __init__(self) -> None:
        self.finished_runs: list[tuple[str, list[str]]] = []

    def finished(self, res: CellResult, running: list[str]) -> None:
        self.finished_runs.append((res.outcome, list(running)))

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        pass


def _batch(tmp_path: Path, n: int, progress: object) -> Batch:
    def task(bench_dir: str, name: str, config: dict, runtime: dict | None) -> CellResult:
        return CellResult(f"{bench_dir}/{name}", "ran", 1.0)

    cells = [Cell("syn", "ce", seed, {"seed": seed}) for seed in range(n)]
    return Batch(cells, tmp_path, {"trainer": {}}, task, progress)  # type: ignore[arg-type]


def test_results_come_in_cell_order_and_a_lost_cell_fails_alone(tmp_path: Path) -> None:
    lines = _Lines()
    batch = _batch(tmp_path, 3, lines)
    handles = {"h2": 2, "h0": 0, "h1": 1}  # submitted in another order than the cells

    def next_done(pending: list[str]) -> tuple[list[str], list[str]]:
        return pending[:1], pending[1:]  # one at a time, in submission order

    def result(handle: str) -> CellResult:
        if handle == "h0":
            raise RuntimeError("gone")
        return batch.task(*batch.args(batch.cells[handles[handle]]))

    out = _gather(batch, handles, next_done, result, "worker process died", shown=1)
    assert [r.outcome for r in out] == ["failed", "ran", "ran"]
    assert out[0] == CellResult(str(tmp_path / "syn/ce/seed0"), "failed", 0.0, "RuntimeError: gone")
    lost = tmp_path / "syn" / "ce" / "seed0"
    assert (lost / ERROR_NAME).read_text() == "worker process died: RuntimeError('gone')\n"
    assert cell_status(lost) == "failed"
    # each finished cell is reported with the first `shown` still running, in cell order
    assert lines.finished_runs == [("ran", ["syn/ce/seed0"]), ("failed", ["syn/ce/seed1"]), ("ran", [])]


def test_inline_runs_the_task_with_plain_arguments(tmp_path: Path) -> None:
    seen = []

    def task(bench_dir: str, name: str, config: dict, runtime: dict | None) -> CellResult:
        seen.append((bench_dir, name, config, runtime))
        return CellResult(name, "ran", 0.0)

    lines = _Lines()
    batch = Batch([Cell("syn", "ce", 0, {"seed": 0})], tmp_path, {"trainer": {}}, task, lines)  # type: ignore[arg-type]
    assert run_inline(batch) == [CellResult("syn/ce/seed0", "ran", 0.0)]
    assert seen == [(str(tmp_path), "syn/ce/seed0", {"seed": 0}, {"trainer": {}})]
    assert lines.finished_runs == [("ran", [])]


def test_progress_lines_say_what_finished(capfd: pytest.CaptureFixture[str]) -> None:
    bar = Progress(2, 0, enabled=False)
    bar.finished(CellResult("a", "ran", 65.0), ["b"])
    bar.finished(CellResult("b", "failed", 2.0, "ValueError: x"), [])
    bar.close()
    err = capfd.readouterr().err
    assert "[1/2] done a in 1 min 05 s" in err
    assert "[2/2] FAILED b after 2 s: ValueError: x" in err
