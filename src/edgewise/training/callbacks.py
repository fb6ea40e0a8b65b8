"""Lightning pieces for crash-safe runs: atomic checkpoints and a resumable CSV log."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment

from edgewise.training._io import atomic_write_text

__all__ = ["AtomicModelCheckpoint", "ResumableCSVLogger"]


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


class _ResumableWriter(ExperimentWriter):
    def __init__(self, log_dir: str, keep_before_epoch: int | None) -> None:
        self._keep_before_epoch = keep_before_epoch
        super().__init__(log_dir=log_dir)

    def _check_log_dir_exists(self) -> None:
        # Lightning deletes an existing metrics.csv; a resumed run keeps the rows of the
        # epochs it does not redo (and drops those of the epoch it restarts).
        path = Path(self.metrics_file_path)
        if self._keep_before_epoch is None or not path.is_file():
            if path.is_file():
                path.unlink()
            return
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            header = list(reader.fieldnames or [])
            rows = [r for r in reader if _epoch_of(r) < self._keep_before_epoch]
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
        keep_before_epoch: when resuming, rows of epochs ``< keep_before_epoch`` already
            in ``metrics.csv`` are kept and new rows appended; ``None`` starts afresh.
    """

    def __init__(self, save_dir: str | Path, keep_before_epoch: int | None = None) -> None:
        super().__init__(save_dir=str(save_dir), name="", version="")
        self._keep_before_epoch = keep_before_epoch

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _ResumableWriter(self.log_dir, self._keep_before_epoch)
        return self._experiment
