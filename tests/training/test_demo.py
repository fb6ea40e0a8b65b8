from edgewise.training.demo import run_demo


def test_demo_fast_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo_report"
    (out).mkdir()
    (out / "old.txt").write_text("previous report")
    report_dir, summaries = run_demo(out, fast=True, progress_bar=False)
    assert report_dir == out.resolve()
    assert not (out / "old.txt").exists()  # replaced as a whole, once complete
    for name in ("report.md", "learning_curves.png", "overlays.png"):
        assert (out / name).is_file(), name
    assert set(summaries) == {"ce", "ce_boundary"}
    for label, summary in summaries.items():
        run = out / "runs" / label
        assert (run / "summary.json").is_file() and (run / "per_case.csv").is_file()
        assert 0.0 <= summary["mean"]["dice"] <= 1.0
        assert summary["num_cases"] == 4
    report = (out / "report.md").read_text()
    assert "| ce |" in report and "| ce_boundary |" in report
    assert not list(tmp_path.glob(".demo_report.*"))  # no leftover temporary folders
