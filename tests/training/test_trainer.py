import csv
import json
import math

import lightning.pytorch as pl
import pytest
import torch

from edgewise.training import evaluate, predict_cases, train
from edgewise.training.evaluation import _case_metrics


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_train_and_evaluate_outputs(tmp_path, tiny_config):
    cfg = tiny_config("data.options.num_classes=3", "data.options.kind=mixed",
                      "trainer.max_epochs=2", "validation.hd95=true")
    run_dir = train(cfg, output_dir=tmp_path / "run")
    for name in ("config.yaml", "metrics.csv", "checkpoints/best.ckpt", "checkpoints/last.ckpt"):
        assert (run_dir / name).is_file(), name
    assert any((run_dir / "tensorboard").iterdir())
    assert not list(run_dir.rglob("*.tmp"))
    epochs = {int(r["epoch"]) for r in _rows(run_dir / "metrics.csv") if r.get("val/dice")}
    assert epochs == {0, 1}

    summary = evaluate(run_dir, split="test")
    assert summary["num_cases"] == 2 and summary["classes"] == ["class1", "class2"]
    results = run_dir / "eval_test"
    rows = _rows(results / "per_case.csv")
    assert len(rows) == 2 * 2  # one row per case and foreground class
    assert {r["case"] for r in rows} == {"synthetic_test_0000", "synthetic_test_0001"}
    for r in rows:
        assert 0.0 <= float(r["dice"]) <= 1.0
        assert 0.0 <= float(r["nsd"]) <= 1.0 and 0.0 <= float(r["boundary_f1"]) <= 1.0
        assert float(r["hd95"]) >= 0 and float(r["assd"]) >= 0  # inf allowed (empty masks)
    on_disk = json.loads((results / "summary.json").read_text())
    assert on_disk["metrics"]["dice"]["class1"]["n"] == 2
    dice1 = [float(r["dice"]) for r in rows if r["class"] == "class1"]
    assert on_disk["metrics"]["dice"]["class1"]["mean"] == pytest.approx(sum(dice1) / 2, abs=1e-5)
    assert len(list((results / "overlays").glob("*.png"))) == 1
    # paths in the summary are relative to its folder: right wherever the folder is
    assert on_disk["run"] == ".." and on_disk["checkpoint"] == "../checkpoints/best.ckpt"
    assert [(results / p).is_file() for p in on_disk["overlays"]] == [True]


def test_case_metrics_inside_the_mask():
    label = torch.zeros(1, 12, 12, dtype=torch.long)
    label[0, 3:7, 3:7] = 1
    pred = label.clone()
    pred[0, 10:12, 10:12] = 1  # false positives outside the evaluation mask
    mask = torch.zeros(1, 12, 12, dtype=torch.bool)
    mask[0, :9, :9] = True
    case = {"pred": pred, "label": label, "mask": mask, "spacing": torch.tensor([1.0, 1.0])}
    inside = _case_metrics(case, 2, tolerance=1.0)
    assert inside["dice"][0] == pytest.approx(1.0) and inside["hd95"][0] == pytest.approx(0.0)
    assert inside["nsd"][0] == pytest.approx(1.0)
    case.pop("mask")
    everywhere = _case_metrics(case, 2, tolerance=1.0)
    assert everywhere["dice"][0] == pytest.approx(2 * 16 / (16 + 20))


def test_case_metrics_tolerance_sweep_hand_case():
    from edgewise.metrics import boundary_f1, surface_dice

    label = torch.zeros(1, 20, 20, dtype=torch.long)
    label[0, 5:12, 5:12] = 1
    pred = torch.roll(label, 2, dims=1)  # every boundary point 2 px off along one axis
    case = {"pred": pred, "label": label, "spacing": torch.tensor([1.0, 1.0])}
    values = _case_metrics(case, 2, tolerance=1.0, tolerances=[1, 2, 3.5])
    p = torch.nn.functional.one_hot(pred, 2).movedim(-1, 1)
    t = torch.nn.functional.one_hot(label, 2).movedim(-1, 1)
    for tol, key in ((1.0, "1"), (2.0, "2"), (3.5, "3.5")):
        assert values[f"nsd@{key}"][0] == pytest.approx(surface_dice(p, t, tol)[0, 1].item())
        assert values[f"boundary_f1@{key}"][0] == pytest.approx(boundary_f1(p, t, tol)[0, 1].item())
    assert values["nsd@1"][0] < 1.0 and values["nsd@2"][0] == pytest.approx(1.0)
    assert values["nsd"][0] == values["nsd@1"][0]  # the single tolerance is 1 here
    assert values["boundary_f1@3.5"][0] == pytest.approx(1.0)


