"""Segmentation metrics that agree with the trusted references.

Functional metrics take one-hot prediction and target ``(B, C, *spatial)`` (2D or 3D, bool or
0/1, tensors or numpy arrays) and return ``(B, C)`` float32 tensors on the input's device.
The default surface model is google-deepmind/surface-distance's; options reproduce MONAI and
medpy. Definitions, options and the empty-mask policy: ``docs/metrics.md``.
"""

from __future__ import annotations

from .collection import METRIC_NAMES, SegmentationMetrics
from .convert import one_hot_from_labels, one_hot_from_logits
from .distance import (
    SurfaceDistances,
    average_surface_distance,
    boundary_f1,
    hausdorff_distance,
    perimeter_error,
    surface_dice,
    surface_distances,
)
from .overlap import dice, iou

__all__ = [
    "METRIC_NAMES",
    "SegmentationMetrics",
    "SurfaceDistances",
    "average_surface_distance",
    "boundary_f1",
    "dice",
    "hausdorff_distance",
    "iou",
    "one_hot_from_labels",
    "one_hot_from_logits",
    "perimeter_error",
    "surface_dice",
    "surface_distances",
]
