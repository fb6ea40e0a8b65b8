"""End to end on tiny synthetic data: bench, failure, interruption and resume, report."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from edgewise import training
from edgewise.bench.grid import expand_grid, load_experiment
from edgewise.bench import provenance
from edgewise.bench.cells import cell_files, cell_status
from edgewise.bench.provenance import read_provenance
from edgewise.bench.runner import run_grid
from edgewise.cli import main

pytest.importorskip("lightning")

TINY = {
    "name": "tiny",
    "baseline": "ce",
    "base": {
        "data": {"batch_size": 4, "options": {"n": 4, "n_val": 4, "shape": [32, 32], "kind": "vessels"}},
        "model": {"name": "unet", "args": {"base_channels": 4, "depth": 2}},
        "trainer": {"max_epochs": 2, "log_every_n_steps": 1},
        "evaluation": {"overlays": 0},
    },
    "datasets": {"syn": {"name": "synthetic"}},
    "losses": {
        "ce": {"terms": [{"name": "ce"}]},
        "ce_bl": {
            "terms": [{"name": "ce"}, {"name": "boundary", "weight": 0.01, "args": {"include_background": False}}],
            "schedule": {"name": "rebalance", "step": 0.01},
        },
        "broken": {"terms": [{"name": "no_such_loss"}]},
    },
    "seeds": [0, 1],
}


CODE = {"commit": "0123456789abcdef0123456789abcdef01234567", "dirty": False, "changed": [], "version": "0.1.0",
        "source": "/src/edgewise", "reason": None, "time": "2026-01-01T00:00:00+00:00"}


class _CrashAtSecondEpoch:
    """Lightning callback: raise once the first epoch's checkpoint is written."""

    def __new__(cls):
        import lightning.pytorch as pl

        class Crash(pl.Callback):
            def on_train_epoch_start(self, trainer, module):
                if trainer.current_epoch == 1:
                    raise RuntimeError("simulated crash")

        return Crash()


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """Run the grid once with syn/ce_bl/seed1 crashing in its second epoch."""
    root = tmp_path_factory.mktemp("bench")
    cfg = root / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(TINY, sort_keys=False))
    out = root / "out"
    real_train = training.train

    def crashing_train(config, output_dir=None, resume=False, **kw):
        if Path(output_dir).parts[-3:] == ("syn", "ce_bl", "seed1"):
            kw["callbacks"] = [*kw.get("callbacks", ()), _CrashAtSecondEpoch()]
        return real_train(config, output_dir=output_dir, resume=resume, **kw)

    mp = pytest.MonkeyPatch()
    mp.setattr(training, "train", crashing_train)
    # the code every cell records: one clean commit, whatever state this checkout is in
    mp.setattr(provenance, "code_provenance", lambda: dict(CODE))
    try:
        rc = main(["bench", str(cfg), "--output", str(out), "--no-progress"])
    finally:
        mp.undo()
    return cfg, out, rc


def test_first_invocation_records_failures(bench):
    _, out, rc = bench
    assert rc == 1
    assert yaml.safe_load((out / "bench.yaml").read_text())["cells"][0] == {
        "name": "syn/ce/seed0", "dataset": "syn", "loss": "ce", "seed": 0,
    }
    for name in ("syn/ce/seed0", "syn/ce/seed1", "syn/ce_bl/seed0"):
        assert cell_status(out / name) == "done"
        assert (out / name / "eval_test" / "per_case.csv").is_file() and not (out / name / "error.txt").exists()
    for name in ("syn/broken/seed0", "syn/broken/seed1"):
        assert cell_status(out / name) == "failed"
        assert "no_such_loss" in (out / name / "error.txt").read_text()
    crashed = out / "syn/ce_bl/seed1"
    assert "simulated crash" in (crashed / "error.txt").read_text()
    # each cell that trained recorded the code it ran, when its training started
    for name in ("syn/ce/seed0", "syn/ce/seed1", "syn/ce_bl/seed0", "syn/ce_bl/seed1"):
        assert read_provenance(out / name) == [{"event": "start", **CODE}]
    assert read_provenance(out / "syn/broken/seed0") is None  # failed before training
    assert (crashed / "checkpoints" / "last.ckpt").is_file() and not (crashed / "eval_test").exists()
    assert cell_files(out, "syn/ce/seed0")[1].is_file()  # the training log


