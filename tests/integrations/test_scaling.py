"""Multi-node launch paths of docs/integrations/scaling.md, simulated on one machine.

Two "nodes" of one CPU process each, on localhost with gloo: the environment torchrun
sets (TorchElasticEnvironment) and the one srun sets (SLURMEnvironment). What a real
cluster adds (network interfaces, GPUs, the scheduler) cannot be tested here.
"""

from __future__ import annotations

import csv
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("lightning")

REPO = Path(__file__).resolve().parents[2]
TINY = [
    "data.options={n: 4, n_val: 2, shape: [16, 16], seed: 0}",
    "model.args={base_channels: 4, depth: 2}",
    "data.batch_size=2",
    "trainer.enable_progress_bar=false",
    "trainer.log_every_n_steps=1",
    "trainer.max_epochs=2",
    "trainer.accelerator=cpu",
    "trainer.devices=1",
    "trainer.num_nodes=2",
    "trainer.strategy=ddp",
]
LAUNCH_VARS = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "GROUP_RANK", "MASTER_ADDR", "MASTER_PORT",
               "TORCHELASTIC_RUN_ID")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("SLURM_") and k not in LAUNCH_VARS}
    env["PL_DISABLE_FORK"] = "1"
    return env


def _run_nodes(cmds_envs, cwd: Path) -> list[subprocess.CompletedProcess]:
    procs = [subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for cmd, env in cmds_envs]
    outs = []
    try:
        for p in procs:
            out, _ = p.communicate(timeout=400)
            outs.append(subprocess.CompletedProcess(p.args, p.returncode, out, ""))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    return outs


def test_slurm_two_nodes_simulated(tmp_path):
    # What `srun edgewise train ... trainer.num_nodes=2` gives each task (one per node).
    port = str(_free_port())
    run_dir = tmp_path / "run"
    jobs = []
    for rank in (0, 1):
        env = _clean_env()
        env.update(SLURM_JOB_ID="4242", SLURM_JOB_NAME="edgewise", SLURM_NTASKS="2",
                   SLURM_NTASKS_PER_NODE="1", SLURM_NNODES="2", SLURM_PROCID=str(rank),
                   SLURM_LOCALID="0", SLURM_NODEID=str(rank), SLURM_NODELIST="localhost",
                   MASTER_ADDR="127.0.0.1", MASTER_PORT=port)
        jobs.append(([sys.executable, "-m", "edgewise", "train", *TINY, "--output", str(run_dir)],
                     env))
    outs = _run_nodes(jobs, tmp_path)
    for rank, out in enumerate(outs):
        assert out.returncode == 0, f"rank {rank}:\n{out.stdout[-3000:]}"
        assert f"GLOBAL_RANK: {rank}, MEMBER: {rank + 1}/2" in out.stdout
        assert "SLURM auto-requeueing enabled" in out.stdout  # Lightning took SLURM's env
    # Checkpoint contents under DDP are tests/training/test_ddp.py's business.
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    with open(run_dir / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {int(r["epoch"]) for r in rows if r.get("val/dice")} == {0, 1}
    # 4 training images over 2 processes with batch 2: one optimizer step per epoch.
    assert sorted({int(r["step"]) for r in rows if r.get("train/loss_epoch")}) == [0, 1]


def test_torchrun_two_nodes_simulated_custom_module(tmp_path):
    # Two torchrun invocations (one per "node") of the SegmentationModule subclass example.
    port = str(_free_port())
    jobs = []
    for rank in (0, 1):
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc_per_node=1",
               f"--node_rank={rank}", "--master_addr=127.0.0.1", f"--master_port={port}",
               str(REPO / "examples" / "lightning_custom_network.py"), "--fast",
               "--devices", "1", "--num-nodes", "2", "--strategy", "ddp",
               "--output", str(tmp_path / "out")]
        jobs.append((cmd, _clean_env()))
    outs = _run_nodes(jobs, tmp_path)
    for rank, out in enumerate(outs):
        assert out.returncode == 0, f"rank {rank}:\n{out.stdout[-3000:]}"
        assert f"GLOBAL_RANK: {rank}, MEMBER: {rank + 1}/2" in out.stdout
    assert "final metrics:" in outs[0].stdout and "final metrics:" not in outs[1].stdout
    assert "loss weights after training: {'dice': 0.5, 'boundary': 0.5}" in outs[0].stdout
