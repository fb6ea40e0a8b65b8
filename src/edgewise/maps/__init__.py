"""Exact, fast distance maps on CPU and GPU for boundary-aware losses and metrics, and exact
skeletons for centreline losses and metrics."""

from __future__ import annotations

from ._edt import available_backends
from .cache import MapCache
from .context import MapContext, shared_maps
from .contour import soft_contour
from .distance import (
    as_one_hot,
    boundary_set,
    edt,
    inside_distance,
    signed_distance,
    unsigned_distance,
)
from .penalty import penalty_map, rrw_map
from .skeleton import skeleton, skeleton_tube

__all__ = [
    "MapCache",
    "MapContext",
    "available_backends",
    "as_one_hot",
    "boundary_set",
    "edt",
    "inside_distance",
    "penalty_map",
    "rrw_map",
    "shared_maps",
    "signed_distance",
    "skeleton",
    "skeleton_tube",
    "soft_contour",
    "unsigned_distance",
]
