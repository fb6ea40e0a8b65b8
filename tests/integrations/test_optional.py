"""Optional integrations (nnU-Net v2, Ray) never break imports or test collection where absent.

Each check runs in a fresh interpreter in which those packages are hidden (``None`` in
``sys.modules``: ``import`` raises ``ModuleNotFoundError`` and ``importlib.util.find_spec``
returns None, as on a machine without them), so it holds whether or not they are installed
here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# what the README's test install (`.[dev]`) does not bring
OPTIONAL = ("nnunetv2", "dynamic_network_architectures", "batchgenerators", "batchgeneratorsv2",
            "acvl_utils", "ray")
_HIDE = f"import sys\nfor _m in {OPTIONAL!r}:\n    sys.modules[_m] = None\n"


def _run_hidden(code: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", _HIDE + code], capture_output=True, text=True, cwd=REPO,
        env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=timeout, check=False,
    )


def test_hiding_works() -> None:
    # the checks below would prove nothing if the packages stayed importable
    r = _run_hidden(
        "import importlib.util\n"
        f"for m in {OPTIONAL!r}:\n"
        "    assert importlib.util.find_spec(m) is None, m\n"
        "    try:\n"
        "        __import__(m)\n"
        "    except ModuleNotFoundError:\n"
        "        pass\n"
        "    else:\n"
        "        raise AssertionError(m + ' imported')\n"
        "print('hidden')\n"
    )
    assert r.returncode == 0 and "hidden" in r.stdout, r.stderr


def test_every_module_imports_without_optional_packages() -> None:
    r = _run_hidden(
        "import importlib, pkgutil, edgewise\n"
        "names = [m.name for m in pkgutil.walk_packages(edgewise.__path__, 'edgewise.')\n"
        "         if not m.name.endswith('.__main__')]  # runs a command line when imported\n"
        "for name in names:\n"
        "    importlib.import_module(name)\n"
        "print(len(names), 'modules')\n"
        f"for m in {OPTIONAL!r}:\n"
        "    assert sys.modules[m] is None, m\n"
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert int(r.stdout.split()[0]) > 40  # the walk really found the package's modules


def test_nnunet_trainer_without_nnunet_says_how_to_install() -> None:
    r = _run_hidden(
        "from edgewise.integrations.nnunet import find_trainer\n"
        "from edgewise.integrations.nnunet.plugin import edgewise_trainers\n"
        "cls = find_trainer('nnUNetTrainerBoundary')\n"
        "assert cls is edgewise_trainers.nnUNetTrainerBoundary and cls.edgewise_loss == 'boundary'\n"
        "try:\n"
        "    cls({}, '2d', 0, {})\n"
        "except ImportError as e:\n"
        "    print('ImportError:', e)\n"
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "ImportError: the edgewise nnU-Net trainers need nnU-Net v2" in r.stdout
    assert "docs/integrations/nnunet.md" in r.stdout


def test_doctest_collection_and_optional_tests_skip_with_reason() -> None:
    # The README's `pytest` collects src/edgewise with --doctest-modules (importing every
    # module); the optional integrations' tests skip, saying why.
    r = _run_hidden(
        "import pytest\n"
        "sys.exit(pytest.main(['-q', '-rs', '-p', 'no:cacheprovider', 'src/edgewise',\n"
        "    'tests/integrations/test_nnunet.py', 'tests/bench/test_runner.py::test_ray_backend',\n"
        "    '-k', 'nnunet or trainer or ray']))\n"
    )
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    assert "nnunetv2 is not installed" in out and "could not import 'ray'" in out, out[-4000:]
