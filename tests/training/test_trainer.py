"""edgewise.training.trainer: what train() writes in a run folder, resuming an interrupted run,
refusals before any output, last.ckpt after every epoch, the learning-curve figure."""

import csv

import lightning.pytorch as pl
import pytest
import torch
from PIL import Image

from edgewise.training import train


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_train_writes_the_run_folder(three_class_run):
    run_dir = three_class_run
    for name in ("config.yaml", "metrics.csv", "checkpoints/best.ckpt", "checkpoints/last.ckpt"):
        assert (run_dir / name).is_file(), name
    assert any((run_dir / "tensorboard").iterdir())
    assert not list(run_dir.rglob("*.tmp"))
    epochs = {int(r["epoch"]) for r in _rows(run_dir / "metrics.csv") if r.get("val/dice")}
    assert epochs == {0, 1}


class _Crash(pl.Callback):
    def on_train_epoch_end(self, trainer, module):
        if trainer.current_epoch == 2:
            raise RuntimeError("simulated crash")


def test_resume_after_interruption(tmp_path, tiny_config):
    cfg = tiny_config("trainer.max_epochs=4",
                      "loss={terms: [{name: ce, weight: 1.0}, {name: boundary, weight: 0.01}],"
                      " schedule: {name: rebalance, step: 0.01}}")
    run_dir = tmp_path / "run"
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(cfg, output_dir=run_dir, callbacks=[_Crash()])
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)
    assert ckpt["loops"]["fit_loop"]["epoch_progress"]["current"]["processed"] == 2
    with pytest.raises(FileExistsError):
        train(cfg, output_dir=run_dir)  # never overwrite a run without resume
    train(cfg, output_dir=run_dir, resume=True)

    rows = _rows(run_dir / "metrics.csv")
    epoch_rows = [r for r in rows if r.get("train/loss_epoch")]
    assert [int(r["epoch"]) for r in epoch_rows] == [0, 1, 2, 3]  # each epoch once
    # Rebalance from [1, 0.01] by 0.01 per epoch: the schedule continued across the crash.
    for r in epoch_rows:
        e = int(r["epoch"])
        assert float(r["weight/boundary"]) == pytest.approx(0.01 + 0.01 * e, abs=1e-6)
        assert float(r["weight/ce"]) == pytest.approx(1.0 - 0.01 * e, abs=1e-6)
    steps = [int(r["step"]) for r in rows if r.get("train/loss_step")]
    assert steps == sorted(set(steps))  # no step logged twice
    final = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)
    assert final["edgewise_loss"]["epoch"] == 4


def test_resume_needs_a_checkpoint(tmp_path, tiny_config):
    with pytest.raises(FileNotFoundError, match="last.ckpt"):
        train(tiny_config(), output_dir=tmp_path / "none", resume=True)


def test_bad_config_raises_before_any_output(tmp_path):
    with pytest.raises(ValueError, match="'trainer.max_epoch'"):
        train({"trainer": {"max_epoch": 3}}, output_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


class _LastCheckpointEpochs(pl.Callback):
    """Records the epoch stored in last.ckpt when each epoch starts (after the previous save)."""

    def __init__(self, path):
        self.path = path
        self.seen = []

    def on_train_epoch_start(self, trainer, module):
        if self.path.is_file():
            self.seen.append(torch.load(self.path, weights_only=False)["epoch"])


def test_last_checkpoint_every_epoch_when_validating_less_often(tmp_path, tiny_config):
    # Lightning's checkpoint callback defers saving to validation when
    # check_val_every_n_epoch > 1; last.ckpt must still follow every epoch.
    run_dir = tmp_path / "run"
    probe = _LastCheckpointEpochs(run_dir / "checkpoints" / "last.ckpt")
    train(tiny_config("trainer.max_epochs=3", "trainer.check_val_every_n_epoch=2"),
          output_dir=run_dir, callbacks=[probe])
    assert probe.seen == [0, 1]
    final = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)
    assert final["epoch"] == 2
    assert torch.load(run_dir / "checkpoints" / "best.ckpt", weights_only=False)["epoch"] == 1


def test_train_draws_learning_curves(tmp_path, tiny_config):
    run_dir = train(tiny_config("trainer.max_epochs=2", "validation.hd95=true"),
                    output_dir=tmp_path / "run")
    png = run_dir / "learning_curves.png"
    assert png.stat().st_size > 5000
    assert Image.open(png).size[0] > 2 * Image.open(png).size[1]  # three panels side by side
