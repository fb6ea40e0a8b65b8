"""Exact, fast distance maps on CPU and GPU for boundary-aware losses and metrics."""

from __future__ import annotations

from ._edt import available_backends
from .distance import (
    as_one_hot,
    boundary_set,
    edt,
    inside_distance,
    signed_distance,
    unsigned_distance,
)

__all__ = [
    "available_backends",
    "as_one_hot",
    "boundary_set",
    "edt",
    "inside_distance",
    "signed_distance",
    "unsigned_distance",
]
