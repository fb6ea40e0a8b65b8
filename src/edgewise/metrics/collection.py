"""Accumulate per-case, per-class metrics over batches and processes; summarise and export."""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from edgewise._core.spacing import SpacingLike
from edgewise._core.tensors import as_mask, as_tensor, check_not_empty
from edgewise._io import atomic_write_text

from ._validate import ArrayLike, EmptyPolicy, Tolerance, check_choice
from .convert import one_hot_from_labels
from .distance import MaxDistance, PercentileMethod, surface_distances
from .overlap import dice, iou
from .perimeter import perimeter_error
from .pixel import _mask, confusion, roc_auc, scores_from_counts
from .registry import HIGHER_IS_BETTER, METRIC_NAMES, METRIC_SPECS, MetricName
from .surface import SurfaceModel
from .topology import betti_error, centerline_counts

__all__ = ["SegmentationMetrics", "METRIC_NAMES"]

# what update() computes together: one surface-distance pass, one skeletonisation, one
# confusion count (the registry's kinds)
_DISTANCE = {n for n, s in METRIC_SPECS.items() if s.kind == "distance"}
_CENTERLINE = {n for n, s in METRIC_SPECS.items() if s.kind == "centerline"}
_PIXEL = {n for n, s in METRIC_SPECS.items() if s.kind == "pixel"}


def _distributed() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _quantile(sorted_values: np.ndarray, q: float) -> float:
    # linear interpolation that keeps inf instead of producing inf * 0 = nan
    rank = q * (len(sorted_values) - 1)
    lo = int(math.floor(rank))
    hi = min(lo + 1, len(sorted_values) - 1)
    frac = rank - lo
    if frac == 0 or sorted_values[lo] == sorted_values[hi]:
        return float(sorted_values[lo])
    return float(sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * frac)


def _restrict(onehot: ArrayLike, mask: ArrayLike) -> Tensor:
    """A one-hot cut to ``mask``: every class off outside it, channel 0 (background) on."""
    x = as_mask(onehot, "one-hot")
    m = _mask(mask, x)
    assert m is not None
    out = x & m
    if x.shape[1] > 1:
        out[:, 0] |= ~m[:, 0]
    return out


def _json_number(x: float) -> float | str | None:
    if math.isnan(x):
        return None
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


