"""The integration examples run, and a SegmentationModule subclass with its own network trains."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"_example_{name}", EXAMPLES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_monai_example_fast_runs_two_epochs():
    pytest.importorskip("monai")
    r = subprocess.run([sys.executable, str(EXAMPLES / "monai_training.py"), "--fast"],
                       capture_output=True, text=True, timeout=300, cwd=REPO)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    epochs = re.findall(r"epoch (\d): loss ([0-9.]+) weights \[1\.0, ([0-9.]+)\]", r.stdout)
    assert [(e, float(w)) for e, _, w in epochs] == [("0", 0.05), ("1", 0.1)]
    vals = re.findall(r"val Dice ([0-9.]+) HD95 ([0-9.]+|nan) mm", r.stdout)
    assert len(vals) == 2 and all(0.0 <= float(d) <= 1.0 for d, _ in vals)


def test_lightning_subclass_with_custom_network_trains(tmp_path):
    pytest.importorskip("lightning")
    import lightning.pytorch as pl

    ex = _load("lightning_custom_network")
    pl.seed_everything(0)
    module = ex.build_module(lr=1e-2)
    assert isinstance(module, ex.SegmentationModule) and isinstance(module.network, ex.TinyUNet)
    before = [p.detach().clone() for p in module.network.parameters()]
    train = torch.utils.data.DataLoader(ex.TupleDataset(4, 32, 0, (0.5, 0.25)), batch_size=2)
    val = torch.utils.data.DataLoader(ex.TupleDataset(2, 32, 1, (0.5, 0.25)), batch_size=2)
    trainer = pl.Trainer(max_epochs=2, accelerator="cpu", devices=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False)
    trainer.fit(module, train, val)
    assert trainer.global_step == 4  # 2 epochs x 2 batches
    assert any(not torch.equal(a, b) for a, b in zip(before, module.network.parameters()))
    # The schedule advanced once per epoch: a = 1 - 0.25 * 2.
    assert module.loss.epoch == 2
    assert module.loss_weights() == {"dice": 0.5, "boundary": 0.5}
    m = trainer.callback_metrics
    for key in ("train/loss", "train/dice", "train/boundary", "val/dice", "val/hd95"):
        assert key in m and torch.isfinite(m[key]), key
    assert 0.0 <= float(m["val/dice"]) <= 1.0


def test_lightning_subclass_unpacks_tuple_batches():
    pytest.importorskip("lightning")
    ex = _load("lightning_custom_network")
    module = ex.build_module()
    image, label, spacing = ex.TupleDataset(1, 16, 0, (0.5, 0.25))[0]
    out = module.unpack_batch((image[None], label[None], spacing[None]))
    assert out[0].shape == (1, 1, 16, 16) and out[1].shape == (1, 1, 16, 16)
    torch.testing.assert_close(out[2], torch.tensor([[0.5, 0.25]], dtype=torch.float64))
    assert out[3] is None


def test_monai_guide_pipeline_block_runs():
    pytest.importorskip("monai")
    text = (REPO / "docs" / "integrations" / "monai.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    block = next(b for b in blocks if "pipeline = Compose" in b)
    ns: dict = {}
    exec(compile(block, "monai.md", "exec"), ns)
    assert tuple(ns["out"]["label_sdm"].shape) == (2, 32, 32)
    assert tuple(ns["out"]["label_rrw"].shape) == (2, 32, 32)
    # Spacing came from the affine (0.8 x 0.5 mm): distances are in mm, not pixels.
    from edgewise.maps import signed_distance

    lab = ns["out"]["label"].as_tensor()[None]
    torch.testing.assert_close(ns["out"]["label_sdm"].as_tensor(),
                               signed_distance(lab, (0.8, 0.5), num_classes=2)[0])
