"""The demo: cross-entropy vs cross-entropy + boundary loss on the built-in synthetic vessels.

Nothing is downloaded: the data come from :mod:`edgewise.data.synthetic`. The default
settings train two small U-Nets in about two minutes on a 2-core CPU; ``fast=True`` is a
seconds-long smoke version (a few seconds of training after the imports).
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edgewise._io import atomic_write_text, staged_dir
from edgewise.metrics.registry import EVALUATED_METRICS, METRIC_SPECS
from edgewise.training.config import validate_config

__all__ = ["DEMO_CONFIG", "DEMO_VARIANTS", "demo_configs", "run_demo", "format_table"]

#: The demo's base run (cross-entropy); ``configs/demo.yaml`` is the same configuration.
DEMO_CONFIG: dict[str, Any] = {
    "name": "demo_ce",
    "seed": 0,
    "data": {
        "name": "synthetic",
        "options": {"n": 64, "n_val": 16, "shape": [96, 96], "kind": "vessels", "seed": 0},
        "train_split": "train",
        "val_split": "val",
        "test_split": "test",
        "batch_size": 8,
        "num_workers": 0,
    },
    "model": {"name": "unet", "args": {"base_channels": 16, "depth": 3}},
    "loss": {"terms": [{"name": "ce", "weight": 1.0}]},
    "optimizer": {"name": "adam", "lr": 3e-3, "betas": [0.9, 0.99]},
    "scheduler": {"name": "none"},
    # One thread: the demo's convolutions are small (see run_demo's ``threads``).
    "trainer": {"max_epochs": 20, "accelerator": "cpu", "devices": 1, "log_every_n_steps": 4,
                "num_threads": 1},
    "validation": {"hd95": False},
    "evaluation": {"checkpoint": "best", "tolerance": 1.0, "overlays": 3},
}

#: label -> loss section. The boundary term follows LIVIAETS's rebalancing (StealWeight),
#: with a faster step than the papers' 0.01 so it matters within the demo's few epochs.
DEMO_VARIANTS: dict[str, dict[str, Any]] = {
    "ce": {"terms": [{"name": "ce", "weight": 1.0}]},
    "ce_boundary": {
        "terms": [{"name": "ce", "weight": 1.0}, {"name": "boundary", "weight": 0.01}],
        "schedule": {"name": "rebalance", "step": 0.03},
    },
}

# Smallest setting whose CE run still segments (test Dice ~0.8 at seed 0): with 4
# channels or 2 epochs the network predicts only background and every metric is empty.
_FAST = [
    ("data.options", {"n": 12, "n_val": 4, "shape": [32, 32], "kind": "vessels", "seed": 0}),
    ("model.args", {"base_channels": 8, "depth": 2}),
    ("optimizer.lr", 1e-2),
    ("trainer.max_epochs", 8),
    ("trainer.log_every_n_steps", 1),
    ("data.batch_size", 4),
    ("evaluation.overlays", 2),
]


def _set(cfg: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = cfg
    for p in parents:
        node = node[p]
    node[last] = copy.deepcopy(value)


def demo_configs(fast: bool = False, epochs: int | None = None, seed: int = 0) -> dict[str, dict]:
    """Resolved configurations of the demo runs, by label (``"ce"``, ``"ce_boundary"``)."""
    out = {}
    for label, loss in DEMO_VARIANTS.items():
        cfg = copy.deepcopy(DEMO_CONFIG)
        cfg["name"] = f"demo_{label}"
        cfg["loss"] = copy.deepcopy(loss)
        cfg["seed"] = seed
        if fast:
            for key, value in _FAST:
                _set(cfg, key, value)
        if epochs is not None:
            cfg["trainer"]["max_epochs"] = int(epochs)
        out[label] = validate_config(cfg)
    return out


# the evaluated metrics with their report labels, at the demo's evaluation.tolerance of 1 mm
_COLUMNS = tuple((m, METRIC_SPECS[m].label + ("@1" if METRIC_SPECS[m].needs_tolerance else ""))
                 for m in EVALUATED_METRICS)

#: what each demo run is, for the printed progress and the report.
DEMO_DESCRIPTIONS = {
    "ce": "cross-entropy",
    "ce_boundary": "cross-entropy + boundary loss",
}

_PARTIAL = "*"


def _cell(summary: Mapping[str, Any], metric: str) -> str:
    value = summary["mean"][metric]
    if value is None:
        return "n/a"
    stats = summary.get("metrics", {}).get(metric, {}).values()
    partial = any(s["n_finite"] < s["n"] for s in stats)
    return f"{value:.3f}" + (_PARTIAL if partial else "")


def format_table(summaries: Mapping[str, Mapping[str, Any]], markdown: bool = False) -> str:
    """Comparison table of evaluate() summaries (foreground means).

    A mean over fewer cases than the test set (a distance is infinite where a prediction
    is empty) is marked with ``*`` and explained below the table; ``n/a``: no finite value.
    """
    cells = {label: [_cell(s, k) for k, _ in _COLUMNS] for label, s in summaries.items()}
    if markdown:
        lines = ["| loss | " + " | ".join(h for _, h in _COLUMNS) + " |",
                 "|---|" + "---:|" * len(_COLUMNS)]
        lines += [f"| {label} | " + " | ".join(row) + " |" for label, row in cells.items()]
    else:
        lines = [f"{'loss':<14}" + "".join(f"{h:>9}" for _, h in _COLUMNS)]
        lines += [f"{label:<14}" + "".join(f"{c:>9}" for c in row) for label, row in cells.items()]
    if any(c.endswith(_PARTIAL) for row in cells.values() for c in row):
        lines.append(("\n" if markdown else "")
                     + f"{_PARTIAL} mean over the test images where the value is finite "
                     "(an empty prediction has no surface distance)")
    return "\n".join(lines)


def _comparison_figure(run_dirs: Mapping[str, Path], path: Path, n_cases: int) -> Path | None:
    import torch

    from edgewise.training.datamodule import build_split
    from edgewise.training.plots import _pyplot, _save_figure, overlay_panels
    from edgewise.training.evaluation import _case_metrics
    from edgewise.training.prediction import _predict_cases, load_run

    predictions: dict[str, list[dict[str, Any]]] = {}
    num_classes = 2
    tolerance = 1.0
    for label, run_dir in run_dirs.items():
        cfg, module, _ = load_run(run_dir, _checkpoint_of(run_dir))
        ds = build_split(cfg["data"], cfg["data"]["test_split"], role="test")
        num_classes = int(ds.num_classes)
        tolerance = cfg["evaluation"]["tolerance"]
        sub = torch.utils.data.Subset(ds, range(min(n_cases, len(ds))))
        sub.mode = getattr(ds, "mode", "whole")  # type: ignore[attr-defined]
        predictions[label] = _predict_cases(module, sub, 8, None, torch.device("cpu"))
    labels = list(predictions)
    if not labels or not predictions[labels[0]]:
        return None
    plt = _pyplot()
    n = len(predictions[labels[0]])
    ncols = 2 + len(labels)
    fig, axes = plt.subplots(n, ncols, figsize=(3.2 * ncols, 3.4 * n), squeeze=False,
                             layout="constrained")
    for i in range(n):
        base = overlay_panels(predictions[labels[0]][i])
        axes[i, 0].imshow(base["image"], cmap="gray")
        axes[i, 1].imshow(base["ground truth"], cmap="gray", interpolation="nearest")
        titles = [f"{predictions[labels[0]][i]['case']}", "ground truth"]
        for j, label in enumerate(labels):
            case = predictions[label][i]
            axes[i, 2 + j].imshow(overlay_panels(case)["errors"], interpolation="nearest")
            m = _case_metrics(case, num_classes, tolerance)
            titles.append(f"{label}: Dice {float(m['dice'].mean()):.3f}, "
                          f"HD95 {float(m['hd95'].mean()):.1f}")
        for j, ax in enumerate(axes[i]):
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(titles[j], fontsize=9)
    fig.suptitle("Test images. Errors: green = correct vessel, red = false positive, "
                 "blue = missed vessel (HD95 in pixels)", fontsize=10)
    return _save_figure(fig, path)


def _checkpoint_of(run_dir: Path) -> str:
    """The checkpoint a run's evaluation uses (``evaluation.checkpoint`` of its config)."""
    from edgewise.training.config import load_config

    return str(load_config(run_dir / "config.yaml")["evaluation"]["checkpoint"])


