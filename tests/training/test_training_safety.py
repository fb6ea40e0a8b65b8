"""The command line's first hour: nothing of the user's overwritten, checks before any
output, results whole, threads, output without a terminal."""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch

from edgewise.cli import main
from edgewise.training import evaluate, train
from edgewise.training.config import load_config, resolve_num_threads

REPO = Path(__file__).resolve().parents[2]
USER_BYTES = b"thesis draft \x00\xd0\n"


def _user_folder(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "thesis.txt").write_bytes(USER_BYTES)
    return folder / "thesis.txt"


def _untouched(folder: Path) -> None:
    assert sorted(os.listdir(folder)) == ["thesis.txt"]
    assert (folder / "thesis.txt").read_bytes() == USER_BYTES


@pytest.fixture
def tiny_args(tiny_overrides):
    def make(*extra: str) -> list[str]:
        return [*tiny_overrides, *extra]

    return make


# ---------------------------------------------------------------- user folders
@pytest.mark.parametrize("where", ["named", "current"])
def test_demo_refuses_a_user_folder(tmp_path, monkeypatch, capsys, where):
    _user_folder(tmp_path / "mine")
    monkeypatch.chdir(tmp_path / "mine")
    out = "." if where == "current" else str(tmp_path / "mine")
    start = time.perf_counter()
    assert main(["demo", "--fast", "-o", out]) == 2
    assert time.perf_counter() - start < 60  # refused before training, not after
    err = capsys.readouterr().err
    assert "not made by edgewise" in err and "choose a new or empty folder" in err
    _untouched(tmp_path / "mine")
    assert sorted(os.listdir(tmp_path)) == ["mine"]


def test_train_refuses_a_user_folder_without_suggesting_resume(tmp_path, capsys, tiny_args):
    _user_folder(tmp_path / "mine")
    assert main(["train", "-o", str(tmp_path / "mine"), *tiny_args()]) == 2
    err = capsys.readouterr().err
    assert "not made by edgewise" in err and "--resume" not in err
    _untouched(tmp_path / "mine")


def test_eval_refuses_a_user_output_folder(tmp_path, tiny_config, capsys):
    run_dir = train(tiny_config("evaluation.overlays=0"), output_dir=tmp_path / "run")
    _user_folder(tmp_path / "mine")
    assert main(["eval", str(run_dir), "-o", str(tmp_path / "mine")]) == 2
    assert "not made by edgewise" in capsys.readouterr().err
    _untouched(tmp_path / "mine")
    assert not (run_dir / "eval_test").exists()


