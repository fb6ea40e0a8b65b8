from __future__ import annotations

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