_CURVES = {
    "train/ce": "training cross-entropy term",
    "val/dice": "validation Dice (vessel)",
    "weight/boundary": "boundary-loss weight (schedule)",
}


def run_demo(
    output: str | os.PathLike = "demo_report",
    *,
    fast: bool = False,
    epochs: int | None = None,
    seed: int = 0,
    progress_bar: bool = True,
    threads: int | None = 1,
) -> tuple[Path, dict[str, dict[str, Any]]]:
    """Train and evaluate the demo runs and write the report folder.

    The report is built in a temporary sibling folder and moved into place at the end,
    so a failed demo leaves an earlier report untouched. An existing ``output`` is
    replaced only when it is an earlier demo report (edgewise's marker, no files added
    since); any other non-empty folder is refused before the demo starts.

    Args:
        output: the report folder (replaced when the demo finishes).
        fast: tiny smoke version (seconds; numbers not comparable to the full demo).
        epochs: epochs per run instead of the default (20, or 8 with ``fast``).
        seed: seed of both runs.
        progress_bar: show Lightning's progress bar.
        threads: torch intra-op threads while the demo runs (restored afterwards);
            ``None`` chooses as ``trainer.num_threads: auto`` does. The demo's
            convolutions are small:
            a second thread gains little, and on a machine busy with other jobs
            threads waiting for each other made each training step up to 25 times
            slower in our measurements.

    Returns:
        ``(report_dir, {label: evaluate() summary})``.

    Raises:
        FileExistsError: ``output`` is a folder edgewise may not replace.
    """
    import torch

    from edgewise.training.plots import plot_learning_curves
    from edgewise.training.components import lightning_output
    from edgewise.training.evaluation import evaluate
    from edgewise.training.trainer import train

    if threads is not None and threads < 1:
        raise ValueError(f"expected threads >= 1 or None, got {threads}")
    output = Path(output).resolve()
    start = time.perf_counter()
    cpu_start = time.process_time()
    previous_threads = torch.get_num_threads()
    with staged_dir(output, "demo", what="demo report folder", adopt=_is_old_report) as partial:
        try:
            if threads is not None:
                torch.set_num_threads(threads)
            configs = demo_configs(fast=fast, epochs=epochs, seed=seed)
            summaries: dict[str, dict[str, Any]] = {}
            run_dirs: dict[str, Path] = {}
            for i, (label, cfg) in enumerate(configs.items(), 1):
                cfg["trainer"]["enable_progress_bar"] = progress_bar
                cfg["trainer"]["num_threads"] = "auto" if threads is None else threads
                print(f"[demo] {i}/{len(configs)} training `{label}` "
                      f"({DEMO_DESCRIPTIONS.get(label, label)}), "
                      f"{cfg['trainer']['max_epochs']} epochs", flush=True)
                run_dirs[label] = train(cfg, output_dir=partial / "runs" / label, verbose=False)
                with lightning_output(info=False):
                    summaries[label] = evaluate(run_dirs[label], split="test")
                print(f"[demo] `{label}` test Dice {_cell(summaries[label], 'dice')}", flush=True)
            print("[demo] writing the report", flush=True)
            plot_learning_curves({k: v / "metrics.csv" for k, v in run_dirs.items()},
                                 partial / "learning_curves.png", keys=tuple(_CURVES),
                                 titles=_CURVES)
            _comparison_figure(run_dirs, partial / "overlays.png",
                               n_cases=configs["ce"]["evaluation"]["overlays"])
            timing = {"wall_s": time.perf_counter() - start,
                      "cpu_s": time.process_time() - cpu_start,
                      "threads": torch.get_num_threads()}
            atomic_write_text(partial / "report.md",
                              _report_markdown(configs, summaries, timing, fast))
        finally:
            torch.set_num_threads(previous_threads)
    return output, summaries


