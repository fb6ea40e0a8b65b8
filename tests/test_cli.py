from __future__ import annotations

import os
import subprocess
import sys

import pytest

from edgewise import __version__
from edgewise.cli import COMMANDS, build_parser, main


def test_every_command_is_registered() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert sorted(sub.choices) == sorted(COMMANDS)


def test_no_command_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "demo" in capsys.readouterr().out


def test_console_entry_point_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "edgewise", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"edgewise {__version__}"


def test_a_closed_pipe_ends_quietly() -> None:
    """`edgewise config schema | head -1`: the reader leaving early is no traceback."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone before the first write: every write fails (EPIPE)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "edgewise", "config", "schema"],
            stdout=write_end, stderr=subprocess.PIPE, timeout=120,
        )
    finally:
        os.close(write_end)
    err = proc.stderr.decode()
    assert proc.returncode == 141, err
    assert "Traceback" not in err and "BrokenPipeError" not in err


def test_a_full_or_read_only_disk_is_a_message_not_a_traceback(monkeypatch, capsys):
    import errno

    import edgewise.training.commands.config as config_command

    def full(args):
        raise OSError(errno.ENOSPC, "No space left on device", "/data/runs/x/checkpoints/last.ckpt")

    monkeypatch.setattr(config_command, "run", full)
    assert main(["config", "schema"]) == 2
    err = capsys.readouterr().err
    assert "edgewise config: error: cannot write '/data/runs/x/checkpoints/last.ckpt': No space left on device" in err
    assert "the disk is full" in err

    def other(args):
        raise OSError(errno.ECONNRESET, "reset")

    monkeypatch.setattr(config_command, "run", other)
    with pytest.raises(ConnectionResetError):  # not a disk problem: not ours to explain
        main(["config", "schema"])
