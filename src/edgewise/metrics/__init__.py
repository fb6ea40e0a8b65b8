"""Segmentation metrics that agree with the trusted references.

Functional metrics take one-hot prediction and target ``(B, C, *spatial)`` (2D or 3D, bool or
0/1, tensors or numpy arrays) and return ``(B, C)`` float32 tensors on the input's device.
The default surface model is google-deepmind/surface-distance's; options reproduce MONAI and
medpy. Definitions, options and the empty-mask policy: ``docs/metrics.md``.

Every metric's name, report label and direction of better is in
:mod:`edgewise.metrics.registry` (:data:`METRIC_SPECS`). The metric functions and
:class:`SegmentationMetrics` are imported on first use, so that the run schema and the bench
reports, which read the registry, load without torch.
"""

from __future__ import annotations

from edgewise._core.lazy import lazy_attributes
from typing import TYPE_CHECKING

from .registry import METRIC_NAMES, METRIC_SPECS, MetricSpec, metric_spec

if TYPE_CHECKING:
    from .collection import SegmentationMetrics
    from .convert import one_hot_from_labels, one_hot_from_logits
    from .distance import (
        SurfaceDistances,
        average_surface_distance,
        boundary_f1,
        hausdorff_distance,
        surface_dice,
        surface_distances,
    )
    from .overlap import dice, iou
    from .perimeter import perimeter_error
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
    "METRIC_SPECS",
    "CenterlineCounts",
    "MetricSpec",
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
    "metric_spec",
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

# public name -> the module of this package that defines it (imported on first use)
_WHERE = {
    "SegmentationMetrics": "collection",
    "one_hot_from_labels": "convert",
    "one_hot_from_logits": "convert",
    "SurfaceDistances": "distance",
    "average_surface_distance": "distance",
    "boundary_f1": "distance",
    "hausdorff_distance": "distance",
    "perimeter_error": "perimeter",
    "surface_dice": "distance",
    "surface_distances": "distance",
    "dice": "overlap",
    "iou": "overlap",
    "accuracy": "pixel",
    "confusion": "pixel",
    "f1": "pixel",
    "roc_auc": "pixel",
    "sensitivity": "pixel",
    "specificity": "pixel",
    "CenterlineCounts": "topology",
    "betti_error": "topology",
    "betti_numbers": "topology",
    "centerline_counts": "topology",
    "cldice": "topology",
    "topology_precision": "topology",
    "topology_sensitivity": "topology",
}


__getattr__, __dir__ = lazy_attributes(__name__, _WHERE, __all__)