def _is_old_report(folder: Path) -> bool:
    """A report of an edgewise that did not mark its folders: only the demo's files, and
    its report.md."""
    names = {p.name for p in folder.iterdir()}
    if not names <= {"report.md", "learning_curves.png", "overlays.png", "runs"}:
        return False
    try:
        return (folder / "report.md").read_text().startswith("# edgewise demo")
    except OSError:
        return False


def _report_markdown(configs: Mapping[str, Mapping[str, Any]],
                     summaries: Mapping[str, Mapping[str, Any]], timing: Mapping[str, float],
                     fast: bool) -> str:
    cfg = configs["ce"]
    opts = cfg["data"]["options"]
    ev = next(iter(summaries.values()))
    bl = configs["ce_boundary"]["loss"]
    w0 = [t["weight"] for t in bl["terms"]]
    step = bl["schedule"]["step"]
    epochs = cfg["trainer"]["max_epochs"]
    floor = bl["schedule"].get("floor", 0.1)
    w_end = [max(floor, w0[0] - step * (epochs - 1)), w0[1] + step * (epochs - 1)]
    tol = cfg["evaluation"]["tolerance"]
    fast_note = ("**Fast mode**: a smoke test on tiny images and a tiny network; the numbers "
                 "only show that the pipeline works, not how the losses compare.\n\n"
                 if fast else "")
    return f"""# edgewise demo: cross-entropy vs cross-entropy + boundary loss

{fast_note}## What was compared

Two U-Nets, identical except for the training loss, segment thin vessel trees (the
structures boundary losses were designed for: a few percent of the pixels, twigs one
pixel wide):

- `ce`: cross-entropy alone.
- `ce_boundary`: cross-entropy + boundary loss (Kervadec et al., MIDL 2019): the
  softmax output weighted by the signed distance to the true vessel boundary, averaged
  over pixels, so predicted vessel far from any true vessel costs more. Weights (CE,
  boundary) start at {w0}; each epoch the boundary weight gains {step} and CE
  gives the same amount up (LIVIAETS rebalancing), ending at
  [{w_end[0]:.2f}, {w_end[1]:.2f}].

Data: built-in synthetic vessel trees (`edgewise.data.SyntheticDataset`, kind
`{opts['kind']}`, Gaussian noise, smooth bias field), {opts['shape'][0]}x{opts['shape'][1]} pixels:
{opts['n']} training, {opts['n_val']} validation and {ev['num_cases']} test images; nothing is downloaded.

Training: UNet {cfg['model']['args']}, Adam lr {cfg['optimizer']['lr']},
batch {cfg['data']['batch_size']}, {epochs} epochs, seed {cfg['seed']}; the checkpoint with
the best validation Dice is evaluated.

## Results on the test images

Mean over test images of the vessel class:

{format_table(summaries, markdown=True)}

- Dice: overlap (1 = perfect).
- HD95: 95th percentile of the distances between predicted and true boundaries, in
  pixels (0 = perfect); ASSD: their mean.
- NSD@{tol:g} (normalised surface Dice) and BF1@{tol:g} (boundary F1): fraction of
  boundary within {tol:g} pixel of the other boundary (1 = perfect).

One seed on a small synthetic set: differences in the third decimal are noise. Run it
with `--seed` to see the spread, or train longer with `--epochs`.

![learning curves](learning_curves.png)

Left: the cross-entropy term during training (unweighted, for both runs); middle:
validation Dice after each epoch; right: the boundary-loss weight of `ce_boundary`.

![test predictions](overlays.png)

## Files

Each run folder (`runs/<loss>/`) holds `config.yaml` (reproduce a run with
`edgewise train --config runs/<loss>/config.yaml`), `metrics.csv`, TensorBoard logs
(`tensorboard --logdir runs`), `checkpoints/` and `eval_test/`: `per_case.csv` (metrics
per test image), `summary.json` and `overlays/`.

Total time: {timing['wall_s']:.0f} s wall, {timing['cpu_s']:.0f} s CPU \
({timing['threads']} torch thread{'s' if timing['threads'] != 1 else ''}).
"""
