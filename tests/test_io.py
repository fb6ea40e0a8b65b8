"""Safe writes: file modes, folders edgewise did not make, result folders swapped in whole."""

from __future__ import annotations

import logging
import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from edgewise import _io
from edgewise._io import MARKER, atomic_leftover, atomic_write_text, check_dir, claim_dir, owner_kind, staged_dir

USER_BYTES = b"my notes \x00\xff\n"


def _user_file(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    f = folder / "notes.txt"
    f.write_bytes(USER_BYTES)
    return f


@pytest.fixture
def umask():
    def set_mask(mask: int) -> None:
        os.umask(mask)

    previous = os.umask(0o022)
    yield set_mask
    os.umask(previous)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_write_respects_the_umask(tmp_path, umask, mask, mode):
    umask(mask)
    path = atomic_write_text(tmp_path / "result.json", "{}\n")
    assert stat.S_IMODE(path.stat().st_mode) == mode  # as open(path, "w") gives
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    assert stat.S_IMODE(plain.stat().st_mode) == mode


def test_claim_refuses_a_folder_edgewise_did_not_make(tmp_path):
    user = _user_file(tmp_path / "mine")
    with pytest.raises(FileExistsError, match="not made by edgewise.*choose a new or empty folder"):
        claim_dir(tmp_path / "mine", "run")
    assert user.read_bytes() == USER_BYTES and sorted(os.listdir(tmp_path / "mine")) == ["notes.txt"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError, match="is a file"):
        check_dir(tmp_path / "file", "run")


def test_claim_takes_new_empty_own_and_adopted_folders(tmp_path):
    assert owner_kind(claim_dir(tmp_path / "new" / "deeper", "eval")) == "eval"
    (tmp_path / "empty").mkdir()
    assert owner_kind(claim_dir(tmp_path / "empty", "eval")) == "eval"
    claim_dir(tmp_path / "empty", "eval")  # its own folder again
    with pytest.raises(FileExistsError, match="is an edgewise eval folder"):
        claim_dir(tmp_path / "empty", "bench")  # not for another kind of result
    old = tmp_path / "old"
    (old / "checkpoints").mkdir(parents=True)
    claim_dir(old, "run", adopt=lambda d: (d / "checkpoints").is_dir())
    assert owner_kind(old) == "run"


def _write_result(folder: Path, version: str) -> None:
    atomic_write_text(folder / "a.txt", version)
    (folder / "sub").mkdir()
    atomic_write_text(folder / "sub" / "b.txt", version)


def _version(target: Path) -> str | None:
    """The version of a complete result set, None when absent; fails on a mixed set."""
    if not target.exists():
        return None
    a, b = (target / "a.txt").read_text(), (target / "sub" / "b.txt").read_text()
    assert a == b, f"mixed result set: {a} and {b}"
    assert sorted(p.name for p in target.iterdir()) == [MARKER, "a.txt", "sub"]
    return a


def test_staged_dir_replaces_its_own_folder_whole(tmp_path):
    target = tmp_path / "results"
    with staged_dir(target, "eval") as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".results.partial-")
        assert not target.exists()
        _write_result(tmp, "v1")
    assert _version(target) == "v1"
    with staged_dir(target, "eval") as tmp:
        _write_result(tmp, "v2")
    assert _version(target) == "v2"
    assert sorted(os.listdir(tmp_path)) == ["results"]  # no temporary folder left
    with pytest.raises(RuntimeError), staged_dir(target, "eval") as tmp:
        _write_result(tmp, "v3")
        raise RuntimeError("failed evaluation")
    assert _version(target) == "v2" and sorted(os.listdir(tmp_path)) == ["results"]


def test_staged_dir_never_replaces_user_files(tmp_path):
    user = _user_file(tmp_path / "results")
    with pytest.raises(FileExistsError, match="not made by edgewise"), \
            staged_dir(tmp_path / "results", "eval"):
        pytest.fail("the block must not run")
    assert user.read_bytes() == USER_BYTES
    # a file the user added to an edgewise result folder later is not deleted either
    with staged_dir(tmp_path / "ours", "eval") as tmp:
        _write_result(tmp, "v1")
    added = tmp_path / "ours" / "sub" / "notes.txt"
    added.write_bytes(USER_BYTES)
    with pytest.raises(FileExistsError, match=r"holds files edgewise did not write \(sub/notes.txt\)"), \
            staged_dir(tmp_path / "ours", "eval"):
        pytest.fail("the block must not run")
    assert added.read_bytes() == USER_BYTES


