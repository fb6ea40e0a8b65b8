"""Evaluate a run folder: :func:`evaluate` (per-case metrics, summary, overlays) and the
metric names it writes."""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from edgewise._io import (
    atomic_write_json,
    atomic_write_text,
    check_dir,
    staged_dir,
)
from edgewise.metrics.registry import EVALUATED_METRICS
from edgewise.metrics.registry import SWEEP_METRICS as _SWEEP_METRICS
from edgewise.training.components import _torch_threads
from edgewise.training.config import (
    evaluation_option,
    load_config,
    resolve_num_threads,
)
from edgewise.training.prediction import _predict_ensemble, _predict_run

if TYPE_CHECKING:
    from edgewise.metrics.registry import MetricName

__all__ = ["METRIC_NAMES", "SWEEP_METRICS", "tolerance_label", "metric_names", "eval_dir", "evaluate"]

#: metrics written by :func:`evaluate`, in column order (the registry's evaluated metrics).
METRIC_NAMES: tuple[str, ...] = EVALUATED_METRICS


#: metrics also written per tolerance of ``evaluation.tolerances``, as ``<metric>@<t>``
#: (the registry's sweep metrics).
SWEEP_METRICS: tuple[str, ...] = _SWEEP_METRICS


def tolerance_label(tolerance: float) -> str:
    """``1.0 -> "1"``, ``0.5 -> "0.5"``: the ``<t>`` of the ``nsd@<t>`` column names."""
    return f"{float(tolerance):g}"


def metric_names(tolerances: Sequence[float] | None = None, extra: Sequence[str] = ()) -> list[str]:
    """Columns of ``per_case.csv``: :data:`METRIC_NAMES`, then ``nsd@<t>`` and
    ``boundary_f1@<t>`` for each tolerance of the sweep, then the requested ``extra``
    metrics (:data:`EXTRA_METRICS`).

    Example:
        >>> metric_names([1, 2])[5:]
        ['nsd@1', 'nsd@2', 'boundary_f1@1', 'boundary_f1@2']
    """
    sweep = [f"{m}@{tolerance_label(t)}" for m in SWEEP_METRICS for t in (tolerances or ())]
    return [*METRIC_NAMES, *sweep, *extra]


