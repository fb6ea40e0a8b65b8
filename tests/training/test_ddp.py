"""DDP with two gloo processes on CPU, through the CLI (Lightning re-launches the script)."""

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

# Blobs at 55 % foreground and a large step size: after 4 steps the network marks most
# pixels foreground, so each validation image gets a different, non-zero Dice and a value
# averaged over one process's image only would differ from the mean over both.
TINY_DDP = [
    "data.options={n: 4, n_val: 2, shape: [16, 16], kind: blobs, foreground_fraction: 0.55,"
    " seed: 0}",
    "model.args={base_channels: 4, depth: 2}",
    "data.batch_size=1",
    "optimizer.lr=0.05",
    "trainer.enable_progress_bar=false",
    "trainer.log_every_n_steps=1",
    "trainer.max_epochs=2",
    "trainer.accelerator=cpu",
    "trainer.devices=2",
    "trainer.strategy=ddp",
    "validation.hd95=true",
]


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("ddp")
    run_dir = tmp_path / "run"
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "SLURM_PROCID", "SLURM_NTASKS")}
    env["PL_DISABLE_FORK"] = "1"
    proc = subprocess.run(
        [sys.executable, "-m", "edgewise", "train", *TINY_DDP, "--output", str(run_dir)],
        capture_output=True, text=True, timeout=420, env=env, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(run_dir / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return run_dir, proc, rows


def test_ddp_last_checkpoint_is_the_last_epoch(ddp_run):
    run_dir, _, rows = ddp_run
    assert {int(r["epoch"]) for r in rows if r.get("val/dice")} == {0, 1}
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)
    assert ckpt["epoch"] == 1
    assert ckpt["loops"]["fit_loop"]["epoch_progress"]["current"]["processed"] == 2
    # 4 training images over 2 processes with batch 1: two optimizer steps per epoch.
    assert ckpt["global_step"] == 4
    assert not list(Path(run_dir).rglob("*.tmp"))


def test_ddp_validation_metrics_cover_both_processes(ddp_run):
    from edgewise.metrics import dice, hausdorff_distance
    from edgewise.training.datamodule import build_split
    from edgewise.training.module import masked_onehot
    from edgewise.training import load_run

    run_dir, proc, rows = ddp_run
    assert "sync_dist" not in proc.stderr  # Lightning's warning about unsynced epoch values
    # The epoch-1 validation ran with the weights saved in last.ckpt; recompute it on all
    # validation images in one process.
    cfg, module, meta = load_run(run_dir, "last")
    assert meta["epoch"] == 1
    ds = build_split(cfg["data"], "val", role="val")
    per_image_dice, per_image_hd = [], []
    with torch.no_grad():
        for i in range(len(ds)):
            item = ds[i]
            pred = module(item["image"][None]).argmax(1, keepdim=True)
            p, t = masked_onehot(pred, 2), masked_onehot(item["label"][None], 2)
            per_image_dice.append(float(dice(p, t)[0, 1]))
            per_image_hd.append(float(hausdorff_distance(p, t, percentile=95)[0, 1]))
    assert len(per_image_dice) == 2 and min(per_image_dice) > 0
    assert abs(per_image_dice[0] - per_image_dice[1]) > 1e-3
    logged = [r for r in rows if r.get("val/dice") and int(r["epoch"]) == 1]
    assert len(logged) == 1
    assert float(logged[0]["val/dice"]) == pytest.approx(sum(per_image_dice) / 2, abs=1e-5)
    assert float(logged[0]["val/dice_class1"]) == pytest.approx(sum(per_image_dice) / 2, abs=1e-5)
    finite_hd = [h for h in per_image_hd if torch.isfinite(torch.tensor(h))]
    if finite_hd:
        assert float(logged[0]["val/hd95"]) == pytest.approx(sum(finite_hd) / len(finite_hd),
                                                             abs=1e-4)
