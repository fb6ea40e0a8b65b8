"""benchmarks/gpu_check.py: the parts that run without a GPU."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"


@pytest.fixture(scope="module")
def gc():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    yield mod
    del sys.modules[spec.name]


def test_parse_args_defaults_and_options(gc):
    a = gc.parse_args([])
    assert a.steps == ["tests", "maps", "losses", "metrics"]
    assert (a.repeats, a.budget, a.device, a.quick) == (5, 450.0, "cuda", False)
    a = gc.parse_args(["--quick", "--skip-tests", "--only", "maps", "tests", "--device", "cuda:1"])
    assert a.steps == ["maps"]  # --skip-tests wins over --only tests
    assert (a.repeats, a.device) == (1, "cuda:1")
    assert gc.parse_args(["--repeats", "3", "--budget", "60"]).budget == 60.0


@pytest.mark.parametrize("bad", [["--repeats", "0"], ["--budget", "-1"], ["--only", "gpu"]])
def test_parse_args_rejects(gc, bad, capsys):
    with pytest.raises(SystemExit) as err:
        gc.parse_args(bad)
    assert err.value.code == 2


def test_format_table(gc):
    rows = [
        gc.Row("maps", "2D 8x4x256^2", "signed_distance backend=cupy", 2.345, "CuPy", 9.38, "ok"),
        gc.Row("losses", "3D", "boundary", 123.4),
        gc.Row("tests", "pytest -m cuda", "all CUDA tests", 51234.0, note="21 passed in 50s"),
        gc.Row("maps", "3D", "backend=cupy", note="CuPy not installed"),
    ]
    text = gc.format_table(rows, "NVIDIA H200 (139 GiB), torch 2.13.0")
    lines = text.splitlines()
    assert lines[0] == "#### NVIDIA H200 (139 GiB), torch 2.13.0"
    assert lines[2].startswith("| step | case | edgewise | ms | reference | ref ms | ref / edgewise |")
    assert lines[4] == "| maps | 2D 8x4x256^2 | signed_distance backend=cupy | 2.35 | CuPy | 9.38 | 4.0x | ok |"
    assert lines[5] == "| losses | 3D | boundary | 123 |  |  |  |  |"
    assert lines[6] == "| tests | pytest -m cuda | all CUDA tests | 51234 |  |  |  | 21 passed in 50s |"
    assert lines[7] == "| maps | 3D | backend=cupy |  |  |  |  | CuPy not installed |"
    assert all(line.count("|") == 9 for line in lines[2:])


def test_row_ratio(gc):
    assert gc.Row("a", "b", "c", 2.0, ref_ms=5.0).ratio == 2.5
    assert gc.Row("a", "b", "c", None, ref_ms=5.0).ratio is None
    assert gc.Row("a", "b", "c", 2.0).ratio is None


def test_without_cuda_exits_cleanly(gc, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gc.main([]) == 0
    out = capsys.readouterr().out
    assert out.strip() == gc.NO_CUDA
    assert "no CUDA device" in out


@pytest.mark.skipif(torch.cuda.is_available(), reason="with CUDA the script runs the whole check")
def test_script_without_cuda():
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0
    assert "no CUDA device" in done.stdout
    assert done.stderr == ""