# ---------------------------------------------------------------- checks come first
@pytest.mark.parametrize("override, message", [
    ("loss.terms.0.name=bondary", "unknown loss 'bondary'"),
    ("model.name=unnet", "unnet"),
    ("data.name=drive", "config key 'data.root'"),
    ("data.root=/no/such/folder", "does not exist"),
])
def test_config_errors_leave_no_run_folder(tmp_path, capsys, tiny_args, override, message):
    args = tiny_args(override)
    if override.startswith("data.root"):
        args.append("data.name=drive")
    assert main(["train", "-o", str(tmp_path / "run"), *args]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_yaml_that_is_not_text_is_named(tmp_path, capsys):
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(range(256)))
    assert main(["train", "--config", str(binary), "-o", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert f"config file {binary} is not a YAML text file" in err and "0xd0 at offset 0" in err
    assert not (tmp_path / "run").exists()


class _CrashAtStart(pl.Callback):
    def on_train_epoch_start(self, trainer, module):
        raise RuntimeError("simulated crash before the first checkpoint")


def test_a_run_that_stopped_before_its_first_checkpoint_starts_again(tmp_path, tiny_config, caplog, capsys, tiny_args):
    cfg = tiny_config()
    run_dir = tmp_path / "run"
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(cfg, output_dir=run_dir, callbacks=[_CrashAtStart()])
    assert (run_dir / "config.yaml").is_file() and not (run_dir / "checkpoints" / "last.ckpt").exists()
    # --resume cannot work here, and the message says what will
    assert main(["train", "--resume", "-o", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert "no checkpoint" in err and "start it again without resume" in err
    with caplog.at_level(logging.WARNING, logger="edgewise"):
        train(cfg, output_dir=run_dir)
    assert "stopped before its first checkpoint; starting it again" in caplog.text
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    # a finished run is never restarted over: only --resume continues it
    assert main(["train", "-o", str(run_dir), *tiny_args()]) == 2
    assert "continue it with resume=True (--resume)" in capsys.readouterr().err


def test_a_config_half_written_by_a_killed_start_does_not_block_the_restart(tmp_path):
    """A kill during the atomic write of config.yaml leaves ``.config.yaml.XXXXXXXX.tmp``: the
    folder is still a run that stopped before its first checkpoint, and a fresh start clears
    it; a hidden temporary file of a name train does not write still blocks it."""
    from edgewise._io import MARKER
    from edgewise.training.trainer import _check_run_dir, _claim_run_dir

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / MARKER).write_text("run\n")
    (run_dir / "config.yaml").write_text("seed: 0\n")
    (run_dir / ".config.yaml.0ee8j2z8.tmp").write_text("seed:")
    assert _check_run_dir(run_dir, resume=False) is True
    _claim_run_dir(run_dir, True)
    assert sorted(p.name for p in run_dir.iterdir()) == [MARKER]

    (run_dir / ".notes.txt.0ee8j2z8.tmp").write_text("mine")
    with pytest.raises(FileExistsError, match="holds files a run does not write"):
        _check_run_dir(run_dir, resume=False)
    assert (run_dir / ".notes.txt.0ee8j2z8.tmp").read_text() == "mine"


def test_killed_checkpoint_write_is_cleaned_up_on_start(tmp_path, tiny_config, caplog):
    run_dir = train(tiny_config(), output_dir=tmp_path / "run")
    leftover = run_dir / "checkpoints" / "best.ckpt.tmp"
    leftover.write_bytes(b"\0" * 1000)  # what a kill during torch.save leaves
    with caplog.at_level(logging.WARNING, logger="edgewise"):
        train(tiny_config("trainer.max_epochs=2"), output_dir=run_dir, resume=True)
    assert not leftover.exists()
    assert f"removing {leftover}" in caplog.text and "checkpoint save that was killed" in caplog.text


# ---------------------------------------------------------------- results whole
_KILLER = textwrap.dedent("""
    import json, os, shutil, sys
    from pathlib import Path
    import torch
    torch.set_num_threads(1)
    from edgewise import _io
    from edgewise.training import evaluate

    run_dir, snaps = Path(sys.argv[1]), Path(sys.argv[2])
    # Fork before any computation in this process: each child evaluates and is killed
    # (os._exit: nothing cleans up) at its k-th write point.
    for k in range(100):
        pid = os.fork()
        if pid == 0:
            calls = iter(range(1000))
            _io._FAULT_HOOK = lambda name: os._exit(17) if next(calls) == k else None
            evaluate(run_dir, checkpoint="last", tolerances=[2.0], overlays=2)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        snap = snaps / str(k)
        snap.mkdir(parents=True)
        if (run_dir / "eval_test").exists():
            shutil.copytree(run_dir / "eval_test", snap / "eval_test")
        (snap / "listing.json").write_text(json.dumps(sorted(os.listdir(run_dir))))
        if code == 0:
            break
        assert code == 17, code
""")


def _result_set(folder: Path) -> str:
    """'old' or 'new' for a complete, consistent evaluation folder; fails on a mix."""
    summary = json.loads((folder / "summary.json").read_text())
    header = (folder / "per_case.csv").read_text().splitlines()[0].split(",")
    sweep = [c for c in header if "@" in c]
    tol = summary["tolerances_mm"]
    assert sweep == [f"nsd@{t:g}" for t in tol] + [f"boundary_f1@{t:g}" for t in tol], "mixed set"
    overlays = sorted(p.relative_to(folder).as_posix() for p in (folder / "overlays").glob("*"))
    assert overlays == sorted(summary["overlays"]), "overlays of another evaluation"
    version = {(1.0,): "old", (2.0,): "new"}[tuple(tol)]
    assert summary["checkpoint"].endswith({"old": "best.ckpt", "new": "last.ckpt"}[version])
    return version


@pytest.mark.slow
def test_eval_killed_at_each_write_point_leaves_old_or_new_results(tmp_path, tiny_config):
    run_dir = train(tiny_config("trainer.max_epochs=2"), output_dir=tmp_path / "run")
    evaluate(run_dir, tolerances=[1.0], overlays=1)
    snaps = tmp_path / "snaps"
    subprocess.run([sys.executable, "-c", _KILLER, str(run_dir), str(snaps)], check=True,
                   cwd=tmp_path, env={**os.environ, "OMP_NUM_THREADS": "1"})
    kills = sorted(snaps.iterdir(), key=lambda p: int(p.name))
    assert len(kills) >= 6  # per_case.csv, 2 overlays, summary.json, markers, swap
    states = []
    for snap in kills:
        assert (snap / "eval_test").is_dir(), snap.name  # the exchange never leaves a gap
        states.append(_result_set(snap / "eval_test"))
    assert states[0] == "old" and states[-1] == "new" and "new" in states[:-1]
    assert states == sorted(states, key=["old", "new"].index)  # old until the swap, then new
    # the run folder holds nothing else from the killed attempts once one finished
    final = json.loads((kills[-1] / "listing.json").read_text())
    assert [n for n in final if n.startswith(".eval_test")] == []


def test_result_files_respect_the_umask(tmp_path, tiny_config):
    previous = os.umask(0o022)
    try:
        run_dir = train(tiny_config(), output_dir=tmp_path / "run")
        evaluate(run_dir)
    finally:
        os.umask(previous)
    for name in ("config.yaml", "eval_test/summary.json", "eval_test/per_case.csv"):
        assert stat.S_IMODE((run_dir / name).stat().st_mode) == 0o644, name
    overlay = next((run_dir / "eval_test" / "overlays").glob("*.png"))
    assert stat.S_IMODE(overlay.stat().st_mode) == 0o644
    assert stat.S_IMODE((run_dir / "eval_test").stat().st_mode) == 0o755


# ---------------------------------------------------------------- threads
def _machine(monkeypatch, cores: int, load: float, omp: str | None = None) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)))
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    if omp is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", omp)


