"""The metric registry: every metric's name, report label, direction and role, in one place.

:class:`SegmentationMetrics <edgewise.metrics.SegmentationMetrics>`, ``edgewise eval`` /
``edgewise score`` (which columns every ``per_case.csv`` has, which metrics
``evaluation.metrics`` accepts, which ones take a tolerance sweep), the run schema, the bench
report, its figures, ``edgewise overview`` and ``edgewise select`` all read this table
instead of keeping a list of their own; ``tests/metrics/test_registry.py`` checks that they
agree with it.

The module needs neither torch nor numpy, so the configuration checks and the reports can
read it without loading the metric code.

Example:
    >>> spec = metric_spec("hd95")
    >>> spec.label, spec.higher_is_better, spec.unit
    ('HD95', False, 'mm')
    >>> [name for name, s in METRIC_SPECS.items() if s.needs_tolerance]
    ['nsd', 'boundary_f1']
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, get_args

__all__ = [
    "EVALUATED_METRICS",
    "EXTRA_METRICS",
    "HIGHER_IS_BETTER",
    "METRIC_NAMES",
    "METRIC_SPECS",
    "SWEEP_METRICS",
    "MetricKind",
    "MetricName",
    "MetricSpec",
    "metric_spec",
]

#: the names :class:`~edgewise.metrics.SegmentationMetrics` accepts, in the registry's order
#: (a type for static checkers; ``tests/metrics/test_registry.py`` keeps it equal to the
#: names of :data:`METRIC_SPECS`)
MetricName = Literal[
    "dice", "iou", "hd", "hd95", "assd", "masd", "nsd", "boundary_f1", "perimeter_error",
    "cldice", "topology_precision", "topology_sensitivity", "betti0_error", "betti1_error",
    "sensitivity", "specificity", "accuracy", "f1", "auc",
]

#: what a metric is computed from, which is how ``SegmentationMetrics`` groups its work:
#: ``overlap`` (voxel counts of the two masks), ``distance`` (one nearest-surface search
#: shared by all of them), ``perimeter`` (contour lengths), ``centerline`` (skeletons),
#: ``betti`` (connected components and holes), ``pixel`` (the confusion counts inside the
#: evaluation mask) and ``ranking`` (class probabilities)
MetricKind = Literal["overlap", "distance", "perimeter", "centerline", "betti", "pixel", "ranking"]


@dataclass(frozen=True)
class MetricSpec:
    """One metric of the registry.

    Attributes:
        name: the metric's name: a ``SegmentationMetrics`` name and a ``per_case.csv``
            column.
        label: its short name in reports, tables and figures (``"HD95"``, ``"BF1"``).
        higher_is_better: the direction of better, for the ▲/▼ marks, the arrows of the
            report's headers, the order of the worst cases and ``edgewise select``.
        kind: what it is computed from (:data:`MetricKind`).
        unit: ``"mm"`` for distances (the length unit of the spacing; pixels without one),
            ``"mm|mm²"`` for a perimeter (2D) or surface area (3D), ``"count"`` for numbers
            of components, ``""`` for scores in [0, 1].
        needs_tolerance: it takes a distance tolerance in mm (NSD, boundary F1): the
            ``tolerance`` of ``SegmentationMetrics`` and ``evaluation.tolerance``.
        needs_probabilities: it ranks class probabilities (AUC), not masks.
        evaluated: a column of every ``per_case.csv`` that ``edgewise eval`` and
            ``edgewise score`` write (the report's first table).
        extra: scored only on request (``evaluation.metrics``, ``--metrics``): the topology
            and pixel metrics, in the report's last table.
        digits: decimals shown in reports: 3 for scores, 2 for distances and errors.
    """

    name: str
    label: str
    higher_is_better: bool
    kind: MetricKind
    unit: str = ""
    needs_tolerance: bool = False
    needs_probabilities: bool = False
    evaluated: bool = False
    extra: bool = False
    digits: int = 3

    @property
    def sweep(self) -> bool:
        """Also written per tolerance of ``evaluation.tolerances``, as ``<name>@<t>``."""
        return self.evaluated and self.needs_tolerance

    @property
    def arrow(self) -> str:
        """``"↑"`` where higher is better, ``"↓"`` where lower is: a report header's mark."""
        return "↑" if self.higher_is_better else "↓"


# one metric a line: name, label, higher is better, kind, then what differs from the defaults
_SPECS = (
    MetricSpec("dice", "Dice", True, "overlap", evaluated=True),
    MetricSpec("iou", "IoU", True, "overlap"),
    MetricSpec("hd", "HD", False, "distance", unit="mm", digits=2),
    MetricSpec("hd95", "HD95", False, "distance", unit="mm", evaluated=True, digits=2),
    MetricSpec("assd", "ASSD", False, "distance", unit="mm", evaluated=True, digits=2),
    MetricSpec("masd", "MASD", False, "distance", unit="mm", digits=2),
    MetricSpec("nsd", "NSD", True, "distance", needs_tolerance=True, evaluated=True),
    MetricSpec("boundary_f1", "BF1", True, "distance", needs_tolerance=True, evaluated=True),
    MetricSpec("perimeter_error", "Perimeter err", False, "perimeter", unit="mm|mm²", digits=2),
    MetricSpec("cldice", "clDice", True, "centerline", extra=True),
    MetricSpec("topology_precision", "Tprec", True, "centerline", extra=True),
    MetricSpec("topology_sensitivity", "Tsens", True, "centerline", extra=True),
    MetricSpec("betti0_error", "Betti-0 err", False, "betti", unit="count", extra=True, digits=2),
    MetricSpec("betti1_error", "Betti-1 err", False, "betti", unit="count", extra=True, digits=2),
    MetricSpec("sensitivity", "Se", True, "pixel", extra=True),
    MetricSpec("specificity", "Sp", True, "pixel", extra=True),
    MetricSpec("accuracy", "Acc", True, "pixel", extra=True),
    MetricSpec("f1", "F1", True, "pixel", extra=True),
    MetricSpec("auc", "AUC", True, "ranking", needs_probabilities=True, extra=True),
)

#: every metric, by name, in the registry's order (read-only)
METRIC_SPECS: Mapping[str, MetricSpec] = MappingProxyType({s.name: s for s in _SPECS})
#: every metric name, in the registry's order
METRIC_NAMES: tuple[str, ...] = tuple(METRIC_SPECS)
#: the columns every evaluation writes, in column order
EVALUATED_METRICS: tuple[str, ...] = tuple(s.name for s in _SPECS if s.evaluated)
#: of those, the ones also written per tolerance of a sweep, as ``<metric>@<t>``
SWEEP_METRICS: tuple[str, ...] = tuple(s.name for s in _SPECS if s.sweep)
#: the metrics scored on request (``evaluation.metrics``), in column order
EXTRA_METRICS: tuple[str, ...] = tuple(s.name for s in _SPECS if s.extra)
#: the metrics whose higher values are better
HIGHER_IS_BETTER: frozenset[str] = frozenset(s.name for s in _SPECS if s.higher_is_better)

if METRIC_NAMES != get_args(MetricName):  # pragma: no cover - a registry edit half done
    raise AssertionError(f"MetricName {get_args(MetricName)} and the registry {METRIC_NAMES} differ")


def metric_spec(name: str) -> MetricSpec:
    """The registry's record of metric ``name``.

    Raises:
        ValueError: ``name`` is no metric of the registry.
    """
    try:
        return METRIC_SPECS[name]
    except (KeyError, TypeError):
        raise ValueError(f"expected a metric among {list(METRIC_NAMES)}, got {name!r}") from None