def test_second_invocation_skips_done_and_resumes_interrupted(bench, monkeypatch):
    cfg, out, _ = bench
    calls = []
    real_train = training.train

    def recording_train(config, output_dir=None, resume=False, **kw):
        calls.append((Path(output_dir).relative_to(out).as_posix(), resume))
        return real_train(config, output_dir=output_dir, resume=resume, **kw)

    monkeypatch.setattr(training, "train", recording_train)
    monkeypatch.setattr(provenance, "code_provenance", lambda: dict(CODE))
    exp = load_experiment(cfg)
    exp["losses"].pop("broken")
    results = run_grid(expand_grid(exp), out, progress=False)
    assert calls == [("syn/ce_bl/seed1", True)]
    # the resumed cell keeps its start and adds its resume: every version it ran is listed
    assert [e["event"] for e in read_provenance(out / "syn/ce_bl/seed1")] == ["start", "resume"]
    assert read_provenance(out / "syn/ce/seed0") == [{"event": "start", **CODE}]  # skipped: untouched
    assert [r.outcome for r in results] == ["skipped", "skipped", "skipped", "ran"]
    resumed = out / "syn/ce_bl/seed1"
    assert cell_status(resumed) == "done" and not (resumed / "error.txt").exists()
    epochs = {int(r["epoch"]) for r in csv.DictReader(open(resumed / "metrics.csv")) if r.get("val/dice")}
    assert epochs == {0, 1}


def test_changed_config_is_refused(bench, monkeypatch):
    cfg, out, _ = bench
    monkeypatch.setattr(training, "train", lambda *a, **k: pytest.fail("must not train"))
    exp = load_experiment(cfg, assignments=["base.trainer.max_epochs=3", "seeds=[1]"])
    (cell,) = [c for c in expand_grid(exp) if c.loss == "broken"]
    (res,) = run_grid([cell], out, progress=False)
    assert res.outcome == "failed" and "different one" in res.error


def _expected(out: Path, loss: str, metric: str) -> tuple[float, float]:
    per_seed = []
    for seed in (0, 1):
        rows = list(csv.DictReader(open(out / f"syn/{loss}/seed{seed}/eval_test/per_case.csv")))
        by_case: dict[str, list[float]] = {}
        for r in rows:
            v = float(r[metric])
            if math.isfinite(v):
                by_case.setdefault(r["case"], []).append(v)
        per_seed.append(np.mean([np.mean(v) for v in by_case.values()]))
    return float(np.mean(per_seed)), float(np.std(per_seed, ddof=1))


def test_report(bench, capsys):
    _, out, _ = bench
    assert main(["report", str(out), "--overlays", "2"]) == 0
    report = out / "report"  # one folder, replaced whole by each report
    text = (report / "report.md").read_text()
    rows = list(csv.DictReader(open(report / "summary.csv")))
    for loss in ("ce", "ce_bl"):
        for metric in ("dice", "nsd", "boundary_f1"):
            (r,) = [r for r in rows if (r["loss"], r["class"], r["metric"]) == (loss, "mean", metric)]
            mean, std = _expected(out, loss, metric)
            assert float(r["mean"]) == pytest.approx(mean, abs=1e-12)
            assert float(r["std"]) == pytest.approx(std, abs=1e-12)
            if loss == "ce_bl":
                assert 0.0 <= float(r["p_wilcoxon"]) <= 1.0
                assert 0.0 <= float(r["p_ttest"]) <= 1.0 or r["p_ttest"] == ""
    mean, std = _expected(out, "ce", "dice")
    assert f"| **ce** | 2 | {mean:.3f} ± {std:.3f} |" in text
    assert "failed: `syn/broken/seed0`" in text
    for fig in ("syn_curves.png", "syn_boxplots.png", "syn_overlays.png"):
        assert (report / "figures" / fig).stat().st_size > 2000
        assert f"(figures/{fig})" in text
    assert (out / "syn/ce/seed0/overlay_cases.npz").is_file()


def test_bad_experiment_is_a_clear_error(tmp_path, capsys):
    """A missing file, a run config instead of an experiment, a bad --set: exit 2 with one
    line naming the problem, no traceback, no bench folder."""
    out = tmp_path / "bench"
    assert main(["bench", str(tmp_path / "nope.yaml"), "--output", str(out)]) == 2
    assert "experiment file not found" in capsys.readouterr().err
    run_cfg = tmp_path / "run.yaml"
    run_cfg.write_text(yaml.safe_dump({"model": {"name": "unet"}, "loss": {"terms": [{"name": "ce"}]}}))
    assert main(["bench", str(run_cfg), "--output", str(out)]) == 2
    assert "expected top-level keys" in capsys.readouterr().err
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(TINY))
    assert main(["bench", str(cfg), "--output", str(out), "--set", "seeds=foo"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("edgewise bench: error:") and "seeds" in err and "Traceback" not in err
    assert not out.exists()