@pytest.mark.parametrize("cores, load, workers, expected", [
    (2, 4.8, 0, 1),    # the busy 2-core machine: one thread (8x faster than two there)
    (2, 0.0, 0, 2),    # the same machine idle
    (16, 3.2, 4, 9),   # 13 cores free, 4 of them for data workers
    (8, 0.0, 12, 1),   # more workers than cores: still one
])
def test_auto_threads_follow_cores_load_and_workers(monkeypatch, cores, load, workers, expected):
    _machine(monkeypatch, cores, load)
    n, why = resolve_num_threads("auto", workers)
    assert n == expected and f"{cores} cores" in why and f"{workers} data workers" in why


def test_auto_threads_keep_omp_num_threads_and_explicit_values(monkeypatch):
    _machine(monkeypatch, 8, 0.0, omp="3")
    assert resolve_num_threads("auto") == (None, "OMP_NUM_THREADS=3")
    assert resolve_num_threads(5)[0] == 5
    assert resolve_num_threads(None) == (None, "torch's default: trainer.num_threads is null")
    assert load_config()["trainer"]["num_threads"] == "auto"  # the default chooses


def test_shipped_configs_get_the_fast_thread_setting():
    for path in sorted((REPO / "configs").glob("*.yaml")):
        threads = load_config(path)["trainer"]["num_threads"]
        assert threads in ("auto", 1), path.name
    assert load_config(REPO / "configs" / "demo.yaml")["trainer"]["num_threads"] == 1


class _Threads(pl.Callback):
    seen: list[int] = []

    def on_train_epoch_start(self, trainer, module):
        self.seen.append(torch.get_num_threads())


