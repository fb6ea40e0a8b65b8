"""Lightning pieces for crash-safe runs: atomic checkpoints and a resumable CSV log."""

from __future__ import annotations

import csv
import io
import math
import os
import re
import sys
import time
from pathlib import Path
from typing import Any, cast

import lightning.pytorch as pl
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment

from edgewise._io import atomic_write_text

__all__ = ["AtomicModelCheckpoint", "EpochLines", "LostClassWarning", "PruneResumedEpochs",
           "ResumableCSVLogger", "compact_progress_bar"]


class AtomicModelCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` that writes to a temporary file and renames it into place.

    A run killed while saving leaves the previous ``best.ckpt``/``last.ckpt`` intact.
    """

    def _save_checkpoint(self, trainer: pl.Trainer, filepath: str) -> None:
        tmp = f"{filepath}.tmp"
        super()._save_checkpoint(trainer, tmp)
        # trainer.save_checkpoint ends with a barrier, so rank 0 has finished writing.
        if trainer.is_global_zero:
            os.replace(tmp, filepath)
        self._last_checkpoint_saved = filepath

    # Paths are stored relative to the checkpoint folder, so a run folder that was moved
    # (the demo builds its report in a temporary folder, then renames it) names its own
    # files and resumes with its best score, which Lightning drops when dirpath differs.
    _PATHS = ("dirpath", "best_model_path", "kth_best_model_path", "last_model_path")

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        if self.dirpath is None:
            return state
        rel = lambda p: os.path.relpath(p, self.dirpath) if p else p  # noqa: E731
        state.update({k: rel(state[k]) for k in self._PATHS})
        state["best_k_models"] = {rel(k): v for k, v in state["best_k_models"].items()}
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = dict(state_dict)
        if self.dirpath is not None and state.get("dirpath") == ".":
            full = lambda p: os.path.join(self.dirpath, p) if p else p  # noqa: E731
            state.update({k: full(state.get(k)) for k in self._PATHS})
            state["dirpath"] = self.dirpath
            state["best_k_models"] = {full(k): v for k, v in state.get("best_k_models", {}).items()}
        super().load_state_dict(state)


class _ResumableWriter(ExperimentWriter):
    def __init__(self, log_dir: str, resume: bool) -> None:
        self._resume = resume
        super().__init__(log_dir=log_dir)

    def _check_log_dir_exists(self) -> None:
        # Lightning deletes an existing metrics.csv; a resumed run appends to it.
        path = Path(self.metrics_file_path)
        if not path.is_file():
            return
        if not self._resume:
            path.unlink()
            return
        with path.open(newline="") as f:
            self.metrics_keys = sorted(csv.DictReader(f).fieldnames or [])

    def prune_from_epoch(self, epoch: int) -> None:
        """Drop rows of epochs ``>= epoch`` (an epoch the resumed run trains again)."""
        self.save()
        path = Path(self.metrics_file_path)
        if not path.is_file():
            return
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            header = list(reader.fieldnames or [])
            rows = [r for r in reader if _epoch_of(r) < epoch]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(path, buf.getvalue())
        self.metrics_keys = sorted(header)


def _epoch_of(row: dict[str, Any]) -> float:
    try:
        return float(row.get("epoch") or "-inf")
    except ValueError:
        return float("-inf")


class ResumableCSVLogger(CSVLogger):
    """``CSVLogger`` writing ``metrics.csv`` directly in ``save_dir``.

    Args:
        save_dir: the run folder.
        resume: keep an existing ``metrics.csv`` and append to it (rows of epochs the
            resumed run trains again are dropped by :class:`PruneResumedEpochs`);
            otherwise start afresh.
    """

    def __init__(self, save_dir: str | Path, resume: bool = False) -> None:
        super().__init__(save_dir=str(save_dir), name="", version="")
        self._resume = resume

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _ResumableWriter(self.log_dir, self._resume)
        # lightning types the attribute as fabric's writer; only this property sets it
        return cast(ExperimentWriter, self._experiment)


class PruneResumedEpochs(pl.Callback):
    """On resume, drop logged rows of epochs after the checkpoint's epoch (they are redone).

    Runs at ``on_train_start``, after the checkpoint is restored and before new rows.
    """

    def __init__(self, logger: ResumableCSVLogger, last_kept_epoch: int) -> None:
        self.logger = logger
        self.last_kept_epoch = int(last_kept_epoch)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.is_global_zero:
            self.logger.experiment.prune_from_epoch(self.last_kept_epoch + 1)


def _compact(metrics: dict[str, Any]) -> dict[str, Any]:
    # The per-step loss and validation values; epoch means of the training loss repeat them.
    out = {}
    for key, value in metrics.items():
        if key.endswith("_epoch") or key == "v_num":
            continue
        out[key.removeprefix("train/").removesuffix("_step")] = value
    return out


def compact_progress_bar() -> pl.Callback:
    """Lightning's progress bar (rich when installed, else tqdm) without the epoch-mean
    duplicates of step values, so the line fits an 80-column terminal."""
    from lightning.pytorch.callbacks import RichProgressBar, TQDMProgressBar
    from lightning.pytorch.callbacks.progress.rich_progress import _RICH_AVAILABLE

    base = RichProgressBar if _RICH_AVAILABLE else TQDMProgressBar

    class CompactProgressBar(base):  # type: ignore[valid-type, misc]
        def get_metrics(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict:
            return _compact(super().get_metrics(trainer, pl_module))

    return CompactProgressBar()


class EpochLines(pl.Callback):
    """One printed line per finished epoch, in place of a progress bar (for a log file or
    a pipe, where bar frames pile up): epoch, training loss, validation values, seconds.

    Example line: ``epoch 3/20  loss 0.2143  val/dice 0.8120  val/loss 0.1980  (4.1 s)``
    """

    def __init__(self) -> None:
        self._start = 0.0

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Validation at the end of an epoch has already run when this hook is called.
        if not trainer.is_global_zero:
            return
        metrics = trainer.callback_metrics
        parts = [f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}"]
        loss = metrics.get("train/loss_epoch", metrics.get("train/loss"))
        if loss is not None:
            parts.append(f"loss {_number(loss)}")
        parts += [f"{k} {_number(v)}" for k, v in sorted(metrics.items())
                  if k in ("val/dice", "val/loss", "val/hd95")]
        parts.append(f"({time.perf_counter() - self._start:.1f} s)")
        print("  ".join(parts), flush=True)


class LostClassWarning(pl.Callback):
    """Warn once per class whose validation Dice stays exactly 0 for ``patience`` epochs in a
    row while the network already segments other classes.

    Why: a distance-map or contour term switched on from the first step can keep a class out
    for good (ACDC: no boundary, perimeter or RRW arm ever predicted the right ventricle, in
    any of 3 seeds, docs/results/acdc/README.md), and so can GDL alone (ACDC, one seed in
    three), while the mean Dice hides it. The warning names the remedy: the schedule's
    ``delay`` when such terms are on, else another regional loss or seed. It reads the
    ``val/dice_<class>`` values the module logs; nothing is changed.
    """

    def __init__(self, patience: int = 3) -> None:
        self.patience = patience
        self._zero_run: dict[str, int] = {}
        self._warned: set[str] = set()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # the epoch's validation has run when this hook is called (see EpochLines)
        if not trainer.is_global_zero:
            return
        per_class = {k[len("val/dice_"):]: float(v) for k, v in trainer.callback_metrics.items()
                     if k.startswith("val/dice_")}
        if len(per_class) < 2:
            return
        learned = any(v > 0 for v in per_class.values())
        for name, value in per_class.items():
            self._zero_run[name] = self._zero_run.get(name, 0) + 1 if value == 0 else 0
            if learned and self._zero_run[name] >= self.patience and name not in self._warned:
                self._warned.add(name)
                terms = _shape_terms(getattr(pl_module, "loss", None))
                advice = (f"; the loss term(s) {terms} are on: such terms can keep a class out for "
                          "good, start them later with the loss schedule's `delay` (docs/losses.md)"
                          if terms else
                          "; a regional loss alone can lose a small class early too (ACDC: GDL in one "
                          "seed of three, while CE, focal and Dice found it in every seed): try another "
                          "regional loss or seed (docs/results/acdc/README.md)")
                print(f"edgewise: warning: class {name!r} has had validation Dice 0 for "
                      f"{self._zero_run[name]} epochs while other classes are learned{advice}",
                      file=sys.stderr, flush=True)


# terms that only reweight or compare overlaps: the rest (boundary, perimeter, RRW, ...) push
# every class down outside it from the first step
_REGIONAL = ("ce", "dice", "gdl", "focal", "tversky")


def _shape_terms(loss: Any) -> list[str]:
    """The non-regional terms of a CompoundLoss with a non-zero weight now."""
    names, weights = getattr(loss, "names", None), getattr(loss, "weights", None)
    if not names or weights is None:
        return []
    # CompoundLoss names a repeated term "dice_2", "dice_3", ...
    return [n for n, w in zip(names, weights) if w != 0 and re.sub(r"_\d+$", "", n) not in _REGIONAL]


def _number(value: Any) -> str:
    x = float(value)
    return f"{x:.4f}" if math.isfinite(x) else str(x)
