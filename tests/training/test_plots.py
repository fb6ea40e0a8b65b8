"""edgewise.training.plots: reading a Lightning metrics.csv by epoch (the figures themselves are
drawn by whole runs in test_trainer.py and test_evaluation.py)."""

from __future__ import annotations

from edgewise.training.plots import read_epoch_metrics


def test_read_epoch_metrics_keeps_finite_epoch_values_only(tmp_path):
    csv_path = tmp_path / "metrics.csv"
    csv_path.write_text(
        "epoch,step,train_loss_step,train_loss_epoch,val_dice,note\n"
        "0,4,0.9,,,\n"            # a step row: only a *_step column, skipped
        "0,9,,0.75,0.5,x\n"       # an epoch row; a text value is skipped
        "1.0,19,,0.25,nan,\n"     # epoch written as a float; a nan is left out
        ",20,,9.0,9.0,\n"         # no epoch: skipped
    )
    assert read_epoch_metrics(csv_path) == {"train_loss_epoch": {0: 0.75, 1: 0.25}, "val_dice": {0: 0.5}}
