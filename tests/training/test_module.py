"""edgewise.training.module: the LightningModule's forward pass, one-hot inside the evaluation
mask, optimiser and LR schedule, and a loss schedule gated on validation Dice (validation that
scores whole volumes is tested in test_validation.py, training through whole runs in
test_trainer.py)."""

import lightning.pytorch as pl
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from edgewise.data import build_dataset
from edgewise.losses import loss_from_config
from edgewise.training import SegmentationModule
from edgewise.training.module import build_optimizer, build_scheduler, masked_onehot


def test_masked_onehot_is_background_outside_the_mask():
    index = torch.tensor([[[[0, 1, 2], [2, 1, 0]]]])  # (B, 1, H, W)
    mask = torch.tensor([[[[1, 1, 0], [1, 0, 1]]]], dtype=torch.bool)
    onehot = masked_onehot(index, 3, mask)
    assert onehot.shape == (1, 3, 2, 3)
    # the 2 at (0, 2) and the 1 at (1, 1) lie outside the mask: background there
    assert onehot[0].tolist() == [[[1, 0, 1], [0, 1, 1]],
                                  [[0, 1, 0], [0, 0, 0]],
                                  [[0, 0, 0], [1, 0, 0]]]
    assert masked_onehot(index, 3)[0, 2].tolist() == [[0, 0, 1], [1, 0, 0]]  # no mask: as is


def _lrs(scheduler_cfg, max_epochs, epochs=5):
    optimizer = build_optimizer([nn.Parameter(torch.zeros(1))], {"name": "sgd", "lr": 1.0})
    scheduler = build_scheduler(optimizer, scheduler_cfg, max_epochs)
    out = []
    for _ in range(epochs):
        out.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return out


def test_lr_schedules_by_hand():
    # warm-up 1 epoch: 1/2; then cosine from 1 to min_lr 0.1 over the 2 epochs left, and flat
    cosine = _lrs({"name": "cosine", "warmup_epochs": 1, "min_lr": 0.1}, max_epochs=3)
    assert cosine == pytest.approx([0.5, 1.0, 0.1 + 0.9 * 0.5, 0.1, 0.1])
    assert _lrs({"name": "poly", "power": 2}, max_epochs=4) == pytest.approx(
        [1.0, 0.75**2, 0.5**2, 0.25**2, 0.0])
    assert _lrs({"name": "step", "step_size": 2, "gamma": 0.5}, max_epochs=9) == pytest.approx(
        [1.0, 1.0, 0.5, 0.5, 0.25])
    optimizer = build_optimizer([nn.Parameter(torch.zeros(1))], {"name": "adamw", "lr": 0.01})
    assert isinstance(optimizer, torch.optim.AdamW) and optimizer.param_groups[0]["lr"] == 0.01
    assert build_scheduler(optimizer, {"name": "none"}, 10) is None
    with pytest.raises(ValueError, match="scheduler.name: expected none, cosine, poly or step, got 'linear'"):
        build_scheduler(optimizer, {"name": "linear"}, 10)
    with pytest.raises(ValueError, match="optimizer.name: expected one of adam, adamw, sgd, got 'rmsprop'"):
        build_optimizer([nn.Parameter(torch.zeros(1))], {"name": "rmsprop"})


class _Mirror(nn.Module):
    """Logits (x, -x), recording the input shapes it saw."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        self.seen.append(tuple(x.shape))
        return torch.cat([x, -x], 1)


def test_forward_pads_to_the_size_divisor_and_crops_back():
    net = _Mirror()
    module = SegmentationModule(net, nn.Identity(), num_classes=2, size_divisor=8)
    image = torch.arange(130, dtype=torch.float32).reshape(1, 1, 10, 13)
    logits = module(image)
    assert net.seen == [(1, 1, 16, 16)]  # zero-padded up to multiples of 8
    assert torch.equal(logits, torch.cat([image, -image], 1))  # cropped back to 10 x 13
    with pytest.raises(ValueError, match="expected num_classes >= 2, got 1"):
        SegmentationModule(net, nn.Identity(), num_classes=1)
    with pytest.raises(ValueError, match="expected 2 class names, got 3"):
        SegmentationModule(net, nn.Identity(), num_classes=2, class_names=["a", "b", "c"])


class _Foreground(nn.Module):
    """Predicts foreground everywhere: a validation Dice of 2|fg| / (|fg| + |image|) > 0."""

    def forward(self, x):
        logits = torch.zeros(x.shape[0], 2, *x.shape[2:])
        logits[:, 1] = 5.0
        return logits + 0 * x.sum()


@pytest.mark.parametrize("threshold, start", [(0.01, 1), (1.0, None)])
def test_a_term_gated_on_validation_dice_starts_when_every_class_is_found(threshold, start):
    from edgewise.losses import Gated

    cfg = {"terms": [{"name": "ce"}, {"name": "boundary", "weight": 0.5}],
           "schedule": {"name": "constant", "start_when_found": threshold}}
    module = SegmentationModule(_Foreground(), loss_from_config(cfg), num_classes=2)
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    ds = build_dataset("synthetic", "val", n=1, n_val=2, shape=(16, 16), kind="blobs", seed=0)
    trainer.validate(module, DataLoader(ds, batch_size=2), verbose=False)
    dice = trainer.callback_metrics["val/dice_class1"].item()
    assert 0.01 < dice < 1.0
    gate = module.loss.schedule
    assert isinstance(gate, Gated) and gate.start == start  # validation after epoch 0 found it
    module.loss.epoch = 1
    assert module.loss.weights == ([1.0, 0.5] if start is not None else [1.0, 0.0])
    # checkpoints carry the start, so a resumed run keeps it
    ckpt: dict = {}
    module.on_save_checkpoint(ckpt)
    assert ckpt["edgewise_loss"]["gate_start"] == start
    fresh = SegmentationModule(_Foreground(), loss_from_config(cfg), num_classes=2)
    fresh.on_load_checkpoint(ckpt)
    assert fresh.loss.schedule.start == start