def _case_metrics(case: Mapping[str, Any], num_classes: int, tolerance: float,
                  tolerances: Sequence[float] = (), extra: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """Per foreground class: :data:`METRIC_NAMES` at ``tolerance``, the sweep metrics
    ``<metric>@<t>`` for each of ``tolerances``, all from one surface-distance pass, and
    the ``extra`` metrics (:data:`EXTRA_METRICS`; ``auc`` reads ``case["probs"]``)."""
    from edgewise.metrics import dice, surface_distances
    from edgewise.training.module import masked_onehot

    mask = case.get("mask")
    mask = None if mask is None else mask[None]
    p = masked_onehot(case["pred"][None], num_classes, mask)
    t = masked_onehot(case["label"][None], num_classes, mask)
    sd = surface_distances(p, t, spacing=case["spacing"][None].double())
    out = {
        "dice": dice(p, t),
        "hd95": sd.hausdorff(95),
        "assd": sd.average(),
        "nsd": sd.surface_dice(tolerance),
        "boundary_f1": sd.boundary_f1(tolerance),
    }
    at_tolerance = {"nsd": sd.surface_dice, "boundary_f1": sd.boundary_f1}  # SWEEP_METRICS
    for tol in tolerances:
        for name in SWEEP_METRICS:
            out[f"{name}@{tolerance_label(tol)}"] = at_tolerance[name](float(tol))
    if extra:
        from edgewise.metrics import SegmentationMetrics

        probs = case.get("probs")
        # the extra metrics passed the config's check (EXTRA_METRICS, all metric names)
        names = cast("Sequence[MetricName]", extra)
        out.update(SegmentationMetrics(tuple(names), num_classes=num_classes).update(
            case["pred"][None], case["label"][None], mask=mask,
            probs=None if probs is None else probs[None]))
    return {k: v[0, 1:].double().cpu().numpy() for k, v in out.items()}


def _stats(values: Iterable[float]) -> dict[str, Any]:
    v = np.asarray(list(values), dtype=np.float64)
    finite = v[np.isfinite(v)]
    res: dict[str, Any] = {"n": int(v.size), "n_finite": int(finite.size),
                           "n_nan": int(np.isnan(v).sum()), "n_inf": int(np.isinf(v).sum())}
    if finite.size:
        res.update(mean=float(finite.mean()), std=float(finite.std()),
                   median=float(np.median(finite)),
                   p25=float(np.percentile(finite, 25)), p75=float(np.percentile(finite, 75)),
                   min=float(finite.min()), max=float(finite.max()))
    else:
        res.update(mean=None, std=None, median=None, p25=None, p75=None, min=None, max=None)
    return res


def _summarize(case_ids: Sequence[str], scores: Sequence[Mapping[str, np.ndarray]],
               class_names: Sequence[str], names: Sequence[str]) -> tuple[str, dict[str, Any]]:
    """``per_case.csv`` text (a row per case and foreground class) and the summary's
    ``metrics``, ``mean`` and ``n_inf`` entries, for :func:`evaluate` and
    :func:`edgewise.training.scoring.score`: one format for models and references."""
    rows: list[dict[str, Any]] = []
    per_metric: dict[str, dict[str, list[float]]] = {m: {c: [] for c in class_names}
                                                     for m in names}
    for case_id, values in zip(case_ids, scores):
        for ci, cname in enumerate(class_names):
            row: dict[str, Any] = {"case": case_id, "class": cname}
            for m in names:
                x = float(values[m][ci])
                row[m] = _fmt(x)
                per_metric[m][cname].append(x)
            rows.append(row)
    metrics = {m: {c: _stats(v) for c, v in per.items()} for m, per in per_metric.items()}
    mean = {
        m: (float(np.mean(means)) if (means := [s["mean"] for s in metrics[m].values()
                                                if s["mean"] is not None]) else None)
        for m in names
    }
    # what each foreground mean leaves out: cases x classes with an infinite value
    n_inf = {m: sum(s["n_inf"] for s in metrics[m].values()) for m in names}
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["case", "class", *names], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue(), {"metrics": metrics, "mean": mean, "n_inf": n_inf}


def eval_dir(run_dir: str | os.PathLike, split: str = "test",
             data_root: str | os.PathLike | None = None) -> Path:
    """Where :func:`evaluate` writes by default: ``<run_dir>/eval_<split>``, and
    ``<run_dir>/external_<folder name>_<split>`` for data from another folder
    (``data_root``). Each evaluation replaces that folder as a whole."""
    run_dir = Path(run_dir)
    if data_root is not None:
        name = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in Path(data_root).resolve().name)
        return run_dir / f"external_{name}_{split}"
    return run_dir / f"eval_{split}"


def check_outside_data(out_dir: Path, data_root: str | os.PathLike | None) -> None:
    """Results are never written into a dataset's folder: it is the user's data, and a reader
    globbing it (a folder dataset's ``**/*.png``) would later read the overlays as images."""
    if data_root is None:
        return
    root = Path(data_root).expanduser().resolve()
    out = Path(out_dir).expanduser().resolve()
    if out == root or root in out.parents:
        raise ValueError(f"the results folder {out_dir} is inside the dataset folder {root}: choose "
                         "an output folder outside it (edgewise writes nothing into a dataset)")


def _check_external_output(run_dir: Path, out_dir: Path, data_root: Path) -> None:
    """Results on other data never replace the run's own nor another folder's results."""
    if out_dir.resolve() == run_dir.resolve():
        raise ValueError(f"results on the data in {data_root} would replace the run's own results "
                         f"in {run_dir}; choose another output folder")
    previous = out_dir / "summary.json"
    if previous.is_file():
        try:
            source = json.loads(previous.read_text()).get("data_root")
        except (OSError, ValueError):
            source = None
        if source != str(data_root):
            raise ValueError(f"{out_dir} holds results on {source or 'the data of the run'}, "
                             f"not on {data_root}; choose another output folder")


def _fmt(x: float) -> str:
    return "nan" if math.isnan(x) else ("inf" if math.isinf(x) else f"{x:.6g}")


