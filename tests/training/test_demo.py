import json
import math

import pytest
import torch

from edgewise.training.demo import demo_configs, format_table, run_demo


def test_demo_fast_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo_report"
    threads = torch.get_num_threads()
    report_dir, summaries = run_demo(out, fast=True, progress_bar=False)
    assert torch.get_num_threads() == threads  # the demo's single thread is restored
    assert report_dir == out.resolve()
    for name in ("report.md", "learning_curves.png", "overlays.png"):
        assert (out / name).is_file(), name
    assert set(summaries) == {"ce", "ce_boundary"}
    for label, summary in summaries.items():
        results = out / "runs" / label / "eval_test"
        assert (results / "per_case.csv").is_file()
        # the summary names the final files, never the temporary folder it was built in
        on_disk = (results / "summary.json").read_text()
        assert "partial" not in on_disk
        for path in (json.loads(on_disk)["checkpoint"], *json.loads(on_disk)["overlays"]):
            assert (results / path).is_file(), path
        assert 0.0 <= summary["mean"]["dice"] <= 1.0
        assert summary["num_cases"] == 4
    # The smoke test must not look broken: the CE run segments something, with finite
    # surface distances (a background-only model gives Dice 0 and no HD95).
    ce = summaries["ce"]["mean"]
    assert ce["dice"] > 0.3
    assert all(ce[m] is not None and math.isfinite(ce[m]) for m in ("hd95", "assd", "nsd"))
    report = (out / "report.md").read_text()
    assert "| ce |" in report and "| ce_boundary |" in report
    assert "Fast mode" in report and "## What was compared" in report
    assert not list(tmp_path.glob(".demo_report.*"))  # no leftover temporary folders
    printed = capsys.readouterr()
    assert "training `ce`" in printed.out and "training `ce_boundary`" in printed.out
    assert "litlogger" not in printed.out + printed.err
    assert "GPU available" not in printed.out + printed.err


def test_demo_configs():
    full, fast = demo_configs(), demo_configs(fast=True)
    assert full["ce"]["loss"]["terms"] == [{"name": "ce", "weight": 1.0}]
    assert [t["name"] for t in full["ce_boundary"]["loss"]["terms"]] == ["ce", "boundary"]
    assert full["ce_boundary"]["loss"]["schedule"]["name"] == "rebalance"
    assert full["ce"]["trainer"]["max_epochs"] == 20 and fast["ce"]["trainer"]["max_epochs"] == 8
    assert demo_configs(epochs=3, seed=5)["ce_boundary"]["trainer"]["max_epochs"] == 3
    assert demo_configs(epochs=3, seed=5)["ce"]["seed"] == 5
    # Both runs differ only in the loss.
    a, b = (dict(c) for c in full.values())
    for cfg in (a, b):
        cfg.pop("loss")
        cfg.pop("name")
    assert a == b


def _summary(dice, hd95, n_finite_hd95, n=4):
    def stats(mean, n_finite):
        return {"vessel": {"n": n, "n_finite": n_finite, "mean": mean}}

    metrics = {"dice": stats(dice, n), "hd95": stats(hd95, n_finite_hd95),
               "assd": stats(hd95, n_finite_hd95), "nsd": stats(0.5, n),
               "boundary_f1": stats(0.25, n)}
    return {"mean": {m: v["vessel"]["mean"] for m, v in metrics.items()}, "metrics": metrics}


def test_format_table_marks_partial_means():
    text = format_table({"ce": _summary(0.8, 2.5, 4), "ce_boundary": _summary(0.1, 7.0, 3)})
    lines = text.splitlines()
    assert lines[0].split() == ["loss", "Dice", "HD95", "ASSD", "NSD@1", "BF1@1"]
    assert lines[1].split() == ["ce", "0.800", "2.500", "2.500", "0.500", "0.250"]
    assert lines[2].split() == ["ce_boundary", "0.100", "7.000*", "7.000*", "0.500", "0.250"]
    assert lines[3].startswith("* mean over the test images where the value is finite")
    md = format_table({"ce": _summary(0.0, None, 0)}, markdown=True).splitlines()
    assert md[2] == "| ce | 0.000 | n/a | n/a | 0.500 | 0.250 |"
    assert len(md) == 3  # n/a needs no footnote


def test_demo_rejects_bad_threads(tmp_path):
    with pytest.raises(ValueError, match="threads"):
        run_demo(tmp_path / "r", fast=True, threads=0)


def test_demo_replaces_a_report_of_an_earlier_edgewise_only(tmp_path):
    from edgewise.training.demo import _is_old_report

    old = tmp_path / "demo_report"
    (old / "runs").mkdir(parents=True)
    (old / "report.md").write_text("# edgewise demo: cross-entropy vs cross-entropy + boundary loss\n")
    (old / "learning_curves.png").write_bytes(b"png")
    assert _is_old_report(old)  # written before folder markers: the demo may replace it
    (old / "my_notes.md").write_text("mine")
    assert not _is_old_report(old)
    (old / "my_notes.md").unlink()
    (old / "report.md").write_text("# My report\n")
    assert not _is_old_report(old)
