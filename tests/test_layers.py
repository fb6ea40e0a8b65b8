"""Layering: a package imports only packages of lower layers, and modules import in no circle.

Imports are read from the source with ``ast`` (those inside functions too, since a lazy
import is still a dependency), so the test needs none of the optional frameworks.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# package of edgewise -> layer; a package may import only packages of a lower layer
LAYERS: dict[str, int] = {
    "": 0,  # edgewise/__init__.py: the version only
    "_io": 0,
    "_core": 0,  # the input conventions maps, losses and metrics share
    "maps": 1,
    "losses": 2,
    "metrics": 2,
    "data": 2,
    "models": 2,
    "integrations": 3,
    "training": 3,
    "bench": 4,
    "cli": 5,
    "__main__": 6,
}


def _modules() -> dict[str, tuple[Path, bool]]:
    out = {}
    for path in sorted((SRC / "edgewise").rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return out


MODULES = _modules()


def _imports(name: str) -> set[str]:
    """The edgewise modules (or packages) that module ``name`` imports, anywhere in its body."""
    path, is_package = MODULES[name]
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            # ``from edgewise.bench import figures`` imports the module edgewise.bench.figures
            found.update(f"{module}.{a.name}" for a in node.names if f"{module}.{a.name}" in MODULES)
    return {m for m in found if m == "edgewise" or m.startswith("edgewise.")}


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_package_has_a_layer():
    assert {_package(m) for m in MODULES} == set(LAYERS)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_go_down_the_layers(name):
    own = _package(name)
    upward = sorted(m for m in _imports(name)
                    if _package(m) != own and LAYERS[_package(m)] >= LAYERS[own])
    assert upward == [], f"{name} (layer {LAYERS[own]}) imports {upward}"


@pytest.mark.parametrize("low", ["maps", "losses", "metrics", "_core"])
def test_core_packages_never_import_the_frameworks_layer(low):
    forbidden = ("edgewise.integrations", "edgewise.training", "edgewise.bench", "edgewise.cli")
    offending = {name: sorted(m for m in _imports(name) if m.startswith(forbidden))
                 for name in MODULES if _package(name) == low}
    assert {k: v for k, v in offending.items() if v} == {}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph`` (module -> modules it imports), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_cycle_finder_finds_a_circle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


@pytest.mark.parametrize("package", sorted(p for p in LAYERS if p and p != "__main__"))
def test_no_import_circle_between_modules_of_a_package(package):
    # a package's __init__ re-exports its modules: edges into it from its own modules are
    # the usual relative imports, not a circle in the code
    init = f"edgewise.{package}"
    members = {m for m in MODULES if m.startswith(init + ".")}
    # (``from . import trainers`` in a package's __init__ names the package itself: no edge)
    graph = {m: {i for i in _imports(m) if i in members and i != m} for m in members}
    assert _cycle(graph) is None, f"import circle in {package}: {' -> '.join(_cycle(graph) or [])}"
