"""edgewise.training.components: where a run writes, and reading its checkpoints (building the
model, loss and data is tested through whole runs in test_run.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from edgewise.training.components import load_checkpoint, run_dir_of


def test_run_dir_is_output_dir_or_output_root_and_name(tmp_path):
    config = {"output_root": str(tmp_path / "runs"), "name": "tiny"}
    assert run_dir_of(config, None) == tmp_path / "runs" / "tiny"
    assert run_dir_of(config, tmp_path / "elsewhere") == tmp_path / "elsewhere"
    assert isinstance(run_dir_of(config, str(tmp_path)), Path)


def test_load_checkpoint_reads_a_state_dict_and_names_a_bad_file(tmp_path):
    good = tmp_path / "good.ckpt"
    torch.save({"state_dict": {"w": torch.tensor([1.0, 2.0])}, "epoch": 3}, good)
    ckpt = load_checkpoint(good)
    assert ckpt["epoch"] == 3 and torch.equal(ckpt["state_dict"]["w"], torch.tensor([1.0, 2.0]))
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(good.read_bytes()[:40])
    with pytest.raises(ValueError, match="cannot read checkpoint .*cut.ckpt"):
        load_checkpoint(cut)
    plain = tmp_path / "plain.ckpt"
    torch.save([1, 2], plain)
    with pytest.raises(ValueError, match="expected a Lightning checkpoint with a state_dict"):
        load_checkpoint(plain)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.ckpt")