def test_evaluate_tolerance_sweep(tmp_path, tiny_config):
    from edgewise.metrics import boundary_f1, surface_dice
    from edgewise.training.module import masked_onehot

    cfg = tiny_config("data.options.num_classes=3", "data.options.kind=mixed",
                      "trainer.max_epochs=2", "evaluation.tolerances=[1, 2, 3, 4]",
                      "evaluation.overlays=0")
    run_dir = train(cfg, output_dir=tmp_path / "run")
    summary = evaluate(run_dir)
    assert summary["tolerances_mm"] == [1.0, 2.0, 3.0, 4.0]
    rows = _rows(run_dir / "eval_test" / "per_case.csv")
    assert list(rows[0])[2:] == ["dice", "hd95", "assd", "nsd", "boundary_f1",
                                 "nsd@1", "nsd@2", "nsd@3", "nsd@4",
                                 "boundary_f1@1", "boundary_f1@2", "boundary_f1@3", "boundary_f1@4"]
    cases = predict_cases(run_dir)
    assert [c["case"] for c in cases] == ["synthetic_test_0000", "synthetic_test_0001"]
    for case in cases:
        p = masked_onehot(case["pred"][None], 3)
        t = masked_onehot(case["label"][None], 3)
        for ci, cname in enumerate(["class1", "class2"]):
            (row,) = [r for r in rows if r["case"] == case["case"] and r["class"] == cname]
            for tol in (1, 2, 3, 4):
                nsd = surface_dice(p, t, float(tol), spacing=case["spacing"][None])[0, ci + 1].item()
                bf1 = boundary_f1(p, t, float(tol), spacing=case["spacing"][None])[0, ci + 1].item()
                assert float(row[f"nsd@{tol}"]) == pytest.approx(nsd, abs=1e-5)
                assert float(row[f"boundary_f1@{tol}"]) == pytest.approx(bf1, abs=1e-5)
            assert row["nsd"] == row["nsd@1"] and row["boundary_f1"] == row["boundary_f1@1"]
    bf3 = [float(r["boundary_f1@3"]) for r in rows if r["class"] == "class1"]
    assert summary["metrics"]["boundary_f1@3"]["class1"]["mean"] == pytest.approx(sum(bf3) / 2, abs=1e-5)
    # the argument overrides the config; predict_cases(n=1) is the first case of the full list
    other = evaluate(run_dir, tolerances=[0.5], output_dir=tmp_path / "other")
    assert set(other["metrics"]) == {"dice", "hd95", "assd", "nsd", "boundary_f1", "nsd@0.5", "boundary_f1@0.5"}
    (first,) = predict_cases(run_dir, n=1)
    assert first["case"] == cases[0]["case"] and torch.equal(first["pred"], cases[0]["pred"])
    with pytest.raises(ValueError, match="non-negative integer"):
        predict_cases(run_dir, n=-1)


def test_sliced_3d_data_are_scored_as_volumes(tmp_path, tiny_config):
    cfg = tiny_config("data.options={n: 2, n_val: 2, shape: [8, 16, 16], mode: slices, seed: 0}")
    run_dir = train(cfg, output_dir=tmp_path / "run")
    summary = evaluate(run_dir, overlays=1)
    rows = _rows(run_dir / "eval_test" / "per_case.csv")
    assert len(rows) == 2 and summary["num_cases"] == 2  # 2 volumes, not 16 slices
    assert {r["case"] for r in rows} == {"synthetic_test_0000", "synthetic_test_0001"}
    (case,) = predict_cases(run_dir, n=1)  # only the first volume's slices, re-stacked
    assert case["case"] == "synthetic_test_0000" and case["pred"].shape == (1, 8, 16, 16)


class _Crash(pl.Callback):
    def on_train_epoch_end(self, trainer, module):
        if trainer.current_epoch == 2:
            raise RuntimeError("simulated crash")


