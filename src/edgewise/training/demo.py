"""The demo: cross-entropy vs cross-entropy + boundary loss on the built-in synthetic vessels.

Nothing is downloaded: the data come from :mod:`edgewise.data.synthetic`. The default
settings train two small U-Nets in a few minutes on a 2-core CPU; ``fast=True`` is a
seconds-long smoke version.
"""

from __future__ import annotations

import copy
import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edgewise.training._io import atomic_write_text
from edgewise.training.config import validate_config

__all__ = ["DEMO_CONFIG", "DEMO_VARIANTS", "demo_configs", "run_demo", "format_table"]

#: The demo's base run (cross-entropy); ``configs/demo.yaml`` is the same configuration.
DEMO_CONFIG: dict[str, Any] = {
    "name": "demo_ce",
    "seed": 0,
    "data": {
        "name": "synthetic",
        "options": {"n": 48, "n_val": 12, "shape": [64, 64], "kind": "vessels", "seed": 0},
        "train_split": "train",
        "val_split": "val",
        "test_split": "test",
        "batch_size": 8,
        "num_workers": 0,
    },
    "model": {"name": "unet", "args": {"base_channels": 8, "depth": 3}},
    "loss": {"terms": [{"name": "ce", "weight": 1.0}]},
    "optimizer": {"name": "adam", "lr": 3e-3, "betas": [0.9, 0.99]},
    "scheduler": {"name": "none"},
    "trainer": {"max_epochs": 20, "accelerator": "cpu", "devices": 1, "log_every_n_steps": 2},
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

_FAST = [
    ("data.options", {"n": 12, "n_val": 4, "shape": [32, 32], "kind": "vessels", "seed": 0}),
    ("model.args", {"base_channels": 4, "depth": 2}),
    ("trainer.max_epochs", 2),
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


_COLUMNS = (("dice", "Dice"), ("hd95", "HD95"), ("assd", "ASSD"), ("nsd", "NSD@1"),
            ("boundary_f1", "BF1@1"))


def format_table(summaries: Mapping[str, Mapping[str, Any]], markdown: bool = False) -> str:
    """Comparison table of evaluate() summaries (foreground means)."""
    def cell(x: Any) -> str:
        return "n/a" if x is None else f"{x:.3f}"

    if markdown:
        lines = ["| loss | " + " | ".join(h for _, h in _COLUMNS) + " |",
                 "|---|" + "---:|" * len(_COLUMNS)]
        for label, s in summaries.items():
            lines.append(f"| {label} | " + " | ".join(cell(s["mean"][k]) for k, _ in _COLUMNS) + " |")
        return "\n".join(lines)
    lines = [f"{'loss':<14}" + "".join(f"{h:>9}" for _, h in _COLUMNS)]
    for label, s in summaries.items():
        lines.append(f"{label:<14}" + "".join(f"{cell(s['mean'][k]):>9}" for k, _ in _COLUMNS))
    return "\n".join(lines)


def _comparison_figure(run_dirs: Mapping[str, Path], path: Path, n_cases: int) -> Path | None:
    import torch

    from edgewise.training.datamodule import build_split
    from edgewise.training.report import _pyplot, _save_figure, overlay_panels
    from edgewise.training.run import _predict_cases, load_run

    predictions: dict[str, list[dict[str, Any]]] = {}
    for label, run_dir in run_dirs.items():
        cfg, module, _ = load_run(run_dir, "best")
        ds = build_split(cfg["data"], cfg["data"]["test_split"], role="test")
        sub = torch.utils.data.Subset(ds, range(min(n_cases, len(ds))))
        sub.mode = getattr(ds, "mode", "whole")  # type: ignore[attr-defined]
        predictions[label] = _predict_cases(module, sub, 8, None, torch.device("cpu"))
    labels = list(predictions)
    if not labels or not predictions[labels[0]]:
        return None
    plt = _pyplot()
    n = len(predictions[labels[0]])
    ncols = 2 + len(labels)
    fig, axes = plt.subplots(n, ncols, figsize=(3.0 * ncols, 3.0 * n), squeeze=False)
    for i in range(n):
        base = overlay_panels(predictions[labels[0]][i])
        axes[i, 0].imshow(base["image"], cmap="gray")
        axes[i, 1].imshow(base["ground truth"], cmap="gray", interpolation="nearest")
        titles = ["image", "ground truth"]
        for j, label in enumerate(labels):
            axes[i, 2 + j].imshow(overlay_panels(predictions[label][i])["errors"],
                                  interpolation="nearest")
            titles.append(f"{label} errors")
        for j, ax in enumerate(axes[i]):
            ax.axis("off")
            if i == 0:
                ax.set_title(titles[j])
    fig.suptitle("green: correct vessel, red: false positive, blue: missed")
    return _save_figure(fig, path)


def run_demo(
    output: str | os.PathLike = "demo_report",
    *,
    fast: bool = False,
    epochs: int | None = None,
    seed: int = 0,
    progress_bar: bool = True,
) -> tuple[Path, dict[str, dict[str, Any]]]:
    """Train and evaluate the demo runs and write the report folder.

    The report is built in a temporary sibling folder and moved into place at the end,
    so a failed demo leaves an earlier report untouched.

    Returns:
        ``(report_dir, {label: evaluate() summary})``.
    """
    from edgewise.training.report import plot_learning_curves
    from edgewise.training.run import evaluate, train

    output = Path(output).resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.parent / f".{output.name}.partial-{os.getpid()}"
    if partial.exists():
        shutil.rmtree(partial)
    start = time.perf_counter()
    try:
        configs = demo_configs(fast=fast, epochs=epochs, seed=seed)
        summaries: dict[str, dict[str, Any]] = {}
        run_dirs: dict[str, Path] = {}
        for label, cfg in configs.items():
            cfg["trainer"]["enable_progress_bar"] = progress_bar
            print(f"[demo] training {label} ({cfg['trainer']['max_epochs']} epochs)", flush=True)
            run_dirs[label] = train(cfg, output_dir=partial / "runs" / label)
            summaries[label] = evaluate(run_dirs[label], split="test")
        plot_learning_curves({k: v / "metrics.csv" for k, v in run_dirs.items()},
                             partial / "learning_curves.png",
                             keys=("train/ce", "val/dice"))
        _comparison_figure(run_dirs, partial / "overlays.png",
                           n_cases=configs["ce"]["evaluation"]["overlays"])
        elapsed = time.perf_counter() - start
        atomic_write_text(partial / "report.md",
                          _report_markdown(configs, summaries, elapsed, fast))
        _replace_dir(partial, output)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return output, summaries


def _replace_dir(new: Path, target: Path) -> None:
    old = target.parent / f".{target.name}.old-{os.getpid()}"
    if target.exists():
        os.replace(target, old)
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)


def _report_markdown(configs: Mapping[str, Mapping[str, Any]],
                     summaries: Mapping[str, Mapping[str, Any]], elapsed: float,
                     fast: bool) -> str:
    cfg = configs["ce"]
    opts = cfg["data"]["options"]
    ev = next(iter(summaries.values()))
    bl = DEMO_VARIANTS["ce_boundary"]
    return f"""# edgewise demo: cross-entropy vs cross-entropy + boundary loss

{"**Fast mode** (smoke test: tiny data, 2 epochs; the numbers mean nothing). " if fast else ""}\
Built-in synthetic vessel trees (`edgewise.data.SyntheticDataset`, kind `{opts['kind']}`,
{opts['shape'][0]}x{opts['shape'][1]}), {opts['n']} training, {opts['n_val']} validation and
{ev['num_cases']} test images. UNet ({cfg['model']['args']}), Adam lr
{cfg['optimizer']['lr']}, batch {cfg['data']['batch_size']}, {cfg['trainer']['max_epochs']}
epochs, seed {cfg['seed']}; best checkpoint by validation Dice.

- `ce`: cross-entropy.
- `ce_boundary`: cross-entropy + boundary loss (Kervadec et al.), weights
  {[t['weight'] for t in bl['terms']]} at the first epoch, rebalanced by
  {bl['schedule']['step']} per epoch (LIVIAETS `StealWeight`).

Test set, foreground class, mean over images (HD95 and ASSD in pixels; NSD and boundary
F1 at a tolerance of {cfg['evaluation']['tolerance']} pixel):

{format_table(summaries, markdown=True)}

![learning curves](learning_curves.png)

![test predictions](overlays.png)

Each run folder (`runs/<loss>/`) holds `config.yaml` (reproduce with
`edgewise train --config runs/<loss>/config.yaml`), `metrics.csv`, TensorBoard logs,
`checkpoints/`, `per_case.csv`, `summary.json` and `overlays/`.

Total time: {elapsed:.0f} s.
"""
