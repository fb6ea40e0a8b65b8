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
from .pixel import accuracy, confusion, f1, roc_auc, sensitivity, specificity
from .topology import (
    CenterlineCounts,
    betti_error,
    betti_numbers,
    centerline_counts,
    cldice,
    topology_precision,
    topology_sensitivity,
)

__all__ = [
    "METRIC_NAMES",
    "CenterlineCounts",
    "SegmentationMetrics",
    "SurfaceDistances",
    "accuracy",
    "average_surface_distance",
    "betti_error",
    "betti_numbers",
    "boundary_f1",
    "centerline_counts",
    "cldice",
    "confusion",
    "dice",
    "f1",
    "hausdorff_distance",
    "iou",
    "one_hot_from_labels",
    "one_hot_from_logits",
    "perimeter_error",
    "roc_auc",
    "sensitivity",
    "specificity",
    "surface_dice",
    "surface_distances",
    "topology_precision",
    "topology_sensitivity",
]
