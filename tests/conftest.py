"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def shared_data() -> Path | None:
    env = os.environ.get("EDGEWISE_SHARED_DATA")
    # the repository sits next to shared/ (../shared/data from its root)
    root = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"
    return root.resolve() if root.is_dir() else None


@pytest.fixture
def shared() -> Path:
    root = shared_data()
    if root is None:
        pytest.skip("shared data folder (../shared/data or $EDGEWISE_SHARED_DATA) is absent")
    return root


@pytest.fixture(autouse=True)
def _one_torch_thread():
    # The tensors of unit tests are tiny: a second thread gains nothing, and on a busy shared
    # CPU spinning OpenMP threads made single tests (a 3D float64 gradcheck) tens of times
    # slower. Tests of thread handling set and check their own counts inside this.
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
