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
