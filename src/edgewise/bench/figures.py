"""Figures of a bench report (matplotlib, Agg backend, PNG files)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgewise.bench.results import MEAN, BenchResults, case_means, metric_info

__all__ = ["box_plots", "differences", "learning_curves", "line_style", "overlay_grid", "overlay_seed",
           "panel_grid", "symlog_threshold"]


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


_LINESTYLES = ("-", "--", ":", "-.")


def line_style(i: int) -> dict[str, str]:
    """Colour and line style of the ``i``-th loss: the ten default colours, then the same
    colours dashed, dotted, ...: a grid has more arms than the colour cycle (ACDC: 11)."""
    return {"color": f"C{i % 10}", "linestyle": _LINESTYLES[(i // 10) % len(_LINESTYLES)]}


def symlog_threshold(curves: list[np.ndarray]) -> float | None:
    """A linear range for a ``symlog`` axis when one curve spans far more than the others.

    Loss values of different losses are on their own scales (a boundary term goes to -24
    where a Dice term stays in [0, 1]): on a linear axis the largest flattens the rest. When
    the largest curve's magnitude is over 10 times the median curve's, the power of ten at or
    below the median magnitude is returned as the threshold below which the axis stays linear
    (a round threshold keeps the tick labels apart); else ``None``.
    """
    sizes = [float(np.nanmax(np.abs(c))) for c in curves if np.isfinite(c).any()]
    sizes = [v for v in sizes if v > 0]
    if len(sizes) < 2:
        return None
    median = float(np.median(sizes))
    return 10.0 ** math.floor(math.log10(median)) if max(sizes) > 10 * median else None


def learning_curves(results: BenchResults, dataset: str, path: Path) -> Path | None:
    """Validation Dice and training/validation loss against epoch, one line per loss.

    Lines are the mean over seeds at each epoch; the band is ± one standard deviation. A loss
    panel where one loss's values dwarf the others' gets a ``symlog`` axis
    (:func:`symlog_threshold`).
    """
    panels = [("val/dice", "validation Dice"), ("train/loss", "training loss"), ("val/loss", "validation loss")]
    losses = results.losses(dataset)
    have = [(k, t) for k, t in panels if any(k in r.curves for r in results.runs if r.dataset == dataset)]
    if not have:
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, len(have), figsize=(4.2 * len(have), 3.4), squeeze=False)
    for ax, (key, title) in zip(axes[0], have):
        means = []
        for i, loss in enumerate(losses):
            series = [r.curves[key] for r in results.runs_of(dataset, loss) if key in r.curves]
            if not series:
                continue
            epochs = sorted(set().union(*series))
            table = np.array([[s.get(e, math.nan) for e in epochs] for s in series])
            with np.errstate(invalid="ignore"):
                mean = np.nanmean(table, axis=0)
                std = np.nanstd(table, axis=0)
            x = np.asarray(epochs) + 1
            style = line_style(i)
            ax.plot(x, mean, label=loss, lw=1.5, **style)
            if len(series) > 1:
                ax.fill_between(x, mean - std, mean + std, color=style["color"], alpha=0.2, lw=0)
            means.append(mean)
        threshold = symlog_threshold(means) if key != "val/dice" else None
        if threshold is not None:
            ax.set_yscale("symlog", linthresh=threshold)
            title += " (symlog)"
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


# widest figure, in inches: a page's text width at the report's 100 dpi, about 1200 pixels
_PAGE_WIDTH = 12.0


def panel_grid(n_panels: int, panel_width: float, panel_height: float) -> tuple[int, int, tuple[float, float]]:
    """``(rows, columns, figsize)`` of a grid of ``n_panels`` that fits a page's width: as
    many columns (at most 3) as fit in :data:`_PAGE_WIDTH` inches, each panel at least 3
    inches wide.

    Example:
        >>> panel_grid(5, 3.5, 3.0)
        (2, 3, (10.5, 6.0))
        >>> panel_grid(5, 6.0, 4.0)[:2]
        (3, 2)
    """
    width = min(max(panel_width, 3.0), _PAGE_WIDTH)
    cols = max(1, min(3, n_panels, int(_PAGE_WIDTH // width)))
    rows = math.ceil(n_panels / cols)
    return rows, cols, (round(width * cols, 2), round(panel_height * rows, 2))


def box_plots(results: BenchResults, dataset: str, path: Path) -> Path | None:
    """One panel per metric, in a grid that fits a page's width: per-case values (foreground
    mean, averaged over seeds) per loss."""
    metrics = results.metrics(sweep=False)
    losses = [loss for loss in results.losses(dataset) if results.runs_of(dataset, loss)]
    if not metrics or not losses:
        return None
    plt = _plt()
    rows, cols, size = panel_grid(len(metrics), 0.35 * len(losses) + 1.4, 3.4)
    fig, axes = plt.subplots(rows, cols, figsize=size, squeeze=False)
    for ax, metric in zip(axes.flat, metrics):
        data = []
        for loss in losses:
            v = np.asarray(list(case_means(results.runs_of(dataset, loss), metric, MEAN).values()))
            data.append(v[np.isfinite(v)])
        ax.boxplot(data, showmeans=True)
        ax.set_xticks(range(1, len(losses) + 1), losses, rotation=30, ha="right", fontsize=8)
        label, higher = metric_info(metric)
        ax.set_title(f"{label} ({'higher' if higher else 'lower'} is better)", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def differences(results: BenchResults, rows: Sequence[Mapping[str, Any]], dataset: str, path: Path,
                alpha: float = 0.05) -> Path | None:
    """Forest plot of each loss's difference from the baseline (foreground mean), one panel
    per metric in a grid that fits a page's width: the difference and its 95% interval over
    subjects and seeds, as ``summary.csv`` has them (``mean_diff``, ``ci_low``, ``ci_high``).

    Filled markers: Holm-adjusted p below ``alpha`` (green better, red worse); hollow grey:
    no difference detected, or a distance whose mean leaves out more infinite values than the
    baseline's. The intervals are per comparison (not adjusted), so one may exclude 0 without
    a filled marker when the report holds many comparisons. Reference rows stay out. Returns
    ``None`` when nothing was compared.
    """
    metrics = results.metrics(sweep=False)
    index = {(r["loss"], r["metric"]): r for r in rows
             if r["dataset"] == dataset and r["class"] == MEAN and not r["reference"]}
    losses = [loss for loss in results.losses(dataset)
              if any(math.isfinite(index[(loss, m)]["mean_diff"]) for m in metrics if (loss, m) in index)]
    if not metrics or not losses:
        return None
    baseline = next(iter(index.values()))["baseline"]
    plt = _plt()
    rows_, cols, size = panel_grid(len(metrics), 4.0, 0.32 * len(losses) + 1.5)
    fig, axes = plt.subplots(rows_, cols, figsize=size, squeeze=False)
    y = np.arange(len(losses))[::-1]
    for ax, metric in zip(axes.flat, metrics):
        label, higher = metric_info(metric)
        base = index.get((baseline, metric))
        for yi, loss in zip(y, losses):
            r = index.get((loss, metric))
            if r is None or not math.isfinite(r["mean_diff"]):
                continue
            d, lo, hi, p = r["mean_diff"], r["ci_low"], r["ci_high"], r["p_holm"]
            comparable = base is None or r["n_inf"] <= base["n_inf"]
            significant = comparable and math.isfinite(p) and p < alpha and d != 0
            color = ("tab:green" if (d > 0) == higher else "tab:red") if significant else "0.45"
            if math.isfinite(lo) and math.isfinite(hi):
                ax.plot([lo, hi], [yi, yi], color=color, lw=2, solid_capstyle="butt")
            ax.plot([d], [yi], "o", ms=6, color=color, mfc=color if significant else "white", mew=1.5)
        ax.axvline(0.0, color="black", lw=0.8)
        ax.set_yticks(y, losses, fontsize=8)
        ax.set_ylim(-0.7, len(losses) - 0.3)
        ax.set_title(f"Δ {label} vs {baseline} ({'higher' if higher else 'lower'} is better)", fontsize=9)
        ax.tick_params(axis="x", labelsize=8)
        ax.grid(axis="x", alpha=0.3)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    fig.suptitle("Difference from the baseline over subjects and seeds with its 95% interval (per comparison); "
                 "filled: Holm-adjusted p < 0.05", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def overlay_seed(results: BenchResults, dataset: str) -> int:
    """The seed whose predictions the overlay grid shows: the smallest one every loss has."""
    per_loss = [{r.seed for r in results.runs_of(dataset, loss)} for loss in results.losses(dataset)]
    common = set.intersection(*[s for s in per_loss if s]) if any(per_loss) else set()
    return min(common) if common else min(r.seed for r in results.runs if r.dataset == dataset)


def overlay_grid(results: BenchResults, dataset: str, path: Path, n_cases: int) -> Path | None:
    """Rows: test cases, each with a prediction row and an error-map row; columns: image,
    ground truth, then each loss at the seed :func:`overlay_seed` picks.

    Predictions come from each run's best checkpoint (see
    :mod:`edgewise.bench.predictions`); returns ``None`` when there are none.
    """
    from edgewise.bench.predictions import load_predictions

    seed = overlay_seed(results, dataset)
    losses = results.losses(dataset)
    preds = {}
    for loss in losses:
        run = next((r for r in results.runs_of(dataset, loss) if r.seed == seed), None)
        if run is not None:
            preds[loss] = load_predictions(run.path, n_cases)
    preds = {k: v for k, v in preds.items() if v}
    if not preds:
        return None
    cases = [c for c in next(iter(preds.values())) if all(c in p for p in preds.values())][:n_cases]
    if not cases:
        return None
    plt = _plt()
    first = next(iter(preds.values()))
    n_classes = 1 + max(
        int(max(p[c]["ground truth"].max(), p[c]["prediction"].max())) for p in preds.values() for c in cases
    )
    cmap = plt.get_cmap("tab10", max(n_classes, 2))
    cols = 2 + len(losses)
    fig, axes = plt.subplots(2 * len(cases), cols, figsize=(2.2 * cols, 4.4 * len(cases)), squeeze=False)
    for row, case in enumerate(cases):
        image = first[case]["image"].astype(np.float32)
        top, bottom = axes[2 * row], axes[2 * row + 1]
        _show(top[0], image, None, cmap, f"{case}: image")
        _show(top[1], image, first[case]["ground truth"], cmap, "ground truth")
        for ax in bottom[:2]:
            ax.axis("off")
        for j, loss in enumerate(losses, start=2):
            if loss not in preds:
                top[j].axis("off")
                bottom[j].axis("off")
                continue
            _show(top[j], image, preds[loss][case]["prediction"], cmap, loss)
            bottom[j].imshow(preds[loss][case]["errors"], interpolation="nearest")
            bottom[j].set_title("errors", fontsize=8)
            bottom[j].axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _show(ax: Any, image: np.ndarray, mask: np.ndarray | None, cmap: Any, title: str) -> None:
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None, interpolation="nearest")
    if mask is not None:
        rgba = cmap(mask.astype(int))
        rgba[..., 3] = np.where(mask > 0, 0.55, 0.0)
        ax.imshow(rgba, interpolation="nearest")
    ax.set_title(title, fontsize=8)
    ax.axis("off")
