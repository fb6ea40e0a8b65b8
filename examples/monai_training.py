"""Boundary loss in a plain MONAI training loop, with distance maps made by a MONAI transform.

Synthetic 2D images with anisotropic pixels (0.8 x 0.5 mm, stored in each ``MetaTensor``'s
affine as if read by ``LoadImaged`` from NIfTI) go through a MONAI pipeline that crops,
flips and then computes each label's signed distance map with
:class:`edgewise.integrations.monai.SignedDistanced` (in mm, spacing read from the
affine). A MONAI ``UNet`` trains with Dice + boundary loss, the boundary term fed the
precomputed map through ``dist_map=`` and its weight ramped up over the epochs; validation
reports Dice and HD95 (mm) with edgewise's metrics, spacing again read from the metadata.

    python examples/monai_training.py            # 2 epochs on CPU
    python examples/monai_training.py --fast     # smaller and quicker (smoke test)
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch
from monai.data import DataLoader, Dataset, MetaTensor
from monai.networks.nets import UNet
from monai.transforms import (
    Compose,
    EnsureChannelFirstd,
    RandFlipd,
    RandSpatialCropd,
    ScaleIntensityd,
)

from edgewise.integrations.monai import SignedDistanced, spacing_from_meta
from edgewise.losses import BoundaryLoss, CompoundLoss, DiceLoss
from edgewise.losses.schedules import Increase
from edgewise.metrics import dice, hausdorff_distance, one_hot_from_labels, one_hot_from_logits

SPACING = (0.8, 0.5)  # mm per pixel along (rows, columns)


def synthetic_items(n: int, size: int, seed: int) -> list[dict[str, MetaTensor]]:
    """Noisy ellipses (anisotropic pixels make circles in mm look like ellipses in pixels)."""
    rng = np.random.default_rng(seed)
    affine = torch.diag(torch.tensor([*SPACING, 1.0, 1.0], dtype=torch.float64))
    rows, cols = np.mgrid[:size, :size]
    items = []
    for _ in range(n):
        cy, cx = rng.uniform(0.35, 0.65, size=2) * size
        r_mm = rng.uniform(0.12, 0.25) * size * min(SPACING)
        inside = ((rows - cy) * SPACING[0]) ** 2 + ((cols - cx) * SPACING[1]) ** 2 <= r_mm**2
        label = inside.astype(np.int64)
        image = label * 1.0 + rng.normal(0.0, 0.35, size=label.shape)
        items.append({
            "image": MetaTensor(torch.from_numpy(image).float(), affine=affine),
            "label": MetaTensor(torch.from_numpy(label), affine=affine),
        })
    return items


def transforms(crop: int, train: bool) -> Compose:
    steps = [
        EnsureChannelFirstd(["image", "label"], channel_dim="no_channel"),
        ScaleIntensityd("image"),
    ]
    if train:
        steps += [
            RandSpatialCropd(["image", "label"], roi_size=(crop, crop), random_size=False),
            RandFlipd(["image", "label"], prob=0.5, spatial_axis=1),
        ]
    # After every spatial transform, so that the map belongs to the label the loss sees.
    steps.append(SignedDistanced("label", num_classes=2))  # -> "label_sdm", mm from the affine
    return Compose(steps)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--fast", action="store_true", help="fewer, smaller images")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)

    size, crop, n_train, n_val = (48, 32, 8, 4) if args.fast else (96, 64, 32, 8)
    train_ds = Dataset(synthetic_items(n_train, size, args.seed), transforms(crop, train=True))
    val_ds = Dataset(synthetic_items(n_val, size, args.seed + 1), transforms(crop, train=False))
    train_loader = DataLoader(train_ds, batch_size=4, shuffle=True, num_workers=0)
    val_loader = DataLoader(val_ds, batch_size=4, num_workers=0)

    net = UNet(spatial_dims=2, in_channels=1, out_channels=2, channels=(8, 16, 32),
               strides=(2, 2), num_res_units=1)
    # Dice keeps weight 1; the boundary term grows by 0.05 per epoch from 0.05.
    loss_fn = CompoundLoss(
        {"dice": DiceLoss(include_background=False),
         "boundary": BoundaryLoss(include_background=False)},
        schedule=Increase(initial=(1.0, 0.05), step=(0.0, 0.05)),
    )
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)

    for epoch in range(args.epochs):
        net.train()
        running = 0.0
        for batch in train_loader:
            logits = net(batch["image"])
            # The map covers both classes; BoundaryLoss picks the foreground channel itself.
            loss = loss_fn(logits, batch["label"], dist_map={"boundary": batch["label_sdm"]})
            opt.zero_grad()
            loss.backward()
            opt.step()
            running += loss.detach().item()
        terms = {k: round(float(v), 4) for k, v in loss_fn.last_terms.items()}
        print(f"epoch {epoch}: loss {running / len(train_loader):.4f} "
              f"weights {loss_fn.weights} last terms {terms}")
        loss_fn.step()

        net.eval()
        dices, hd95s = [], []
        with torch.no_grad():
            for batch in val_loader:
                spacing = spacing_from_meta(batch["label"])  # (B, 2) mm, from the affines
                pred = one_hot_from_logits(net(batch["image"]).as_tensor())
                target = one_hot_from_labels(batch["label"].as_tensor(), 2)
                dices.append(dice(pred, target, include_background=False))
                hd95s.append(hausdorff_distance(pred, target, spacing=spacing, percentile=95,
                                                include_background=False))
        print(f"epoch {epoch}: val Dice {torch.cat(dices).mean():.4f} "
              f"HD95 {torch.cat(hd95s).nanmean():.2f} mm")
    return 0


if __name__ == "__main__":
    sys.exit(main())
