"""edgewise.training.callbacks: the lost-class warning, one printed line per epoch, the compact
progress bar's values (atomic checkpoints and the resumable CSV log are tested through whole
runs in test_trainer.py and test_training_safety.py)."""

import re
from types import SimpleNamespace

import torch

from edgewise.losses import loss_from_config
from edgewise.training.callbacks import EpochLines, LostClassWarning, _compact


def test_a_class_never_predicted_is_warned_about_once(capsys):
    """Validation Dice of one class stuck at exactly 0 while the others are learned: one
    warning naming the class and the remedy after `patience` epochs, none before, none for a
    class that recovers, none while nothing is learned yet (the first epochs of any run)."""
    cb = LostClassWarning(patience=3)
    trainer = SimpleNamespace(is_global_zero=True, callback_metrics={})

    def epoch(rv, myo, lv):
        trainer.callback_metrics = {"val/dice": torch.tensor((rv + myo + lv) / 3), "val/loss": torch.tensor(1.0),
                                    "val/dice_rv": torch.tensor(rv), "val/dice_myo": torch.tensor(myo),
                                    "val/dice_lv": torch.tensor(lv)}
        cb.on_train_epoch_end(trainer, None)
        return capsys.readouterr().err

    assert epoch(0.0, 0.0, 0.0) == ""          # nothing learned yet: no verdict
    assert epoch(0.0, 0.0, 0.4) == ""          # rv and myo at 0 for 2 epochs
    err = epoch(0.0, 0.3, 0.6)                 # rv: 3 epochs at 0, myo recovered
    assert "class 'rv' has had validation Dice 0 for 3 epochs while other classes are learned" in err
    assert "'myo'" not in err and "delay" not in err   # no distance-map term to blame
    assert "try another regional loss or seed" in err
    assert epoch(0.0, 0.5, 0.7) == ""          # once per class
    assert epoch(0.0, 0.0, 0.7) == "" and epoch(0.0, 0.0, 0.7) == ""   # myo: 2 more epochs at 0
    assert "class 'myo'" in epoch(0.0, 0.0, 0.7)
    trainer.is_global_zero = False
    cb2 = LostClassWarning(patience=1)
    cb2.on_train_epoch_end(trainer, None)      # other ranks stay silent
    assert capsys.readouterr().err == ""


def test_the_lost_class_warning_names_the_shape_terms_that_are_on(capsys):
    loss = loss_from_config({"terms": [{"name": "gdl"}, {"name": "boundary", "weight": 0.01},
                                       {"name": "ce", "weight": 0.5}],
                             "schedule": {"name": "constant", "delay": 1}})
    module = SimpleNamespace(loss=loss)
    trainer = SimpleNamespace(is_global_zero=True, callback_metrics={
        "val/dice_rv": torch.tensor(0.0), "val/dice_lv": torch.tensor(0.8)})
    cb = LostClassWarning(patience=1)
    cb.on_train_epoch_end(trainer, module)       # epoch 0: the delay holds the boundary term at 0
    assert "term(s)" not in capsys.readouterr().err
    loss.epoch = 1
    cb2 = LostClassWarning(patience=1)
    cb2.on_train_epoch_end(trainer, module)
    err = capsys.readouterr().err
    assert "the loss term(s) ['boundary'] are on" in err and "`delay`" in err


def test_epoch_lines_print_the_loss_and_validation_values_of_the_epoch(capsys):
    metrics = {"train/loss_epoch": torch.tensor(0.21434), "train/loss_step": torch.tensor(9.0),
               "val/dice": torch.tensor(0.812), "val/loss": torch.tensor(0.198),
               "val/hd95": torch.tensor(float("inf")), "val/dice_class1": torch.tensor(0.5)}
    trainer = SimpleNamespace(is_global_zero=True, current_epoch=2, max_epochs=20, callback_metrics=metrics)
    cb = EpochLines()
    cb.on_train_epoch_start(trainer, None)
    cb.on_train_epoch_end(trainer, None)
    line = capsys.readouterr().out
    # 1-based epoch, the epoch mean of the loss (not the last step), val/* keys sorted, inf as such
    assert re.fullmatch(r"epoch 3/20  loss 0\.2143  val/dice 0\.8120  val/hd95 inf  val/loss 0\.1980"
                        r"  \(\d+\.\d s\)\n", line), line
    trainer.callback_metrics = {"train/loss": torch.tensor(0.5)}  # no epoch mean, no validation
    cb.on_train_epoch_end(trainer, None)
    assert capsys.readouterr().out.startswith("epoch 3/20  loss 0.5000  (")
    trainer.is_global_zero = False
    cb.on_train_epoch_end(trainer, None)  # other ranks print nothing
    assert capsys.readouterr().out == ""


def test_the_compact_progress_bar_drops_epoch_means_and_prefixes():
    shown = _compact({"train/loss_step": 0.5, "train/loss_epoch": 0.6, "train/ce": 0.2,
                      "val/dice": 0.7, "v_num": 1})
    assert shown == {"loss": 0.5, "ce": 0.2, "val/dice": 0.7}
