"""Tests laid out like the code: every public module of a package under ``src/edgewise`` has its
own test file, ``tests/<package>/test_<module>.py``, and every folder under ``tests/`` is a
package (it has ``__init__.py``, so files of one name in two folders never collide).

A public module is a ``.py`` file or a sub-package of ``src/edgewise/<package>/`` whose name does
not start with ``_`` (``__init__``, ``__main__`` and private helpers are tested through the
modules that use them). ``commands/`` is left out: it is the CLI's glue, one module per
subcommand, tested through ``edgewise.cli`` in ``tests/test_cli.py`` and the files of the
modules each subcommand calls. Other files in a test folder hold what crosses modules (the
whole loss registry's conventions, hostile inputs, empty inputs) or one aspect of a module
(``test_compound_shared_maps.py``) and are named for it.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "edgewise"
TESTS = ROOT / "tests"

#: folders of a package that are not modules of their own
NOT_MODULES = {"commands", "__pycache__"}

def public_modules() -> list[str]:
    """``package/module`` for every public module of every package under ``src/edgewise``."""
    out = []
    for package in sorted(p for p in SRC.iterdir() if (p / "__init__.py").is_file()):
        for entry in sorted(package.iterdir()):
            name = entry.stem if entry.suffix == ".py" else entry.name
            if name.startswith("_") or name in NOT_MODULES:
                continue
            if entry.suffix == ".py" or (entry.is_dir() and (entry / "__init__.py").is_file()):
                out.append(f"{package.name}/{name}")
    return out


def _test_file(module: str) -> Path:
    package, name = module.split("/")
    return TESTS / package / f"test_{name}.py"


def test_the_module_list_sees_the_packages():
    modules = public_modules()
    # a wrong root or filter would make the tests below pass on nothing
    for known in ("losses/boundary", "maps/distance", "metrics/registry", "training/schema",
                  "integrations/nnunet", "_core/spacing", "bench/runner"):
        assert known in modules
    assert not any(m.split("/")[1].startswith("_") or "commands" in m for m in modules)


def test_every_public_module_has_its_test_file():
    missing = [m for m in public_modules() if not _test_file(m).is_file()]
    assert not missing, (
        "public modules without tests/<package>/test_<module>.py: "
        + ", ".join(str(_test_file(m).relative_to(ROOT)) for m in missing)
    )


def test_every_test_folder_is_a_package():
    folders = [
        d for d in sorted(TESTS.rglob("*"))
        if d.is_dir()
        and not any(part == "__pycache__" or part.startswith(".") for part in d.relative_to(TESTS).parts)
    ]
    assert folders, "no test folders found"
    missing = [str(d.relative_to(ROOT)) for d in folders if not (d / "__init__.py").is_file()]
    assert not missing, f"test folders without __init__.py: {missing}"