def test_training_runs_on_the_auto_threads(tmp_path, tiny_config, monkeypatch, capsys):
    _machine(monkeypatch, 2, 4.8)
    torch.set_num_threads(2)
    probe = _Threads()
    probe.seen = []
    train(tiny_config(), output_dir=tmp_path / "run", callbacks=[probe])
    assert probe.seen == [1] and torch.get_num_threads() == 2  # restored afterwards
    assert "torch threads: 1 (auto: 2 cores, load 4.8, 0 data workers)" in capsys.readouterr().out


# ---------------------------------------------------------------- progress output
def test_no_terminal_prints_one_line_per_epoch(tmp_path, capsys, tiny_args):
    # progress bar on (the default); stdout here is not a terminal
    args = [a for a in tiny_args("trainer.max_epochs=3") if "enable_progress_bar" not in a]
    assert main(["train", "-o", str(tmp_path / "run"), *args]) == 0
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if ln.startswith("epoch ")]
    assert [ln.split()[1] for ln in lines] == ["1/3", "2/3", "3/3"]
    assert all("loss " in ln and "val/dice " in ln for ln in lines)
    assert "\r" not in out and "it/s" not in out


def test_no_progress_flag(tmp_path, capsys, monkeypatch, tiny_args):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    args = [a for a in tiny_args("trainer.max_epochs=2") if "enable_progress_bar" not in a]
    assert main(["train", "--no-progress", "-o", str(tmp_path / "run"), *args]) == 0
    out = capsys.readouterr().out
    assert [ln.split()[1] for ln in out.splitlines() if ln.startswith("epoch ")] == ["1/2", "2/2"]
    assert "it/s" not in out


def test_a_moved_run_folder_names_its_own_files_and_resumes(tmp_path, tiny_config, recwarn):
    cfg = tiny_config("trainer.max_epochs=2")
    train(cfg, output_dir=tmp_path / "built")
    os.rename(tmp_path / "built", tmp_path / "moved")  # as the demo moves its report in place
    run_dir = tmp_path / "moved"
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)
    states = [v for k, v in ckpt["callbacks"].items() if "ModelCheckpoint" in k]
    assert states and all(s["dirpath"] == "." for s in states)
    assert "built" not in repr(ckpt["callbacks"])
    best = torch.load(run_dir / "checkpoints" / "best.ckpt", weights_only=False)
    train(tiny_config("trainer.max_epochs=3"), output_dir=run_dir, resume=True)
    assert not [w for w in recwarn if "dirpath has changed" in str(w.message)]
    # the best score came back: best.ckpt is replaced only by a better epoch
    scores = [s["best_model_score"] for s in states if s["monitor"] == "val/dice"]
    new_best = torch.load(run_dir / "checkpoints" / "best.ckpt", weights_only=False)
    (state,) = [v for k, v in new_best["callbacks"].items() if "val/dice" in k]
    assert state["best_model_score"] >= scores[0]
    assert new_best["epoch"] == best["epoch"] or state["best_model_score"] > scores[0]


# ---------------------------------------------------------------- one writer per run folder
_HOLD = textwrap.dedent("""
    import sys, time
    from edgewise._io import folder_lock
    with folder_lock(sys.argv[1], "run folder"):
        print("held", flush=True)
        time.sleep(60)
""")


def _holder(folder: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", _HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_process_on_a_running_run_folder_is_refused_with_the_holders_pid(tmp_path, tiny_config, capsys,
                                                                                  tiny_args):
    run_dir = train(tiny_config(), output_dir=tmp_path / "run")
    before = (run_dir / "metrics.csv").read_bytes()
    holder = _holder(run_dir)  # stands for a training still running in the folder
    try:
        # once both processes ran and finished with exit 0, metrics.csv lost an epoch
        assert main(["train", "--resume", "-o", str(run_dir), "trainer.max_epochs=2"]) == 2
        err = capsys.readouterr().err
        assert f"run folder {run_dir} is in use by another edgewise process (PID {holder.pid})" in err
        assert (run_dir / "metrics.csv").read_bytes() == before
        # a fresh training into a new folder that another one is creating: the same answer,
        # not "not made by edgewise"
        new = tmp_path / "new"
        other = _holder(new)
        try:
            assert main(["train", "-o", str(new), *tiny_args()]) == 2
            assert f"(PID {other.pid})" in capsys.readouterr().err
        finally:
            other.kill()
            other.wait()
    finally:
        holder.kill()  # SIGKILL: the OS releases the lock, nothing stays stuck
        holder.wait()
    train(tiny_config("trainer.max_epochs=2"), output_dir=run_dir, resume=True)
    assert [line.split(",")[0] for line in (run_dir / "metrics.csv").read_text().splitlines()[1:]].count("1") >= 1