class SegmentationMetrics:
    """Per-case, per-class segmentation metrics accumulated over an epoch.

    Each :meth:`update` computes the selected metrics for a batch (one surface extraction and
    one nearest-surface search for all distance metrics together) and stores the
    ``(B, C)`` values with case ids. :meth:`compute` gathers them from every process when
    ``torch.distributed`` is initialised (call it on every rank); :meth:`summary`,
    :meth:`to_csv` and :meth:`to_json` build on it (only rank 0 writes files, atomically).
    The metrics run on the inputs' device; the ``(B, C)`` values of each batch are then kept
    on the CPU (a few numbers per case) for the summary and the exports.

    Args:
        metrics: names from ``"dice"``, ``"iou"``, ``"hd"``, ``"hd95"``, ``"assd"``
            (pooled), ``"masd"`` (mean of the directed means), ``"nsd"``, ``"boundary_f1"``,
            ``"perimeter_error"``; topology (they skeletonise or label every case on the
            CPU, so they are computed on request only): ``"cldice"``,
            ``"topology_precision"``, ``"topology_sensitivity"``, ``"betti0_error"``,
            ``"betti1_error"`` (2D); pixel counts inside the evaluation mask (the
            retinal conventions): ``"sensitivity"``, ``"specificity"``, ``"accuracy"``,
            ``"f1"``, and ``"auc"`` (needs ``probs=`` in :meth:`update`).
        num_classes: when given, integer label maps ``(B, 1, *spatial)``/``(B, *spatial)``
            are accepted and one-hot encoded; one-hot inputs pass unchanged.
        include_background: keep channel 0 (default True, as every edgewise metric).
        spacing: default spacing (array axis order), overridden per :meth:`update`.
        tolerance: NSD / boundary F1 tolerance in mm, one number or one per selected class.
        surface, connectivity, border_is_surface, percentile_method, empty, max_distance:
            as in :func:`edgewise.metrics.hausdorff_distance`.
        betti_connectivity: foreground connectivity of the Betti numbers (None: full, 8 in
            2D and 26 in 3D; 1: faces only), see :func:`edgewise.metrics.betti_numbers`.
        class_names: one name per selected class (default ``class_<channel index>``).
        worst_k: number of worst cases listed per class in the summary.

    Example:
        >>> import torch
        >>> m = SegmentationMetrics(("dice", "hd95"), num_classes=2, include_background=False)
        >>> t = torch.zeros(2, 1, 16, 16, dtype=torch.long); t[:, :, 4:10, 4:10] = 1
        >>> batch_values = m.update(t, t, case_ids=["a", "b"])
        >>> m.summary()["metrics"]["hd95"]["classes"]["class_1"]["mean"]
        0.0
    """

    def __init__(
        self,
        metrics: MetricName | Sequence[MetricName] = ("dice", "hd95", "assd", "nsd"),
        *,
        num_classes: int | None = None,
        include_background: bool = True,
        spacing: SpacingLike = None,
        tolerance: Tolerance = 1.0,
        surface: SurfaceModel = "corner",
        connectivity: int = 1,
        border_is_surface: bool = True,
        percentile_method: PercentileMethod = "weighted_directed",
        empty: EmptyPolicy = "worst",
        max_distance: MaxDistance = None,
        betti_connectivity: int | None = None,
        class_names: Sequence[str] | None = None,
        worst_k: int = 5,
    ) -> None:
        if isinstance(metrics, str):
            metrics = (metrics,)
        for name in metrics:
            check_choice(name, "metric", METRIC_NAMES)
        if len(set(metrics)) != len(metrics) or not metrics:
            raise ValueError(f"expected distinct metric names, got {list(metrics)}")
        check_choice(empty, "empty", ("worst", "nan"))
        self.metrics = tuple(metrics)
        self.num_classes = num_classes
        self.include_background = include_background
        self.spacing = spacing
        self.tolerance = tolerance
        self.surface = surface
        self.connectivity = connectivity
        self.border_is_surface = border_is_surface
        self.percentile_method = percentile_method
        self.empty = empty
        self.max_distance = max_distance
        self.betti_connectivity = betti_connectivity
        self.class_names = None if class_names is None else [str(c) for c in class_names]
        self.worst_k = worst_k
        self.reset()

    def reset(self) -> None:
        """Forget every accumulated case."""
        self._ids: list[str] = []
        self._values: dict[str, list[Tensor]] = {name: [] for name in self.metrics}
        self._channels: int | None = None
        self._cache: tuple[list[str], dict[str, Tensor]] | None = None

    # -- accumulation --------------------------------------------------------------------
    def _one_hot(self, x: ArrayLike, name: str) -> ArrayLike:
        if self.num_classes is None:
            return x
        t = as_tensor(x, name)
        looks_one_hot = t.dim() >= 4 and t.shape[1] == self.num_classes and self.num_classes > 1
        if looks_one_hot and (t.dtype == torch.bool or bool(((t == 0) | (t == 1)).all())):
            return t
        return one_hot_from_labels(t, self.num_classes)

    def update(
        self,
        pred: ArrayLike,
        target: ArrayLike,
        spacing: SpacingLike = None,
        case_ids: Sequence[str] | None = None,
        *,
        mask: ArrayLike | None = None,
        probs: ArrayLike | None = None,
    ) -> dict[str, Tensor]:
        """Add a batch; returns this batch's ``(B, C)`` values per metric.

        Args:
            pred: one-hot ``(B, C, *spatial)`` (or a label map when ``num_classes`` is set).
            target: same form as ``pred``.
            spacing: this batch's spacing (default: the constructor's).
            case_ids: one id per case (default: running index, prefixed by the rank under
                DDP). Repeated ids (e.g. DistributedSampler padding) keep their first value.
            mask: evaluation region ``(B, 1, *spatial)`` or ``(B, *spatial)`` (e.g. DRIVE's
                field of view). The pixel metrics count inside it; for every other metric
                both masks are cut to it (background outside), as ``edgewise eval`` does.
            probs: class probabilities ``(B, C, *spatial)``, for ``"auc"``.
        """
        p = self._one_hot(pred, "pred")
        t = self._one_hot(target, "target")
        # before any metric-specific complaint: an empty batch is the first thing to report
        check_not_empty(tuple(p.shape), "pred and target", p.ndim - 2)
        spacing = self.spacing if spacing is None else spacing
        if "auc" in self.metrics and probs is None:
            raise ValueError("metric 'auc' needs the class probabilities: update(..., probs=)")
        full_p, full_t = p, t
        if mask is not None:
            p, t = _restrict(p, mask), _restrict(t, mask)
        values: dict[str, Tensor] = {}
        if _PIXEL & set(self.metrics):
            counts = confusion(full_p, full_t, mask=mask, include_background=self.include_background)
            values.update(scores_from_counts(counts, [m for m in self.metrics if m in _PIXEL],
                                             self.empty))
        if "auc" in self.metrics:
            values["auc"] = roc_auc(probs, full_t, mask=mask,  # type: ignore[arg-type]
                                    include_background=self.include_background)
        if _CENTERLINE & set(self.metrics):
            cl = centerline_counts(p, t, include_background=self.include_background)
            if "cldice" in self.metrics:
                values["cldice"] = cl.cldice(self.empty)
            if "topology_precision" in self.metrics:
                values["topology_precision"] = cl.precision(self.empty)
            if "topology_sensitivity" in self.metrics:
                values["topology_sensitivity"] = cl.sensitivity(self.empty)
        for k in (0, 1):
            if f"betti{k}_error" in self.metrics:
                values[f"betti{k}_error"] = betti_error(
                    p, t, dim=k, connectivity=self.betti_connectivity,
                    include_background=self.include_background, empty=self.empty)
        if "dice" in self.metrics:
            values["dice"] = dice(
                p, t, include_background=self.include_background, empty=self.empty
            )
        if "iou" in self.metrics:
            values["iou"] = iou(p, t, include_background=self.include_background, empty=self.empty)
        if "perimeter_error" in self.metrics:
            values["perimeter_error"] = perimeter_error(
                p,
                t,
                spacing=spacing,
                include_background=self.include_background,
                border_is_surface=self.border_is_surface,
                empty=self.empty,
            )
        if _DISTANCE & set(self.metrics):
            sd = surface_distances(
                p,
                t,
                spacing=spacing,
                include_background=self.include_background,
                surface=self.surface,
                connectivity=self.connectivity,
                border_is_surface=self.border_is_surface,
            )
            kw: dict[str, Any] = {"empty": self.empty, "max_distance": self.max_distance}
            if "hd" in self.metrics:
                values["hd"] = sd.hausdorff(None, self.percentile_method, **kw)
            if "hd95" in self.metrics:
                values["hd95"] = sd.hausdorff(95, self.percentile_method, **kw)
            if "assd" in self.metrics:
                values["assd"] = sd.average(True, "pooled", **kw)
            if "masd" in self.metrics:
                values["masd"] = sd.average(True, "mean_of_directed", **kw)
            if "nsd" in self.metrics:
                values["nsd"] = sd.surface_dice(self.tolerance, self.empty)
            if "boundary_f1" in self.metrics:
                values["boundary_f1"] = sd.boundary_f1(self.tolerance, self.empty)
        batch, channels = next(iter(values.values())).shape
        if self._channels is not None and channels != self._channels:
            raise ValueError(
                f"expected {self._channels} classes as in earlier batches, got {channels}"
            )
        self._channels = channels
        if case_ids is None:
            rank, world = _distributed()
            start = len(self._ids)
            prefix = f"{rank}-" if world > 1 else ""
            case_ids = [f"{prefix}{start + i}" for i in range(batch)]
        elif len(case_ids) != batch:
            raise ValueError(f"expected {batch} case_ids, got {len(case_ids)}")
        self._ids.extend(str(c) for c in case_ids)
        for name, v in values.items():
            self._values[name].append(v.detach().cpu())
        self._cache = None
        return {name: values[name] for name in self.metrics}

    # -- results -------------------------------------------------------------------------
    def compute(self) -> dict[str, Tensor]:
        """``(N, C)`` float32 CPU values per metric over all cases of all processes (in rank
        order). A collective under DDP: call on every rank."""
        return self._gathered()[1]

    @property
    def case_ids(self) -> list[str]:
        """Case ids in the order of :meth:`compute`'s rows."""
        return self._gathered()[0]

    def _gathered(self) -> tuple[list[str], dict[str, Tensor]]:
        if self._cache is not None:
            return self._cache
        channels = self._channels or 0
        local = {
            name: torch.cat(v) if v else torch.zeros(0, channels)
            for name, v in self._values.items()
        }
        _, world = _distributed()
        if world > 1:
            parts: list[Any] = [None] * world
            torch.distributed.all_gather_object(
                parts, (self._ids, {k: v.numpy() for k, v in local.items()})
            )
            ids = [i for part in parts for i in part[0]]
            # a rank without cases holds (0, 0) arrays: take the class count from the others
            channels = max(arr.shape[1] for part in parts for arr in part[1].values())
            local = {
                k: torch.cat([torch.from_numpy(part[1][k]).reshape(-1, channels) for part in parts])
                for k in local
            }
        else:
            ids = list(self._ids)
        first: dict[str, int] = {}
        for row, case in enumerate(ids):
            first.setdefault(case, row)
        keep = torch.tensor(sorted(first.values()), dtype=torch.long)
        ids = [ids[int(i)] for i in keep]
        values = {k: v[keep] for k, v in local.items()}
        self._cache = (ids, values)
        return self._cache

    def _names(self, channels: int) -> list[str]:
        if self.class_names is not None:
            if len(self.class_names) != channels:
                raise ValueError(f"expected {channels} class_names, got {len(self.class_names)}")
            return self.class_names
        offset = 0 if self.include_background else 1
        return [f"class_{c + offset}" for c in range(channels)]

    def summary(self) -> dict[str, Any]:
        """Per metric and class: mean, std (ddof=1), median, quartiles, the number of values
        (``count``, nan excluded: they only arise with ``empty="nan"``) and of finite values
        (``finite``), and the ``worst_k`` worst cases; plus the mean over classes.

        ``inf`` (an empty surface on one side without ``max_distance``) is kept, so the mean
        of such a class is ``inf``: a missed structure is never averaged away.
        """
        ids, values = self._gathered()
        result: dict[str, Any] = {"num_cases": len(ids), "metrics": {}}
        for name, v in values.items():
            names = self._names(v.shape[1]) if v.numel() else []
            classes: dict[str, Any] = {}
            means = []
            for c, cname in enumerate(names):
                col = v[:, c].double().numpy()
                valid = ~np.isnan(col)
                x = np.sort(col[valid])
                stats: dict[str, Any] = {
                    "count": int(valid.sum()),
                    "finite": int(np.isfinite(col).sum()),
                }
                if x.size:
                    finite = bool(np.isfinite(x).all())
                    mean = float(x.mean()) if finite else float("inf")
                    std = float(x.std(ddof=1)) if finite and x.size > 1 else float("nan")
                    stats.update(
                        mean=mean,
                        std=std,
                        median=_quantile(x, 0.5),
                        q1=_quantile(x, 0.25),
                        q3=_quantile(x, 0.75),
                        min=float(x[0]),
                        max=float(x[-1]),
                    )
                    means.append(mean)
                else:
                    stats.update(
                        {
                            k: float("nan")
                            for k in ("mean", "std", "median", "q1", "q3", "min", "max")
                        }
                    )
                higher = name in HIGHER_IS_BETTER
                rows = [r for r in range(len(col)) if valid[r]]
                rows.sort(key=lambda r: col[r], reverse=not higher)
                stats["worst"] = [
                    {"case": ids[r], "value": float(col[r])} for r in rows[: self.worst_k]
                ]
                classes[cname] = stats
            result["metrics"][name] = {
                "classes": classes,
                "mean_over_classes": float(np.mean(means)) if means else float("nan"),
            }
        return result

    def to_csv(self, path: str | os.PathLike[str]) -> Path | None:
        """One row per case, one column per metric and class (``<metric>/<class>``).
        Written atomically by rank 0 (returns None elsewhere); call on every rank."""
        ids, values = self._gathered()
        rank, _ = _distributed()
        if rank != 0:
            return None
        buf = io.StringIO()
        writer = csv.writer(buf)
        columns = [
            (k, c, n) for k, v in values.items() for c, n in enumerate(self._names(v.shape[1]))
        ]
        writer.writerow(["case_id"] + [f"{k}/{n}" for k, _, n in columns])
        for row, case in enumerate(ids):
            writer.writerow([case] + [repr(float(values[k][row, c])) for k, c, _ in columns])
        return atomic_write_text(path, buf.getvalue())

    def to_json(self, path: str | os.PathLike[str]) -> Path | None:
        """The :meth:`summary` plus the options, as strict JSON (``inf`` written as the string
        ``"inf"``, nan as null). Written atomically by rank 0; call on every rank."""
        summary = self.summary()
        rank, _ = _distributed()
        if rank != 0:
            return None

        def clean(x: Any) -> Any:
            if isinstance(x, float):
                return _json_number(x)
            if isinstance(x, dict):
                return {k: clean(v) for k, v in x.items()}
            if isinstance(x, (list, tuple)):
                return [clean(v) for v in x]
            return x

        options = {
            "include_background": self.include_background,
            "tolerance": self.tolerance
            if isinstance(self.tolerance, (int, float))
            else list(map(float, self.tolerance)),
            "surface": self.surface,
            "connectivity": self.connectivity,
            "border_is_surface": self.border_is_surface,
            "percentile_method": self.percentile_method,
            "empty": self.empty,
            "max_distance": self.max_distance,
            "betti_connectivity": self.betti_connectivity,
        }
        payload = clean({"options": options, **summary})
        return atomic_write_text(path, json.dumps(payload, indent=2, allow_nan=False) + "\n")
