"""nnU-Net integration: deep-supervision loss plumbing, plugin discovery, a real 1-epoch run."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from edgewise.integrations.nnunet import TRAINERS, plugin_dir
from edgewise.integrations.nnunet.loss import DeepSupervisionLoss, NoSpacing, RampUp
from edgewise.losses import BoundaryLoss, CompoundLoss, CrossEntropyLoss, build_loss

REPO = Path(__file__).resolve().parents[2]
HAS_NNUNET = importlib.util.find_spec("nnunetv2") is not None
needs_nnunet = pytest.mark.skipif(
    not HAS_NNUNET,
    reason="nnunetv2 is not installed (optional; install without torchvision as in "
    "docs/integrations/nnunet.md)",
)


class SpacingSpy(torch.nn.Module):
    """A term that records the spacing it is called with and returns mean(input)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[tuple[int, ...], object]] = []

    def forward(self, input, target, *, spacing=None):
        self.calls.append((tuple(input.shape[2:]), spacing))
        return input.mean()


# ---------------------------------------------------------------- RampUp


def test_rampup_values():
    s = RampUp(max_weight=0.5, epochs=10)
    assert s(0) == [1.0, 0.0]
    assert s(4) == [1.0, 0.2]
    assert s(10) == [1.0, 0.5] and s(500) == [1.0, 0.5]
    assert RampUp(max_weight=0.3, epochs=0)(0) == [1.0, 0.3]
    assert RampUp(max_weight=1.0, epochs=4, regional=0.5)(2) == [0.5, 0.5]


def test_rampup_errors():
    with pytest.raises(ValueError, match="epochs a non-negative int"):
        RampUp(epochs=-1)
    with pytest.raises(ValueError, match="max_weight >= 0"):
        RampUp(max_weight=-0.1)
    with pytest.raises(ValueError, match="non-negative integer epoch"):
        RampUp()(-1)


# ---------------------------------------------------------------- DeepSupervisionLoss