def test_a_refused_start_leaves_no_folder_behind(tmp_path, capsys, tiny_args):
    assert main(["train", "-o", str(tmp_path / "run"), *tiny_args("model.name=nonet")]) == 2
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "override, differs",
    [
        ("model.args.base_channels=8", "model.args.base_channels: 4 in the run, 8 now"),
        ("loss.terms=[{name: dice}]", "loss.terms"),
    ],
)
def test_resume_with_another_config_is_refused_before_anything_is_written(tmp_path, tiny_config, capsys,
                                                                          override, differs):
    # it failed on the state dict after rewriting config.yaml (the run could then neither
    # resume nor be evaluated), or recorded a loss the run never trained with
    run_dir = train(tiny_config(), output_dir=tmp_path / "run")
    files = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file() and p.name != ".edgewise.lock"}
    assert main(["train", "--resume", "-o", str(run_dir), override, "trainer.max_epochs=2"]) == 2
    err = capsys.readouterr().err
    assert f"cannot resume {run_dir}: the config differs" in err and differs in err
    assert "trainer.max_epochs" in err  # listed among the keys that may change
    assert {p: p.read_bytes() for p in files} == files
    # what may change on resume does
    assert main(["train", "--resume", "-o", str(run_dir), "trainer.max_epochs=2",
                 "trainer.num_threads=1"]) == 0
    assert "max_epochs: 2" in (run_dir / "config.yaml").read_text()



def test_a_run_saved_before_map_units_resumes_in_the_physical_units_it_trained(tmp_path, tiny_config, capsys):
    run_dir = train(tiny_config(), output_dir=tmp_path / "run")
    saved = run_dir / "config.yaml"
    text = saved.read_text()
    assert "map_units: voxel" in text
    saved.write_text("\n".join(line for line in text.splitlines() if "map_units" not in line) + "\n")
    # an explicit voxel resume would train other maps than the checkpoint did
    with pytest.raises(ValueError, match=r"loss.map_units: 'physical' in the run, 'voxel' now"):
        train(tiny_config("trainer.max_epochs=2"), output_dir=run_dir, resume=True)
    assert main(["train", "--resume", "-o", str(run_dir), "trainer.max_epochs=2"]) == 0
    assert "map_units: physical" in saved.read_text()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_a_gpu_asked_for_without_one_is_a_clear_error_before_anything_is_written(tmp_path, capsys, tiny_args):
    # it was Lightning's raw MisconfigurationException
    assert main(["train", "-o", str(tmp_path / "run"), *tiny_args("trainer.accelerator=gpu")]) == 2
    err = capsys.readouterr().err
    assert "trainer.accelerator: 'gpu' asked for, but torch" in err and "trainer.accelerator=cpu" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_ctrl_c_says_how_to_resume(tmp_path):
    import signal

    run_dir = tmp_path / "a run"  # a space: the printed command must be shell-quoted
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgewise", "train", "-o", str(run_dir), "trainer.max_epochs=500",
         "data.options={n: 8, n_val: 2, shape: [16, 16]}", "model.args={base_channels: 4, depth: 2}",
         "trainer.enable_progress_bar=false"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # as a terminal's Ctrl-C finds it: a test run started in the background of a
        # non-interactive shell inherits SIGINT ignored, and Python keeps it ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not (run_dir / "checkpoints" / "last.ckpt").is_file():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert f"continue with: edgewise train --resume -o '{run_dir}'" in err