def test_staged_dir_refuses_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileExistsError, match="current folder"), staged_dir(Path("."), "demo"):
        pytest.fail("the block must not run")
    with staged_dir(tmp_path / "report", "demo") as tmp:  # a folder edgewise may replace...
        _write_result(tmp, "v1")
    monkeypatch.chdir(tmp_path / "report" / "sub")  # ...but not while a shell is inside it
    with pytest.raises(FileExistsError, match="current folder or holds it"), \
            staged_dir(tmp_path / "report", "demo"):
        pytest.fail("the block must not run")
    assert _version(tmp_path / "report") == "v1"


def _points(run) -> list[str]:
    seen: list[str] = []
    _io._FAULT_HOOK = seen.append
    try:
        run()
    finally:
        _io._FAULT_HOOK = None
    return seen


def _replace(target: Path, version: str) -> None:
    with staged_dir(target, "eval") as tmp:
        _write_result(tmp, version)


@pytest.mark.parametrize("exchange", [True, False], ids=["exchange", "two-renames"])
def test_killed_at_each_write_point_leaves_old_or_new_whole(tmp_path, monkeypatch, caplog, exchange):
    """A child process is killed (os._exit: no cleanup runs) at each write point of a
    replacement; the folder holds the old set or the new one, and the next run cleans up."""
    if not exchange:
        monkeypatch.setattr(_io, "_exchange", lambda a, b: False)
    target = tmp_path / "results"
    _replace(target, "old")
    points = _points(lambda: _replace(target, "old"))
    assert "swap:exchange" in points and any(p.startswith("write:") for p in points)
    if not exchange:
        assert "swap:between" in points
    for k in range(len(points)):
        _replace(target, "old")
        pid = os.fork()
        if pid == 0:  # the child: replace the result set, killed at the k-th write point
            calls = iter(range(len(points)))
            _io._FAULT_HOOK = lambda name, calls=calls, k=k: os._exit(17) if next(calls) == k else None
            try:
                _replace(target, "new")
            finally:
                os._exit(0)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 17
        state = _version(target)
        assert state in ("old", "new", None), points[k]
        assert state is not None or points[k] == "swap:between"  # only while renaming
        leftovers = [p for p in os.listdir(tmp_path) if p != "results"]
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="edgewise"):
            _replace(target, "next")  # the next run cleans up and says so
        assert _version(target) == "next" and os.listdir(tmp_path) == ["results"], points[k]
        for name in leftovers:
            assert name in caplog.text


def test_two_processes_building_one_result_folder_the_second_is_refused(tmp_path):
    # two evaluations (or reports) into one folder each built a whole result and the last
    # one won; now the second is refused at once with the holder's PID
    import subprocess
    import sys
    import textwrap

    target = tmp_path / "results"
    hold = textwrap.dedent(f"""
        import time
        from edgewise._io import staged_dir
        with staged_dir({str(target)!r}, "eval") as out:
            (out / "a.txt").write_text("first")
            print("held", flush=True)
            time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", hold], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        with pytest.raises(_io.FolderInUseError, match=f"is being written by another edgewise process "
                                                         f"\\(PID {proc.pid}\\)"):
            with staged_dir(target, "eval"):
                raise AssertionError("must not be reached")
    finally:
        proc.kill()  # SIGKILL: the lock goes with it
        proc.wait()
    with staged_dir(target, "eval") as out:
        (out / "a.txt").write_text("second")
    assert (target / "a.txt").read_text() == "second"
    assert sorted(os.listdir(tmp_path)) == ["results"]  # the killed holder's leftovers are gone


def test_atomic_leftover_names_the_file_a_killed_write_was_writing(tmp_path):
    """SIGKILL (and SIGTERM's default) skip atomic_write's clean-up: what stays behind is
    recognised as that file's, and nothing else is."""
    code = textwrap.dedent(f"""
        import os, signal
        from edgewise._io import atomic_write
        def write(f):
            f.write(b"half")
            f.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        atomic_write({str(tmp_path / "provenance.json")!r}, write)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    (left,) = tmp_path.iterdir()
    assert left.read_bytes() == b"half"
    assert atomic_leftover(left.name) == "provenance.json"
    assert not (tmp_path / "provenance.json").exists()


@pytest.mark.parametrize("name, target", [
    (".provenance.json.0ee8j2z8.tmp", "provenance.json"),
    (".config.yaml.a_b1c2d3.tmp", "config.yaml"),
    (".a.b.c.12345678.tmp", "a.b.c"),
    ("provenance.json", None),
    (".provenance.json.tmp", None),          # no random part
    (".provenance.json.0ee8j2z.tmp", None),  # seven characters, not mkstemp's eight
    (".notes.ABCDEFGH.tmp", None),           # mkstemp draws lower case, digits and _
    ("notes.0ee8j2z8.tmp", None),            # not hidden
    ("best.ckpt.tmp", None),                 # the checkpoint saver's own temporary name
])
def test_atomic_leftover_matches_only_mkstemp_names(name, target):
    assert atomic_leftover(name) == target
