"""Runner: states of a run folder, devices, locking, and the process-pool and Ray backends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from edgewise.bench.grid import Cell
from edgewise.bench.cells import cell_status
from edgewise.bench.runner import _bench_lock, device_config, run_grid

TINY_CONFIG = {
    "name": "tiny",
    "data": {"name": "synthetic", "batch_size": 4, "options": {"n": 4, "n_val": 4, "shape": [32, 32]}},
    "model": {"name": "unet", "args": {"base_channels": 4, "depth": 2}},
    "trainer": {"max_epochs": 1},
    "evaluation": {"overlays": 0},
    "loss": {"terms": [{"name": "ce"}]},
}


def test_device_config():
    assert device_config("cpu") == {"trainer": {"accelerator": "cpu", "devices": 1, "enable_progress_bar": False}}
    assert device_config("cuda:3")["trainer"]["devices"] == 1  # the worker sees only its device
    assert device_config("cuda:3", bound=False)["trainer"]["devices"] == [3]
    for bad in ("gpu", "cuda:x", "tpu"):
        with pytest.raises(ValueError, match="expected a device 'cpu', 'cuda' or 'cuda:<index>'"):
            device_config(bad)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="backend 'local' or 'ray'"):
        run_grid([], tmp_path, backend="slurm")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="jobs >= 1"):
        run_grid([], tmp_path, jobs=0)
    with pytest.raises(ValueError, match="devices of one kind"):
        run_grid([], tmp_path, devices=["cpu", "cuda:0"])


def test_second_bench_on_the_same_folder_is_refused(tmp_path):
    with _bench_lock(tmp_path):
        with pytest.raises(RuntimeError, match="no other bench running"):
            run_grid([], tmp_path, progress=False)
    assert run_grid([], tmp_path, progress=False) == []


def _cells(n: int) -> list[Cell]:
    return [Cell("syn", "ce", seed, {**TINY_CONFIG, "seed": seed}) for seed in range(n)]


@pytest.mark.slow
def test_process_pool_backend(tmp_path):
    pytest.importorskip("lightning")
    results = run_grid(_cells(2), tmp_path, jobs=2, progress=False)
    assert [r.outcome for r in results] == ["ran", "ran"], [r.error for r in results]
    assert all(cell_status(tmp_path / f"syn/ce/seed{k}") == "done" for k in range(2))
    assert [r.outcome for r in run_grid(_cells(2), tmp_path, jobs=2, progress=False)] == ["skipped", "skipped"]


@pytest.mark.slow
def test_ray_backend(tmp_path):
    pytest.importorskip("ray")
    pytest.importorskip("lightning")
    (res,) = run_grid(_cells(1), tmp_path, backend="ray", jobs=1, progress=False)
    assert res.outcome == "ran", res.error
    assert cell_status(tmp_path / "syn/ce/seed0") == "done"


def test_log_handlers_follow_each_cell_log(tmp_path):
    import logging

    from edgewise.bench.runner import _redirect_output

    logger = logging.getLogger("edgewise_test_cell_logs")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        with _redirect_output(tmp_path / "a.log"):
            logger.addHandler(logging.StreamHandler())  # made inside a cell, as Lightning does
            logger.info("first cell")
        with _redirect_output(tmp_path / "b.log"):
            logger.info("second cell")
        assert (tmp_path / "a.log").read_text() == "first cell\n"
        assert (tmp_path / "b.log").read_text() == "second cell\n"
    finally:
        for h in list(logger.handlers):
            logger.removeHandler(h)


@pytest.mark.parametrize("progress", [False, True])
def test_every_finished_run_gets_a_line(tmp_path, monkeypatch, capfd, progress):
    """A background grid's log shows each run as it finishes, with or without the bar."""
    from edgewise.bench import runner
    from edgewise.bench.cells import CellResult

    def fake_run_cell(bench_dir, name, config, runtime):
        if name.endswith("seed1"):
            return CellResult(f"{bench_dir}/{name}", "failed", 3.2, "ValueError: boom")
        return CellResult(f"{bench_dir}/{name}", "ran", 125.4 if name.endswith("seed0") else 7.0)

    monkeypatch.setattr(runner, "run_cell", fake_run_cell)
    results = run_grid(_cells(3), tmp_path, progress=progress)
    assert [r.outcome for r in results] == ["ran", "failed", "ran"]
    err = capfd.readouterr().err
    assert f"bench {tmp_path}: 3 runs, 0 already done, 3 to run (1 at a time)" in err
    assert f"[1/3] done {tmp_path}/syn/ce/seed0 in 2 min 05 s" in err
    assert f"[2/3] FAILED {tmp_path}/syn/ce/seed1 after 3 s: ValueError: boom" in err
    assert f"[3/3] done {tmp_path}/syn/ce/seed2 in 7 s" in err
    assert ("it/s" in err or "run/s" in err or "s/run" in err) == progress  # the bar itself


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_pool_worker_ends_when_its_bench_process_is_killed(tmp_path):
    """`kill -- -PGID` of a background bench must not leave idle workers holding memory."""
    child = (
        "import subprocess, sys, time\n"
        "w = subprocess.Popen([sys.executable, '-c', "
        "'import os, time\\n"
        "from edgewise.bench.backends import _exit_with_parent\\n"
        "_exit_with_parent(os.getppid(), interval=0.1)\\n"
        "print(os.getpid(), flush=True)\\n"
        "time.sleep(120)'], stdout=sys.stdout)\n"
        "time.sleep(120)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    worker = int(proc.stdout.readline())
    assert _alive(worker)
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 20
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(worker)


def _children(pid: int) -> set[int]:
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == pid:
            out.add(int(stat.parent.name))
    return out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_bench_leaves_no_process_behind(tmp_path):
    """SIGKILL of a running `edgewise bench --jobs 2`: its workers and helper processes end too
    (a multiprocessing Manager, as the device queue once was, outlived it)."""
    exp = {
        "name": "slow", "baseline": "ce",
        "base": {"data": {"batch_size": 2, "options": {"n": 4, "n_val": 2, "shape": [32, 32]}},
                 "model": {"name": "unet", "args": {"base_channels": 4, "depth": 2}},
                 "trainer": {"max_epochs": 1000}, "evaluation": {"overlays": 0}},
        "datasets": {"syn": {"name": "synthetic"}},
        "losses": {"ce": {"terms": [{"name": "ce"}]}},
        "seeds": [0, 1],
    }
    cfg = tmp_path / "slow.yaml"
    cfg.write_text(yaml.safe_dump(exp))
    bench = subprocess.Popen(
        [sys.executable, "-m", "edgewise.cli", "bench", str(cfg), "--output", str(tmp_path / "b"),
         "--jobs", "2", "--no-progress"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        # workers write their run folders' metrics once training has started
        while time.monotonic() < deadline and len(list((tmp_path / "b").glob("syn/ce/seed*/config.yaml"))) < 2:
            time.sleep(0.2)
        children = _children(bench.pid)
        assert len(children) >= 2
    finally:
        bench.kill()
        bench.wait()
    deadline = time.monotonic() + 20
    while any(_alive(c) for c in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [c for c in children if _alive(c)]
    for c in left:
        os.kill(c, 9)
    assert not left


def _alive(pid: int) -> bool:
    try:
        state = open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # an exited process that nobody has reaped yet is gone


def test_a_grid_filled_in_parts_lists_every_run_it_holds(tmp_path):
    """bench.yaml after `--set 'seeds=[0]'`, then an arm left out, then seeds of the rest: the
    report must see every run folder, not only the last invocation's subset; cells never
    started by an earlier invocation drop out."""
    from edgewise.bench.grid import expand_grid, set_values
    from edgewise.bench.cells import write_bench_file

    exp = {"name": "parts", "baseline": "ce", "datasets": {"syn": {"name": "synthetic"}},
           "losses": {"ce": {"terms": [{"name": "ce"}]}, "ce_bl": {"terms": [{"name": "ce"}]},
                      "dice": {"terms": [{"name": "dice"}]}},
           "seeds": [0, 1]}

    def invoke(assignments, started):
        sub = set_values(exp, assignments)
        cells = expand_grid(sub)
        write_bench_file(tmp_path, sub, cells)
        for c in cells:
            if c.name in started:
                (tmp_path / c.name).mkdir(parents=True, exist_ok=True)
        return [c["name"] for c in yaml.safe_load((tmp_path / "bench.yaml").read_text())["cells"]]

    first = invoke(["seeds=[0]"], {"syn/ce/seed0", "syn/ce_bl/seed0"})  # dice/seed0 never started
    assert first == ["syn/ce/seed0", "syn/ce_bl/seed0", "syn/dice/seed0"]
    second = invoke(["losses.ce_bl=null"], {"syn/ce/seed1", "syn/dice/seed0"})
    assert second == ["syn/ce/seed0", "syn/ce_bl/seed0", "syn/dice/seed0", "syn/ce/seed1", "syn/dice/seed1"]
    third = invoke(["seeds=[1]", "losses.dice=null"], set())
    # dice/seed1 was listed but never started: gone; the rest of the folder stays listed
    assert third == ["syn/ce/seed0", "syn/ce_bl/seed0", "syn/dice/seed0", "syn/ce/seed1", "syn/ce_bl/seed1"]
    assert yaml.safe_load((tmp_path / "bench.yaml").read_text())["experiment"]["seeds"] == [1]


def test_a_validation_grid_scores_validation_and_never_the_test_split(tmp_path):
    pytest.importorskip("lightning")
    config = {**TINY_CONFIG, "evaluation": {"overlays": 0, "bench_split": "val"}}
    [res] = run_grid([Cell("syn", "ce", 0, config)], tmp_path, progress=False)
    assert res.outcome == "ran", res.error
    cell = tmp_path / "syn/ce/seed0"
    assert not (cell / "eval_test").exists()
    summary = json.loads((cell / "eval_val" / "summary.json").read_text())
    assert summary["split"] == "val" and summary["num_cases"] == 4
    assert cell_status(cell) == "done"
    [again] = run_grid([Cell("syn", "ce", 0, config)], tmp_path, progress=False)
    assert again.outcome == "skipped"
