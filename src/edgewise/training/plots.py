"""Figures for evaluations and the demo: prediction overlays and learning curves (Agg)."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgewise._io import atomic_write

__all__ = ["save_overlays", "overlay_panels", "plot_learning_curves", "plot_run_curves",
           "read_epoch_metrics"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save_figure(fig: Any, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    _pyplot().close(fig)
    return atomic_write(path, lambda f: f.write(buf.getvalue()))


def _to_2d(case: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Image (H, W[, 3]), label, pred, mask as 2D arrays; 3D cases at their most-foreground slice."""
    image = np.asarray(case["image"], dtype=np.float32)
    label = np.asarray(case["label"])[0]
    pred = np.asarray(case["pred"])[0]
    mask = np.asarray(case["mask"])[0] if case.get("mask") is not None else None
    if label.ndim == 3:
        k = int(np.argmax((label > 0).reshape(label.shape[0], -1).sum(1)))
        image, label, pred = image[:, k], label[k], pred[k]
        mask = None if mask is None else mask[k]
    if image.shape[0] == 3:
        img = np.moveaxis(image, 0, -1)
    else:
        img = image[0]
    lo, hi = np.percentile(img, [1, 99]) if img.size else (0.0, 1.0)
    img = np.clip((img - lo) / (hi - lo + 1e-8), 0, 1)
    return {"image": img, "label": label, "pred": pred, "mask": mask}


def overlay_panels(case: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The four panels of an overlay: image, ground truth, prediction, error map (RGB).

    Error map: correct foreground green, false positives red, false negatives blue,
    outside the evaluation mask dark grey.
    """
    d = _to_2d(case)
    label, pred, mask = d["label"], d["pred"], d["mask"]
    if mask is not None:
        label = np.where(mask, label, 0)
        pred = np.where(mask, pred, 0)
    err = np.zeros((*label.shape, 3), dtype=np.float32)
    err[(pred > 0) & (pred == label)] = (0.1, 0.8, 0.1)
    err[(pred > 0) & (pred != label)] = (0.9, 0.1, 0.1)
    err[(pred == 0) & (label > 0)] = (0.1, 0.3, 1.0)
    if mask is not None:
        err[~mask] = (0.2, 0.2, 0.2)
    return {"image": d["image"], "ground truth": label, "prediction": pred, "errors": err}


def save_overlays(cases: Sequence[Mapping[str, Any]], folder: str | Path) -> list[Path]:
    """One PNG per case (image, ground truth, prediction, error map) in ``folder``."""
    plt = _pyplot()
    folder = Path(folder)
    paths = []
    for case in cases:
        panels = overlay_panels(case)
        ncls = max(int(np.max(panels["ground truth"])), int(np.max(panels["prediction"])), 1)
        fig, axes = plt.subplots(1, 4, figsize=(13, 3.6))
        for ax, (title, arr) in zip(axes, panels.items()):
            if title in ("ground truth", "prediction"):
                ax.imshow(arr, cmap="viridis", vmin=0, vmax=ncls, interpolation="nearest")
            else:
                ax.imshow(arr, cmap="gray" if arr.ndim == 2 else None, interpolation="nearest")
            ax.set_title(title)
            ax.axis("off")
        fig.suptitle(str(case["case"]))
        safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in str(case["case"]))
        paths.append(_save_figure(fig, folder / f"{safe}.png"))
    return paths


def read_epoch_metrics(metrics_csv: str | Path) -> dict[str, dict[int, float]]:
    """Epoch-level series from a Lightning ``metrics.csv``: ``{column: {epoch: value}}``."""
    series: dict[str, dict[int, float]] = {}
    with Path(metrics_csv).open(newline="") as f:
        for row in csv.DictReader(f):
            if not row.get("epoch"):
                continue
            epoch = int(float(row["epoch"]))
            for key, value in row.items():
                if key in ("epoch", "step") or value in ("", None) or key.endswith("_step"):
                    continue
                try:
                    x = float(value)
                except ValueError:
                    continue
                if math.isfinite(x):
                    series.setdefault(key, {})[epoch] = x
    return series


def plot_learning_curves(
    runs: Mapping[str, str | Path], path: str | Path,
    keys: Sequence[str] = ("train/loss_epoch", "val/dice"),
    titles: Mapping[str, str] | None = None,
) -> Path:
    """One panel per metric key, one line per run (``{label: metrics.csv}``).

    ``titles`` maps a key to its panel title (default: the key). Runs without a key
    are left out of its panel; a panel no run has says so.
    """
    from matplotlib.ticker import MaxNLocator

    plt = _pyplot()
    titles = dict(titles or {})
    data = {label: read_epoch_metrics(p) for label, p in runs.items()}
    fig, axes = plt.subplots(1, len(keys), figsize=(5.0 * len(keys), 3.8), squeeze=False)
    for ax, key in zip(axes[0], keys):
        drawn = False
        for label, series in data.items():
            s = series.get(key, {})
            if s:
                epochs = sorted(s)
                ax.plot([e + 1 for e in epochs], [s[e] for e in epochs], marker=".", label=label)
                drawn = True
        ax.set_title(titles.get(key, key))
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if drawn:
            ax.legend()
        else:
            ax.text(0.5, 0.5, "not logged", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    return _save_figure(fig, Path(path))


def plot_run_curves(metrics_csv: str | Path, path: str | Path) -> Path:
    """Learning curves of one run per epoch: training and validation loss, validation Dice
    (foreground mean and each class) and, when logged, validation HD95.

    A panel with nothing logged (no validation) says so.
    """
    from matplotlib.ticker import MaxNLocator

    plt = _pyplot()
    series = read_epoch_metrics(metrics_csv)
    per_class = sorted(k for k in series if k.startswith("val/dice_"))
    panels = [
        ("loss", [("train/loss_epoch", "training"), ("val/loss", "validation")]),
        ("validation Dice", [("val/dice", "foreground mean"),
                             *((k, k.removeprefix("val/dice_")) for k in per_class)]),
    ]
    if "val/hd95" in series:
        panels.append(("validation HD95", [("val/hd95", "foreground mean")]))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.0 * len(panels), 3.8), squeeze=False)
    for ax, (title, lines) in zip(axes[0], panels):
        drawn = False
        for key, label in lines:
            s = series.get(key, {})
            if s:
                epochs = sorted(s)
                ax.plot([e + 1 for e in epochs], [s[e] for e in epochs], marker=".", label=label)
                drawn = True
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if drawn:
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, "not logged", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    return _save_figure(fig, Path(path))