def evaluate(
    run_dir: str | os.PathLike | Sequence[str | os.PathLike],
    split: str | None = None,
    *,
    overlays: int | None = None,
    checkpoint: str | None = None,
    output_dir: str | os.PathLike | None = None,
    device: str | None = None,
    tolerances: Sequence[float] | None = None,
    threads: int | None = None,
    data_root: str | os.PathLike | None = None,
    metrics: Sequence[str] | None = None,
    mirror_axes: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Evaluate a finished run on a split: per-case metrics, a summary and overlays.

    Metrics per case and foreground class, inside the evaluation mask when the dataset
    gives one: Dice, HD95, ASSD (mm), NSD and boundary F1 at ``evaluation.tolerance`` mm
    (columns ``nsd``, ``boundary_f1``), plus ``nsd@<t>`` and ``boundary_f1@<t>`` for each
    tolerance ``t`` (mm) of a sweep, all from one surface-distance computation per case.
    2D slices of 3D volumes are re-stacked per case and scored in 3D with the volume's
    spacing. A model trained on patches is applied by sliding windows.

    Several run folders make an ensemble (nnU-Net's ``nnUNetv2_ensemble``): each run predicts
    with its own data pipeline and checkpoint, the softmax probabilities are averaged case by
    case and the label is their argmax; the evaluation options come from the first run.

    Args:
        run_dir: a folder written by :func:`train`, or a list of them (an ensemble: the
            runs must score the same cases with the same classes; ``output_dir`` is then
            required, as the results belong to no single run).
        split: dataset split to evaluate (``data.test_split`` for ``"test"``); default
            ``"test"``, or ``"all"`` (every case) with ``data_root``.
        overlays: number of cases to draw (default ``evaluation.overlays``).
        checkpoint: ``"best"`` or ``"last"`` (default ``evaluation.checkpoint``).
        output_dir: the results folder, replaced as a whole (a reader sees the previous
            results or these, never a mix); default :func:`eval_dir`:
            ``<run_dir>/eval_<split>``, and ``<run_dir>/external_<folder name>_<split>``
            with ``data_root``. A non-empty folder edgewise did not make is refused.
        device: torch device (default CUDA when available).
        tolerances: the sweep's tolerances in mm, e.g. ``[1, 2, 3, 4]`` (default
            ``evaluation.tolerances``; none when that is null).
        threads: torch CPU threads while predicting and scoring (default
            ``trainer.num_threads`` of the run, ``auto`` as in training).
        data_root: score the run on another folder of the same layout (an external
            test set) instead of ``data.root``; the results go to their own folder, never
            into the run folder or a folder holding results on other data, and
            ``summary.json`` records the folder as ``data_root``.
        metrics: extra metrics from :data:`EXTRA_METRICS`, e.g. ``["cldice", "auc"]``
            (default ``evaluation.metrics``; none when that is null).
        mirror_axes: test-time mirroring along these spatial axes (0 = first): the softmax
            averaged over every combination of flips (default ``evaluation.mirror_axes``;
            none when that is null; ``[]`` switches it off).

    Returns:
        The summary written to ``summary.json``: ``{"split", "checkpoint", "epoch",
        "num_cases", "classes", "tolerance_mm", "tolerances_mm", "metrics": {metric:
        {class: stats}}, "mean":
        {metric: mean over foreground classes of the per-class means}, "n_inf": {metric:
        infinite values over cases and classes}}``. Non-finite values (HD95 of an empty
        structure) are counted in ``n_nan``/``n_inf`` and left out of the means. Paths of
        results in it (``run``, ``checkpoint``, ``overlays``) are relative to the results
        folder, so they stay right when it is moved. An ensemble's summary describes its
        first run in ``run``, ``checkpoint``, ``epoch`` and ``global_step`` and lists every
        member under ``ensemble`` (``run``, ``checkpoint``, ``epoch``, ``global_step``).

    An ensemble of two seeds (``edgewise eval runs/h0 runs/h1 -o runs/h_ensemble``)::

        evaluate(["runs/h0", "runs/h1"], output_dir="runs/h_ensemble")
    """
    runs = _run_dirs(run_dir)
    run_dir = runs[0]
    if len(runs) > 1 and output_dir is None:
        raise ValueError(f"an ensemble of {len(runs)} runs needs an output folder (output_dir, "
                         "--output): its results belong to no single run")
    for run in runs:
        if not (run / "config.yaml").is_file():
            raise FileNotFoundError(f"not a run folder (no config.yaml): {run}")
    cfg = load_config(run_dir / "config.yaml")
    ev = cfg["evaluation"]
    checkpoint = checkpoint or ev["checkpoint"]
    overlays = ev["overlays"] if overlays is None else int(overlays)
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ValueError(f"expected threads to be a positive integer, got {threads!r}")
    if threads is None:
        threads = resolve_num_threads(cfg["trainer"]["num_threads"], 0)[0]
    if data_root is not None:
        data_root = Path(data_root).resolve()
        if not data_root.is_dir():
            raise FileNotFoundError(f"expected data_root to be a folder of the run's data layout "
                                    f"({cfg['data']['name']}), got {data_root}")
    split = split or ("all" if data_root is not None else "test")
    out_dir = Path(output_dir) if output_dir is not None else eval_dir(run_dir, split, data_root)
    if data_root is not None:
        _check_external_output(run_dir, out_dir, data_root)
    if output_dir is not None:  # the default is inside the run folder, wherever train put it
        check_outside_data(out_dir, data_root if data_root is not None else cfg["data"].get("root"))
    check_dir(out_dir, "eval", what="evaluation folder")  # before minutes of work
    if tolerances is None:
        tolerances = ev["tolerances"] or []
    elif len(tolerances):
        tolerances = evaluation_option("tolerances", list(tolerances))
    tolerances = [float(t) for t in tolerances]
    if metrics is None:
        metrics = ev.get("metrics") or []
    else:
        metrics = evaluation_option("metrics", list(metrics))
    if mirror_axes is None:
        mirror_axes = ev.get("mirror_axes") or []
    else:
        mirror_axes = evaluation_option("mirror_axes", list(mirror_axes))
    names = metric_names(tolerances, metrics)
    with _torch_threads(threads):
        if len(runs) == 1:
            cases, dataset, meta, split_name = _predict_run(run_dir, split, None, checkpoint, device,
                                                            data_root, keep_probs="auc" in metrics,
                                                            mirror_axes=mirror_axes)
            members: list[dict[str, Any]] = []
        else:
            cases, dataset, members, split_name = _predict_ensemble(
                runs, split, checkpoint, device, data_root, keep_probs="auc" in metrics,
                mirror_axes=mirror_axes)
            meta = dict(members[0])
        num_classes = int(dataset.num_classes)
        scores = [_case_metrics(case, num_classes, ev["tolerance"], tolerances, metrics)
                  for case in cases]
    class_names = list(dataset.class_names)[1:]

    meta["checkpoint"] = _relative(meta["checkpoint"], out_dir)
    table, scored = _summarize([case["case"] for case in cases], scores, class_names, names)
    summary: dict[str, Any] = {
        "run": _relative(run_dir, out_dir), "split": split_name, **meta, "num_cases": len(cases),
        **({"data_root": str(data_root)} if data_root is not None else {}),
        "classes": class_names, "tolerance_mm": ev["tolerance"], "tolerances_mm": tolerances,
        "extra_metrics": list(metrics), "mirror_axes": list(mirror_axes), **scored,
    }
    if members:
        summary["ensemble"] = [{"run": _relative(r, out_dir), **m, "checkpoint": _relative(m["checkpoint"], out_dir)}
                               for r, m in zip(runs, members)]
    with staged_dir(out_dir, "eval", what="evaluation folder") as tmp:
        atomic_write_text(tmp / "per_case.csv", table)
        if overlays > 0:
            from edgewise.training.plots import save_overlays

            summary["overlays"] = [_relative(out_dir / p.relative_to(tmp), out_dir)
                                   for p in save_overlays(cases[:overlays], tmp / "overlays")]
        atomic_write_json(tmp / "summary.json", summary)
    return summary


def _run_dirs(run_dir: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
    """One run folder or the distinct folders of an ensemble, as paths."""
    if isinstance(run_dir, str | os.PathLike):
        return [Path(run_dir)]
    if isinstance(run_dir, bytes) or not isinstance(run_dir, Sequence) or not run_dir:
        raise TypeError(f"expected a run folder or a non-empty list of run folders, got {run_dir!r}")
    runs = [Path(r) for r in run_dir]
    seen = [r.resolve() for r in runs]
    if len(set(seen)) != len(seen):
        raise ValueError(f"expected distinct run folders for an ensemble, got {[str(r) for r in runs]}")
    return runs


def _relative(path: str | os.PathLike, start: Path) -> str:
    return Path(os.path.relpath(Path(path).absolute(), start.absolute())).as_posix()
