"""Docstring examples run as tests (``--doctest-modules`` over ``src/edgewise``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _doctest_globals(doctest_namespace: dict[str, object]) -> None:
    # examples assume the imports a user has at the top of their script
    doctest_namespace["torch"] = torch
    doctest_namespace["np"] = np
    torch.manual_seed(0)