def test_resume_after_interruption(tmp_path, tiny_config):
    cfg = tiny_config("trainer.max_epochs=4",
                      "loss={terms: [{name: ce, weight: 1.0}, {name: boundary, weight: 0.01}],"
                      " schedule: {name: rebalance, step: 0.01}}")
    run_dir = tmp_path / "run"
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(cfg, output_dir=run_dir, callbacks=[_Crash()])
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)
    assert ckpt["loops"]["fit_loop"]["epoch_progress"]["current"]["processed"] == 2
    with pytest.raises(FileExistsError):
        train(cfg, output_dir=run_dir)  # never overwrite a run without resume
    train(cfg, output_dir=run_dir, resume=True)

    rows = _rows(run_dir / "metrics.csv")
    epoch_rows = [r for r in rows if r.get("train/loss_epoch")]
    assert [int(r["epoch"]) for r in epoch_rows] == [0, 1, 2, 3]  # each epoch once
    # Rebalance from [1, 0.01] by 0.01 per epoch: the schedule continued across the crash.
    for r in epoch_rows:
        e = int(r["epoch"])
        assert float(r["weight/boundary"]) == pytest.approx(0.01 + 0.01 * e, abs=1e-6)
        assert float(r["weight/ce"]) == pytest.approx(1.0 - 0.01 * e, abs=1e-6)
    steps = [int(r["step"]) for r in rows if r.get("train/loss_step")]
    assert steps == sorted(set(steps))  # no step logged twice
    final = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)
    assert final["edgewise_loss"]["epoch"] == 4


def test_resume_needs_a_checkpoint(tmp_path, tiny_config):
    with pytest.raises(FileNotFoundError, match="last.ckpt"):
        train(tiny_config(), output_dir=tmp_path / "none", resume=True)


def test_bad_config_raises_before_any_output(tmp_path):
    with pytest.raises(ValueError, match="'trainer.max_epoch'"):
        train({"trainer": {"max_epoch": 3}}, output_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_failed_evaluation_keeps_previous_results(tmp_path, tiny_config, monkeypatch):
    run_dir = train(tiny_config(), output_dir=tmp_path / "run")
    evaluate(run_dir, overlays=0)
    results = run_dir / "eval_test"
    before = (results / "summary.json").read_text(), (results / "per_case.csv").read_text()

    import edgewise.training.evaluation as run_mod

    def broken(*args, **kwargs):
        raise RuntimeError("metric failure")

    monkeypatch.setattr(run_mod, "_case_metrics", broken)
    with pytest.raises(RuntimeError):
        evaluate(run_dir, overlays=0)
    after = (results / "summary.json").read_text(), (results / "per_case.csv").read_text()
    assert before == after
    assert math.isfinite(json.loads(before[0])["mean"]["dice"])


class _LastCheckpointEpochs(pl.Callback):
    """Records the epoch stored in last.ckpt when each epoch starts (after the previous save)."""

    def __init__(self, path):
        self.path = path
        self.seen = []

    def on_train_epoch_start(self, trainer, module):
        if self.path.is_file():
            self.seen.append(torch.load(self.path, weights_only=False)["epoch"])


def test_last_checkpoint_every_epoch_when_validating_less_often(tmp_path, tiny_config):
    # Lightning's checkpoint callback defers saving to validation when
    # check_val_every_n_epoch > 1; last.ckpt must still follow every epoch.
    run_dir = tmp_path / "run"
    probe = _LastCheckpointEpochs(run_dir / "checkpoints" / "last.ckpt")
    train(tiny_config("trainer.max_epochs=3", "trainer.check_val_every_n_epoch=2"),
          output_dir=run_dir, callbacks=[probe])
    assert probe.seen == [0, 1]
    final = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)
    assert final["epoch"] == 2
    assert torch.load(run_dir / "checkpoints" / "best.ckpt", weights_only=False)["epoch"] == 1


def test_lightning_chatter_is_scoped():
    import logging
    import warnings

    from edgewise.training.components import lightning_output

    class Collect(logging.Handler):
        def __init__(self):
            super().__init__(logging.DEBUG)
            self.messages = []

        def emit(self, record):
            self.messages.append(record.getMessage())

    log = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    seen = Collect()
    log.addHandler(seen)
    old_level = log.level
    log.setLevel(logging.INFO)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")  # set before lightning_output's filter
            with lightning_output(info=False):
                log.info("Tip: try installing [litlogger](https://pypi.org/project/litlogger/)")
                log.info("GPU available: False, used: False")
                log.warning("a real warning")
                warnings.warn("`isinstance(treespec, LeafSpec)` is deprecated", FutureWarning, stacklevel=1)
                warnings.warn("another deprecation", FutureWarning, stacklevel=1)
        assert seen.messages == ["a real warning"]
        assert [str(w.message) for w in caught] == ["another deprecation"]
        seen.messages.clear()
        with lightning_output(info=True):
            log.info("Tip: litlogger")
            log.info("GPU available: False, used: False")
        log.info("Tip: litlogger")  # outside the block: untouched
        assert seen.messages == ["GPU available: False, used: False", "Tip: litlogger"]
    finally:
        log.removeHandler(seen)
        log.setLevel(old_level)
