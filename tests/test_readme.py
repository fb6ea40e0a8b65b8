"""The README's code must run as printed: users copy it first."""

from __future__ import annotations

import re
from pathlib import Path

import torch

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_readme_has_two_quick_start_commands() -> None:
    text = README.read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.findall(r"```bash\n(.*?)```", section, re.S)[0]
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    assert commands == ["edgewise demo", "pytest"]
    ci = (README.parent / ".ci" / "run").read_text()
    assert ci.rstrip().splitlines()[-1] == "python -m pytest"


def test_readme_python_example_runs() -> None:
    blocks = _python_blocks()
    assert blocks, "README lost its Python example"
    namespace: dict[str, object] = {}
    exec(compile(blocks[0], str(README), "exec"), namespace)
    value = namespace["value"]
    assert isinstance(value, torch.Tensor) and torch.isfinite(value)
    logits = namespace["logits"]
    assert logits.grad is not None and torch.isfinite(logits.grad).all()
    # one step() of StealWeight moved 0.01 from the regional to the boundary term
    assert namespace["loss"].weights == [0.99, 0.02]