def _ds_batch(sizes=(16, 8, 4), c=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = [torch.randn(2, c, s, s + 2, generator=g, requires_grad=True) for s in sizes]
    # nnU-Net's targets: float index maps (B, 1, *spatial).
    tgt = [torch.randint(0, c, (2, 1, s, s + 2), generator=g).float() for s in sizes]
    return out, tgt


def test_deep_supervision_spacing_per_scale_and_skipped_scale():
    spy = SpacingSpy()
    loss = DeepSupervisionLoss(CompoundLoss({"spy": spy}), weights=[0.6, 0.4, 0.0],
                               spacing=(3.0, 0.8, 0.5))
    out, tgt = _ds_batch()
    total = loss(out, tgt)
    # Third scale has weight 0: not computed. 2D patches take the last 2 spacing entries;
    # a scale at half resolution has twice the spacing (x: 18 -> 10 voxels, factor 1.8).
    assert [c[0] for c in spy.calls] == [(16, 18), (8, 10)]
    assert spy.calls[0][1] == pytest.approx((0.8, 0.5))
    assert spy.calls[1][1] == pytest.approx((1.6, 0.5 * 18 / 10))
    torch.testing.assert_close(total, 0.6 * out[0].mean() + 0.4 * out[1].mean())


def test_deep_supervision_matches_manual_sum_with_real_terms_and_grad():
    compound = CompoundLoss(
        {"ce": CrossEntropyLoss(), "boundary": BoundaryLoss(include_background=False)},
        schedule=RampUp(max_weight=0.5, epochs=4),
    )
    loss = DeepSupervisionLoss(compound, weights=[4 / 7, 2 / 7, 1 / 7], spacing=(0.5, 2.0))
    loss.epoch = 2
    assert compound.epoch == 2 and compound.weights == [1.0, 0.25]
    out, tgt = _ds_batch()
    total = loss(out, tgt)
    ce, bl = CrossEntropyLoss(), BoundaryLoss(include_background=False)
    expected = 0.0
    for w, o, t, f in zip([4 / 7, 2 / 7, 1 / 7], out, tgt, [1, 2, 4]):
        sp = (0.5 * f, 2.0 * (18 / o.shape[-1]))
        expected = expected + w * (ce(o, t) + 0.25 * bl(o, t, spacing=sp))
    torch.testing.assert_close(total, expected)
    total.backward()
    assert all(o.grad is not None and torch.isfinite(o.grad).all() for o in out)
    assert set(loss.last_terms) == {"ce", "boundary"}


def test_deep_supervision_single_output_and_no_spacing():
    spy = SpacingSpy()
    loss = DeepSupervisionLoss(CompoundLoss({"spy": spy}))
    out, tgt = _ds_batch(sizes=(8,))
    torch.testing.assert_close(loss(out[0], tgt[0]), out[0].mean())
    assert spy.calls == [((8, 10), None)]


def test_deep_supervision_errors():
    with pytest.raises(TypeError, match="CompoundLoss"):
        DeepSupervisionLoss(CrossEntropyLoss())
    with pytest.raises(ValueError, match="non-zero scale weight"):
        DeepSupervisionLoss(CompoundLoss({"ce": CrossEntropyLoss()}), weights=[0.0, 0.0])
    loss = DeepSupervisionLoss(CompoundLoss({"ce": CrossEntropyLoss()}), weights=[0.5, 0.5])
    out, tgt = _ds_batch()
    with pytest.raises(ValueError, match=r"one target per output scale \(3\), got 2"):
        loss(out, tgt[:2])
    with pytest.raises(ValueError, match="expected 3 scale weights, got 2"):
        loss(out, tgt)
    with pytest.raises(ValueError, match="at least 3 entries"):
        DeepSupervisionLoss(CompoundLoss({"ce": CrossEntropyLoss()}), spacing=(1.0, 1.0))(
            torch.randn(1, 2, 4, 4, 4), torch.zeros(1, 1, 4, 4, 4)
        )


def test_no_spacing_adapter_drops_spacing():
    ce = torch.nn.CrossEntropyLoss()
    x, t = torch.randn(2, 3, 4, 4), torch.randint(0, 3, (2, 4, 4))
    torch.testing.assert_close(NoSpacing(ce)(x, t, spacing=(1.0, 2.0)), ce(x, t))


@needs_nnunet
@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("name", [n for n in TRAINERS if n != "nnUNetTrainerEdgewise"])
def test_each_trainer_term_runs_on_deep_supervision_outputs(name, ndim):
    # Each trainer's term, built from its class attributes as _build_loss does, on
    # nnU-Net-shaped outputs (3 scales, float index targets), for 2d and 3d_fullres.
    from edgewise.integrations.nnunet import trainers

    cls = getattr(trainers, name)
    term = build_loss(cls.edgewise_loss, **cls.edgewise_loss_kwargs)
    compound = CompoundLoss({"ce": CrossEntropyLoss(), cls.edgewise_loss: term},
                            schedule=RampUp(cls.edgewise_max_weight, 0))
    loss = DeepSupervisionLoss(compound, weights=[4 / 7, 2 / 7, 1 / 7], spacing=(3.0, 0.8, 0.5))
    if ndim == 2:
        out, tgt = _ds_batch()
    else:
        g = torch.Generator().manual_seed(1)
        out = [torch.randn(2, 3, s, s, s, generator=g, requires_grad=True) for s in (12, 6, 3)]
        tgt = [torch.randint(0, 3, (2, 1, s, s, s), generator=g).float() for s in (12, 6, 3)]
    total = loss(out, tgt)
    assert total.dim() == 0 and torch.isfinite(total)
    total.backward()
    assert torch.isfinite(out[0].grad).all() and out[0].grad.abs().sum() > 0
    assert set(loss.last_terms) == {"ce", cls.edgewise_loss}


# ---------------------------------------------------------------- plugin and launcher


def _run(code: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, check=False)


def test_package_import_does_not_import_nnunet():
    r = _run("import sys, edgewise.integrations.nnunet as n; n.plugin_dir(); n.RampUp;"
             "assert 'nnunetv2' not in sys.modules, 'nnunetv2 imported'")
    assert r.returncode == 0, r.stderr


def test_launcher_plugin_dir_and_bad_command():
    r = subprocess.run([sys.executable, "-m", "edgewise.integrations.nnunet", "--plugin-dir"],
                       capture_output=True, text=True, check=True)
    assert Path(r.stdout.strip()) == plugin_dir()
    assert (plugin_dir() / "edgewise_trainers.py").is_file()
    r = subprocess.run([sys.executable, "-m", "edgewise.integrations.nnunet", "pip"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "not an nnU-Net v2 console command" in r.stderr


@needs_nnunet
def test_nnunet_finds_trainers_in_plugin_dir(tmp_path):
    # nnU-Net's own search over an nnUNet_extTrainer folder, as run_training does it.
    names = ",".join(repr(n) for n in TRAINERS)
    code = (
        "from nnunetv2.utilities.find_class_by_name import recursive_find_python_class as f\n"
        "from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer\n"
        "import edgewise.integrations.nnunet as n\n"
        f"for name in [{names}]:\n"
        "    cls = f(str(n.plugin_dir()), name, None, base_folder=str(n.plugin_dir()),"
        " cleanup_imports_from_base_folder=True)\n"
        "    assert cls is not None and issubclass(cls, nnUNetTrainer), name\n"
        "    assert cls is n.find_trainer(name)\n"
        "print('ok')\n"
    )
    env = {k: str(tmp_path) for k in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results")}
    r = _run(code, env)
    assert r.returncode == 0 and "ok" in r.stdout, r.stdout[-2000:] + r.stderr[-3000:]


@needs_nnunet
@pytest.mark.slow
def test_nnunet_one_epoch_end_to_end(tmp_path):
    # Raw dataset -> fingerprint/plan/preprocess (nnU-Net API) -> nnUNetv2_train through
    # the launcher with a 2-iteration subclass from an nnUNet_extTrainer folder -> validation.
    r = subprocess.run(
        [sys.executable, str(REPO / "examples" / "nnunet_toy.py"), "--workdir", str(tmp_path),
         "--fast", "--cases", "5", "--size", "32", "--trainer", "nnUNetTrainerBoundary"],
        capture_output=True, text=True, timeout=600,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    fold = (tmp_path / "results" / "Dataset990_EdgewiseToy"
            / "nnUNetTrainerBoundaryFast__nnUNetPlans__2d" / "fold_0")
    summary = json.loads((fold / "validation" / "summary.json").read_text())
    assert set(summary["mean"]) == {"1", "2"}
    assert (fold / "checkpoint_final.pth").is_file()
    log = "".join(p.read_text() for p in fold.glob("training_log_*.txt"))
    assert "edgewise loss weights: {'dice_ce': 1.0, 'boundary': 0.1}" in log
