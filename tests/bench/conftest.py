"""Fixtures shared by the bench tests."""

from __future__ import annotations

import pytest

from .hand_bench import make_scored_bench


@pytest.fixture
def scored_bench(tmp_path):
    """``(bench folder, values)`` of :func:`tests.bench.hand_bench.make_scored_bench`."""
    return make_scored_bench(tmp_path)
