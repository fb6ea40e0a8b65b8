"""Validation measures what evaluation measures: whole volumes, not slices or patches."""

import csv

import lightning.pytorch as pl
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from edgewise.data import build_dataset
from edgewise.losses import loss_from_config
from edgewise.training import SegmentationModule, evaluate, train


def _val_rows(run_dir):
    with open(run_dir / "metrics.csv", newline="") as f:
        return [r for r in csv.DictReader(f) if r.get("val/dice")]


class _Background(nn.Module):
    """Predicts background everywhere (a strongly positive background logit)."""

    def forward(self, x):
        logits = torch.zeros(x.shape[0], 2, *x.shape[2:])
        logits[:, 0] = 5.0
        return logits + 0 * x.sum()


def _validate(dataset, batch_size, **trainer_args):
    module = SegmentationModule(_Background(), loss_from_config({"terms": [{"name": "ce"}]}),
                                num_classes=2)
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False,
                         enable_model_summary=False, **trainer_args)
    trainer.validate(module, DataLoader(dataset, batch_size=batch_size), verbose=False)
    return trainer.callback_metrics


def test_slices_are_scored_per_volume_not_per_slice():
    ds = build_dataset("synthetic", "val", n=1, n_val=2, shape=(8, 16, 16), kind="blobs",
                       mode="slices", seed=0)
    fg = [bool((ds[i]["label"] > 0).any()) for i in range(len(ds))]
    # The volumes have foreground, but not on every slice: a per-slice mean would score
    # the empty slices (empty prediction, empty label) 1 and the missed structure above 0.
    assert any(fg) and not all(fg)
    metrics = _validate(ds, batch_size=3)
    assert metrics["val/dice"].item() == pytest.approx(0.0)
    assert metrics["val/dice_class1"].item() == pytest.approx(0.0)


def test_a_volume_cut_short_is_scored_on_the_slices_seen():
    ds = build_dataset("synthetic", "val", n=1, n_val=1, shape=(8, 16, 16), kind="blobs",
                       mode="slices", seed=0)
    seen = [bool((ds[i]["label"] > 0).any()) for i in range(3)]
    metrics = _validate(ds, batch_size=3, limit_val_batches=1)
    # One batch: slices 0-2 of the only volume. Missed foreground there gives 0; with none
    # there, empty against empty gives 1.
    assert metrics["val/dice"].item() == pytest.approx(0.0 if any(seen) else 1.0)


def test_slice_validation_equals_evaluation_of_the_same_checkpoint(tmp_path, tiny_config):
    cfg = tiny_config("data.options={n: 2, n_val: 3, shape: [8, 16, 16], kind: blobs, "
                      "mode: slices, seed: 0}", "data.batch_size=3", "validation.hd95=true",
                      "optimizer.lr=0.05")
    run_dir = train(cfg, output_dir=tmp_path / "run")
    (row,) = _val_rows(run_dir)
    summary = evaluate(run_dir, split="val", checkpoint="last", overlays=0)
    assert summary["num_cases"] == 3
    dice = summary["metrics"]["dice"]["class1"]
    assert float(row["val/dice_class1"]) == pytest.approx(dice["mean"], abs=1e-5)
    assert float(row["val/dice"]) == pytest.approx(dice["mean"], abs=1e-5)
    hd95 = summary["metrics"]["hd95"]["class1"]
    if hd95["n_finite"]:
        assert float(row["val/hd95"]) == pytest.approx(hd95["mean"], rel=1e-4)


def test_patch_validation_slides_over_whole_volumes_like_evaluation(tmp_path, tiny_config):
    cfg = tiny_config("data.options={n: 2, n_val: 2, shape: [8, 16, 16], kind: blobs, "
                      "mode: patches, patch_size: [8, 8, 8], seed: 0}", "optimizer.lr=0.05")
    run_dir = train(cfg, output_dir=tmp_path / "run")
    (row,) = _val_rows(run_dir)
    summary = evaluate(run_dir, split="val", checkpoint="last", overlays=0)
    assert summary["num_cases"] == 2
    assert float(row["val/dice"]) == pytest.approx(summary["metrics"]["dice"]["class1"]["mean"],
                                                   abs=1e-5)


def test_sliding_window_pads_small_images_with_their_minimum_like_training():
    # training pads patches larger than the volume with the image minimum; a network with
    # instance norm sees the padding, so inference must pad the same way (not with 0)
    from edgewise.training.whole_case import sliding_or_full

    torch.manual_seed(0)
    image = torch.randn(2, 1, 4, 6, 5) + torch.tensor([0.0, 3.0]).view(2, 1, 1, 1, 1)

    def window_mean(x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3, 4), keepdim=True).expand_as(x).clone()

    out = sliding_or_full(window_mean, image, roi=[8, 8, 8])
    assert out.shape == image.shape
    for b in range(2):
        img = image[b]
        expected = (img.sum() + (512 - img.numel()) * img.min()) / 512
        torch.testing.assert_close(out[b], torch.full_like(img, float(expected)))
