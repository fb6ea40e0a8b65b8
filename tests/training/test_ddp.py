"""DDP with two gloo processes on CPU, through the CLI (Lightning re-launches the script)."""

import csv
import os
import subprocess
import sys
from pathlib import Path

import torch

TINY_DDP = [
    "data.options={n: 4, n_val: 2, shape: [16, 16], seed: 0}",
    "model.args={base_channels: 4, depth: 2}",
    "data.batch_size=2",
    "trainer.enable_progress_bar=false",
    "trainer.log_every_n_steps=1",
    "trainer.max_epochs=2",
    "trainer.accelerator=cpu",
    "trainer.devices=2",
    "trainer.strategy=ddp",
]


def test_ddp_two_cpu_processes(tmp_path):
    run_dir = tmp_path / "run"
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "SLURM_PROCID", "SLURM_NTASKS")}
    env["PL_DISABLE_FORK"] = "1"
    proc = subprocess.run(
        [sys.executable, "-m", "edgewise", "train", *TINY_DDP, "--output", str(run_dir)],
        capture_output=True, text=True, timeout=420, env=env, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)
    assert ckpt["loops"]["fit_loop"]["epoch_progress"]["current"]["processed"] == 2
    with open(run_dir / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {int(r["epoch"]) for r in rows if r.get("val/dice")} == {0, 1}
    # 4 training images over 2 processes with batch 2: one optimizer step per epoch.
    assert ckpt["global_step"] == 2
    assert not list(Path(run_dir).rglob("*.tmp"))
