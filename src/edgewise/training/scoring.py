"""Score a folder of predicted label masks against a dataset split: :func:`score`.

The predictions may come from anywhere (another toolkit, a second human observer); they
are scored by :func:`edgewise.training.evaluation._case_metrics`, the code behind
``edgewise eval``, and written in its ``per_case.csv`` / ``summary.json`` format, so a
reference row and a model row differ only in where the masks came from.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgewise._io import atomic_write_json, atomic_write_text, check_dir, staged_dir
from edgewise.metrics.registry import METRIC_SPECS

__all__ = ["DEFAULT_CASE_REGEX", "match_predictions", "score"]

#: the case id of a prediction file: its name without the suffix and one trailing
#: ``_pred``, ``_prediction``, ``_seg``, ``_segmentation``, ``_label(s)``, ``_mask``,
#: ``_gt`` or ``_manual<N>`` (``01_manual2.png`` -> ``01``, ``case_003.nii.gz`` -> ``case_003``).
DEFAULT_CASE_REGEX = (r"^(?P<case>.+?)(?:_(?:pred|prediction|seg|segmentation|labels?|mask|gt"
                      r"|manual\d*))?$")

# Options that choose how items are cut (slices, patches, maps), not what a case's label
# is: scoring reads each case whole on its stored grid, so they are dropped.
_VIEW_OPTIONS = ("mode", "patch_size", "samples_per_volume", "foreground_oversample",
                 "slice_axis", "augment", "transform", "map_cache", "map_kind", "map_options",
                 "cache")


def _case_key(path: Path, rx: re.Pattern[str]) -> str:
    from edgewise.data.image_files import strip_suffix

    m = rx.match(strip_suffix(path.name))
    if m is None:
        raise ValueError(f"case_regex {rx.pattern!r} does not match prediction file {path}")
    return m.group("case") if "case" in rx.groupindex else m.group(1) if rx.groups else m.group(0)


def match_predictions(folder: str | os.PathLike, case_ids: Sequence[str], pattern: str = "*",
                      case_regex: str = DEFAULT_CASE_REGEX) -> tuple[dict[str, Path], list[Path]]:
    """The prediction file of each case, and the files no case took.

    Files are those of ``folder`` matching the glob ``pattern`` with an image or NIfTI
    suffix; each gives a case id by ``case_regex`` (the named group ``case``, else the
    first group, else the whole match). A file belongs to the case of the same id, or, if
    none, to the one case whose id ends in ``_<id>``: DRIVE's ``test_01`` takes
    ``01_manual2.png``.

    Raises:
        FileNotFoundError: no file matches ``pattern``, or a case has no prediction.
        ValueError: two files give one id, or one file fits two cases.

    Example:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp())
        >>> for n in ("01_manual2.png", "02_manual2.png", "notes.txt"): _ = (d / n).write_bytes(b"")
        >>> found, unused = match_predictions(d, ["test_01"], "*_manual2.png")
        >>> found["test_01"].name, [p.name for p in unused]
        ('01_manual2.png', ['02_manual2.png'])
    """
    from edgewise.data.image_files import IMAGE_2D_SUFFIXES, NIFTI_SUFFIXES

    folder = Path(folder)
    rx = re.compile(case_regex)
    files = sorted(p for p in folder.glob(pattern) if p.is_file() and not p.name.startswith("._")
                   and p.name.lower().endswith(NIFTI_SUFFIXES + IMAGE_2D_SUFFIXES))
    if not files:
        raise FileNotFoundError(f"no prediction files (image or NIfTI) match {pattern!r} in {folder}")
    keyed: dict[str, Path] = {}
    for p in files:
        key = _case_key(p, rx)
        if key in keyed:
            raise ValueError(f"two prediction files give case id {key!r}: {keyed[key]} and {p}; "
                             "narrow --pattern or set --case-regex")
        keyed[key] = p
    found: dict[str, Path] = {}
    taken: dict[str, str] = {}
    missing: list[str] = []
    for case in case_ids:
        if case in keyed:
            key = case
        else:
            fits = [k for k in keyed if case.endswith("_" + k)]
            if len(fits) > 1:
                raise ValueError(f"case {case!r} fits several prediction files: "
                                 f"{', '.join(str(keyed[k]) for k in fits)}")
            if not fits:
                missing.append(case)
                continue
            key = fits[0]
        if key in taken:
            raise ValueError(f"prediction file {keyed[key]} fits cases {taken[key]!r} and {case!r}; "
                             "name the files by the full case id")
        taken[key] = case
        found[case] = keyed[key]
    if missing:
        shown = ", ".join(repr(k) for k in sorted(keyed)[:5]) + (" ..." if len(keyed) > 5 else "")
        raise FileNotFoundError(
            f"no prediction for case {missing[0]!r} ({len(missing)} of {len(case_ids)} cases lack "
            f"one) among the {len(files)} files matching {pattern!r} in {folder}, whose case ids "
            f"are {shown}"
        )
    return found, [keyed[k] for k in sorted(keyed) if k not in taken]


def _read_prediction(path: Path, shape: tuple[int, ...], num_classes: int,
                     label_map: Mapping[int, int] | None, case: str) -> torch.Tensor:
    from edgewise.data.image_files import IMAGE_2D_SUFFIXES, is_nifti, read_any, read_label_2d, to_label

    if not is_nifti(path) and path.suffix.lower() in IMAGE_2D_SUFFIXES:
        arr, channels_first = read_label_2d(path), False
    else:
        arr, _, channels_first = read_any(path)
    if channels_first:
        raise ValueError(f"expected a label mask (one channel) in prediction {path}, got shape "
                         f"{arr.shape}")
    # a grey mask saved as RGB(A) pictures has a trailing channel axis
    spatial = arr.shape[:-1] if arr.ndim == len(shape) + 1 and arr.shape[-1] in (3, 4) else arr.shape
    if tuple(spatial) != shape:
        raise ValueError(f"prediction {path} has shape {tuple(spatial)}, the reference of case "
                         f"{case!r} has {shape}: predictions are scored on the dataset's original "
                         "grid")
    return torch.from_numpy(to_label(arr, path, num_classes, label_map))[None]


def _reference(data: str, split: str, root: str | os.PathLike,
               options: Mapping[str, Any]) -> Any:
    from edgewise.data import build_dataset

    if data.lower() == "synthetic":
        raise ValueError("expected a dataset read from files (drive, acdc, decathlon, folder), "
                         "got 'synthetic'")
    options = dict(options)
    if options.get("size") is not None:
        raise ValueError(f"expected no size option (got size={options['size']!r}): predictions "
                         "are scored on the dataset's stored grid, that of its reference labels")
    for key in _VIEW_OPTIONS:
        options.pop(key, None)
    return build_dataset(data, split, root=str(root), mode="whole", cache=False, **options)


def score(
    predictions: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    data: str,
    data_root: str | os.PathLike,
    split: str = "test",
    options: Mapping[str, Any] | None = None,
    pattern: str = "*",
    case_regex: str = DEFAULT_CASE_REGEX,
    label_map: Mapping[int, int] | None = None,
    tolerance: float = 1.0,
    tolerances: Sequence[float] | None = None,
    metrics: Sequence[str] | None = None,
    overlays: int = 0,
    threads: int | None = None,
) -> dict[str, Any]:
    """Score a folder of predicted label masks against a dataset split, as ``edgewise eval``
    scores a model.

    Each case of the split needs one prediction file (PNG, GIF, TIFF, NIfTI: class indices,
    or raw values through ``label_map``) with the shape of its stored label. Metrics per
    case and foreground class are those of :func:`edgewise.training.evaluate`, from the
    same function, inside the dataset's evaluation mask when it has one (DRIVE's field of
    view), with the reference's spacing.

    Args:
        predictions: the folder of prediction files.
        output_dir: the results folder (``per_case.csv``, ``summary.json``, ``overlays/``),
            written whole; a non-empty folder edgewise did not make is refused.
        data: dataset name of :func:`edgewise.data.build_dataset` (not ``synthetic``).
        data_root: the dataset folder.
        split: the split scored (``"all"``: every case).
        options: reader options (e.g. a folder dataset's ``images``, ``labels``, ``masks``,
            ``label_map``; ``val_fraction`` to carve the split); ``size`` is refused, and
            options that only cut items (``mode``, ``patch_size``, ...) are ignored.
        pattern: glob of the prediction files in ``predictions``.
        case_regex: case id of a file name (see :func:`match_predictions`).
        label_map: raw prediction value -> class, e.g. ``{0: 0, 255: 1}``.
        tolerance: NSD / boundary-F1 tolerance in mm (``edgewise eval``'s default, 1).
        tolerances: a sweep: ``nsd@<t>`` and ``boundary_f1@<t>`` columns.
        metrics: extra metrics (``cldice``, ``betti0_error``, ``sensitivity``, ...; not
            ``auc``, which needs probabilities).
        overlays: number of cases drawn as PNG overlays.
        threads: torch CPU threads (default ``auto``, as ``trainer.num_threads``).

    Returns:
        The summary written to ``summary.json``: ``edgewise eval``'s keys (``split``,
        ``num_cases``, ``classes``, ``tolerance_mm``, ``tolerances_mm``,
        ``extra_metrics``, ``metrics``, ``mean``, ``n_inf``) with, in place of the run and
        checkpoint, ``predictions``, ``pattern``, ``data``, ``data_root``, ``options``,
        ``files`` (case -> file, relative to ``predictions``) and ``unused_files``.
    """
    from edgewise.training.components import _torch_threads
    from edgewise.training.config import evaluation_option, resolve_num_threads
    from edgewise.training.evaluation import _case_metrics, _relative, _summarize, check_outside_data, metric_names

    folder = Path(predictions).resolve()
    if not folder.is_dir():
        raise FileNotFoundError(f"expected a folder of prediction files, got {predictions}")
    out_dir = Path(output_dir)
    if out_dir.resolve() == folder:
        raise ValueError(f"the results would replace the predictions in {folder}; choose another "
                         "output folder")
    check_outside_data(out_dir, data_root)
    check_dir(out_dir, "score", what="score folder")  # before any reading
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) \
            or not math.isfinite(tolerance) or tolerance < 0:
        raise ValueError(f"expected tolerance to be a finite number >= 0 (mm), got {tolerance!r}")
    sweep = [float(t) for t in evaluation_option("tolerances", list(tolerances))] if tolerances else []
    extra = evaluation_option("metrics", list(metrics)) if metrics else []
    ranking = [m for m in extra if METRIC_SPECS[m].needs_probabilities]
    if ranking:
        raise ValueError(f"expected metrics without {', '.join(ranking)}: a folder of label masks "
                         "has no probabilities to rank")
    if isinstance(overlays, bool) or not isinstance(overlays, int) or overlays < 0:
        raise ValueError(f"expected overlays to be an integer >= 0, got {overlays!r}")
    from edgewise.data.image_files import check_label_map

    label_map = check_label_map(label_map)
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ValueError(f"expected threads to be a positive integer, got {threads!r}")
    if threads is None:
        threads = resolve_num_threads("auto", 0)[0]
    data_root = Path(data_root).resolve()
    dataset = _reference(data, split, data_root, options or {})
    num_classes = int(dataset.num_classes)
    files, unused = match_predictions(folder, dataset.case_ids, pattern, case_regex)
    names = metric_names(sweep, extra)

    cases: list[dict[str, Any]] = []
    scores = []
    with _torch_threads(threads):
        for ci, case_id in enumerate(dataset.case_ids):
            vol = dataset.volume(ci)  # the stored grid: no size, so nothing is resized
            case: dict[str, Any] = {
                "case": case_id,
                "pred": _read_prediction(files[case_id], tuple(vol.label.shape), num_classes,
                                         label_map, case_id),
                "label": torch.from_numpy(np.ascontiguousarray(vol.label, dtype=np.int64))[None],
                "spacing": torch.tensor(vol.spacing, dtype=torch.float32),
            }
            if vol.mask is not None:
                case["mask"] = torch.from_numpy(np.ascontiguousarray(vol.mask, dtype=bool))[None]
            scores.append(_case_metrics(case, num_classes, float(tolerance), sweep, extra))
            if len(cases) < overlays:
                case["image"] = torch.from_numpy(vol.image)
                cases.append(case)
    class_names = list(dataset.class_names)[1:]
    table, scored = _summarize(dataset.case_ids, scores, class_names, names)
    summary: dict[str, Any] = {
        "predictions": str(folder), "pattern": pattern, "data": data,
        "data_root": str(data_root), "options": dict(options or {}), "split": split,
        "num_cases": len(dataset.case_ids),
        **({"label_map": {str(k): int(v) for k, v in label_map.items()}} if label_map else {}),
        "files": {c: files[c].relative_to(folder).as_posix() for c in dataset.case_ids},
        "unused_files": len(unused),
        "classes": class_names, "tolerance_mm": float(tolerance), "tolerances_mm": sweep,
        "extra_metrics": list(extra), **scored,
    }
    with staged_dir(out_dir, "score", what="score folder") as tmp:
        atomic_write_text(tmp / "per_case.csv", table)
        if cases:
            from edgewise.training.plots import save_overlays

            summary["overlays"] = [_relative(out_dir / p.relative_to(tmp), out_dir)
                                   for p in save_overlays(cases, tmp / "overlays")]
        atomic_write_json(tmp / "summary.json", summary)
    return summary
