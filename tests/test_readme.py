"""The README's code must run as printed: users copy it first."""

from __future__ import annotations

import re
from pathlib import Path

import torch

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def _bash_commands(text: str, heading: str | None = None) -> list[str]:
    """Commands of the bash blocks (of the section under ``heading``), comments dropped and
    continuation lines joined."""
    if heading is not None:
        text = text.split(heading, 1)[1].split("\n## ", 1)[0]
    joined = "\n".join(re.findall(r"```bash\n(.*?)```", text, re.S)).replace("\\\n", " ")
    return [" ".join(line.split("#")[0].split()) for line in joined.splitlines()
            if line.split("#")[0].strip()]


def _ci_commands(name: str = "run") -> list[str]:
    text = (README.parent / ".ci" / name).read_text().replace("\\\n", " ")
    return [" ".join(line.split()) for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def _pip_args(command: str) -> list[str]:
    """``pip install`` arguments without the options that do not choose what is installed."""
    words = command.replace('"', "").split()[2:]
    out, skip = [], False
    for w in words:
        if skip:
            skip = False
        elif w in ("-c", "--constraint"):
            skip = True
        elif w not in ("-q", "--quiet") and not w.startswith("${"):  # "${c[@]}": the pins
            out.append(w)
    return out


def test_readme_has_two_quick_start_commands() -> None:
    assert _bash_commands(README.read_text(), "## Quick start") == ["edgewise demo", "pytest"]
    # .ci/run ends with the README's test command, as printed (not a variant of it)
    assert _ci_commands()[-2:] == ["pytest", 'step "done"']


def test_ci_installs_as_the_readme_and_the_docs_say() -> None:
    # .ci/run builds its environment with .ci/install.sh, pinned by the committed lock
    assert '.ci/install.sh "$work/venv" .ci/constraints.txt' in _ci_commands()
    ci = [_pip_args(c) for c in _ci_commands("install.sh") if c.startswith("pip install")]
    readme = [_pip_args(c) for c in _bash_commands(README.read_text(), "## Install")]
    nnunet = [_pip_args(c) for c in _bash_commands(
        (README.parent / "docs" / "integrations" / "nnunet.md").read_text(),
        "## Installing nnU-Net v2 without torchvision")]
    assert readme == [["torch==2.13.0"], ["-e", ".[dev]"]]
    assert len(nnunet) == 2 and "--no-deps" in nnunet[1] and "nnunetv2==2.8.1" in nnunet[1]
    # torch first, then edgewise; then Ray (docs/bench.md) and nnU-Net, in the docs' words
    assert ci == [*readme, ["-e", ".[ray]"], *nnunet]
    assert 'pip install "edgewise[ray]"' in (README.parent / "docs" / "bench.md").read_text()
    # the run builds its own environment before installing anything
    commands = _ci_commands("install.sh")
    venv = next(i for i, c in enumerate(commands) if "-m venv" in c)
    assert venv < next(i for i, c in enumerate(commands) if c.startswith("pip install"))


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


def test_the_ci_lock_pins_every_package_torch_included() -> None:
    import pytest

    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    lines = [line.strip() for line in (README.parent / ".ci" / "constraints.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    pins = dict(line.split("==", 1) for line in lines)
    assert all(re.fullmatch(r"[A-Za-z0-9_.\-]+==[A-Za-z0-9_.+!\-]+", line) for line in lines), lines
    assert pins["torch"].startswith("2.13.0")
    project = tomllib.loads((README.parent / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"])
    for extra in ("train", "dev", "ray"):
        wanted += [r for r in project["optional-dependencies"][extra] if not r.startswith("edgewise")]
    norm = {re.sub(r"[-_.]+", "-", name).lower() for name in pins}
    missing = [r for r in wanted if re.sub(r"[-_.]+", "-", re.split(r"[<>=!~\[ ]", r)[0]).lower() not in norm]
    assert not missing, f"the lock misses {missing}: run tools/refresh-lock"
