"""Your own network and batch layout in edgewise's LightningModule.

:class:`edgewise.training.SegmentationModule` does the training loop, the loss schedule
(stepped every epoch, restored from checkpoints), logging of every loss term and
validation Dice/HD95. This script plugs in

- a hand-written network (``TinyUNet``, any ``nn.Module`` giving logits ``(B, C, *spatial)``),
- a dataset yielding ``(image, label, spacing)`` tuples instead of dicts, handled by
  overriding :meth:`SegmentationModule.unpack_batch`,
- a Dice + boundary :class:`~edgewise.losses.CompoundLoss` with a rebalancing schedule,

and trains it with a plain ``lightning.Trainer``. Multi-process data parallel training
works unchanged (``--devices 2 --strategy ddp`` on CPU uses gloo; see
docs/integrations/scaling.md for torchrun and SLURM).

    python examples/lightning_custom_network.py              # 2 epochs on CPU
    python examples/lightning_custom_network.py --fast       # smoke run
    python examples/lightning_custom_network.py --fast --devices 2 --strategy ddp
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.loggers import CSVLogger
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from edgewise.data.synthetic import make_synthetic
from edgewise.losses import BoundaryLoss, CompoundLoss, DiceLoss
from edgewise.losses.schedules import RebalanceConvex
from edgewise.training import SegmentationModule


class TinyUNet(nn.Module):
    """Two-level U-Net: enough to show the plumbing, small enough for a CPU."""

    def __init__(self, in_channels: int = 1, num_classes: int = 2, width: int = 8) -> None:
        super().__init__()

        def block(i: int, o: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(inplace=True))

        self.enc1 = block(in_channels, width)
        self.enc2 = nn.Sequential(nn.MaxPool2d(2), block(width, 2 * width))
        self.up = nn.ConvTranspose2d(2 * width, width, 2, stride=2)
        self.dec = block(2 * width, width)
        self.head = nn.Conv2d(width, num_classes, 1)

    def forward(self, x: Tensor) -> Tensor:
        e1 = self.enc1(x)
        d = self.up(self.enc2(e1))
        return self.head(self.dec(torch.cat([e1, d], dim=1)))


class TupleDataset(Dataset):
    """Synthetic vessel images as ``(image (1,H,W), label (1,H,W), spacing (2,))`` tuples."""

    def __init__(self, n: int, size: int, seed: int, spacing: Sequence[float]) -> None:
        self.items = [make_synthetic((size, size), kind="vessels", rng=(seed, i)) for i in range(n)]
        self.spacing = torch.tensor(spacing, dtype=torch.float64)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor, Tensor]:
        image, label = self.items[i]
        return torch.from_numpy(image), torch.from_numpy(label)[None], self.spacing


class TupleBatchSegmentation(SegmentationModule):
    """SegmentationModule for ``(image, label, spacing)`` batches."""

    def unpack_batch(self, batch: Any) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        image, label, spacing = batch
        return image, label, spacing, None  # no evaluation mask


def build_module(lr: float = 3e-3, max_boundary_weight: float = 0.5) -> TupleBatchSegmentation:
    # a * Dice + (1 - a) * boundary, a falling from 1 by 0.25 per epoch down to 1 - max weight.
    loss = CompoundLoss(
        {"dice": DiceLoss(include_background=False),
         "boundary": BoundaryLoss(include_background=False)},
        schedule=RebalanceConvex(step=0.25, floor=1.0 - max_boundary_weight),
    )
    return TupleBatchSegmentation(
        TinyUNet(), loss, num_classes=2, class_names=["background", "vessel"],
        optimizer={"name": "adam", "lr": lr}, compute_hd95=True, size_divisor=2,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--fast", action="store_true")
    parser.add_argument("--devices", type=int, default=1)
    parser.add_argument("--num-nodes", type=int, default=1)
    parser.add_argument("--strategy", default="auto")
    parser.add_argument("--accelerator", default="cpu")
    parser.add_argument("--output", type=Path, default=Path("runs/lightning_custom_network"))
    args = parser.parse_args(argv)

    pl.seed_everything(0, workers=True)
    n_train, n_val, size = (8, 4, 48) if args.fast else (32, 8, 96)
    spacing = (0.5, 0.5)
    train = DataLoader(TupleDataset(n_train, size, 0, spacing), batch_size=4, shuffle=True)
    val = DataLoader(TupleDataset(n_val, size, 1, spacing), batch_size=4)

    trainer = pl.Trainer(
        max_epochs=args.epochs, accelerator=args.accelerator, devices=args.devices,
        num_nodes=args.num_nodes, strategy=args.strategy, logger=CSVLogger(args.output),
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        log_every_n_steps=1,
    )
    module = build_module()
    trainer.fit(module, train, val)
    if trainer.is_global_zero:
        metrics = {k: round(float(v), 4) for k, v in trainer.callback_metrics.items()}
        print("final metrics:", metrics)
        print("loss weights after training:", module.loss_weights())
        print("logs in", trainer.logger.log_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
