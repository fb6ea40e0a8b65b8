"""Careless or hostile inputs to bench, report, select and overview (#25, second round):
exit 2 with a message naming the input, nothing written."""

from __future__ import annotations

import pytest

from edgewise.cli import main

COMMIT = "0123456789abcdef0123456789abcdef01234567"
SUMMARY = (
    "dataset,loss,class,metric,mean,std,n_seeds,n_cases,baseline,mean_diff,p_wilcoxon,"
    "p_ttest,n_pairs,n_inf,ci_low,ci_high,p_boot,p_holm,code\n"
    f"toy,ce,mean,dice,0.80,0.01,3,20,ce,,,,,0,,,,,{COMMIT}\n"
    f"toy,ce_bl,mean,dice,0.78,0.02,3,20,ce,-0.02,0.0004,0.002,20,0,-0.03,-0.01,0.0002,0.0004,{COMMIT}\n"
)
EXPERIMENT = """name: hx
base:
  data: {name: synthetic, options: {n: 4, n_val: 2, shape: [16, 16]}}
datasets: {syn: {name: synthetic}}
losses: {ce: {terms: [{name: ce}]}}
seeds: [0]
"""


@pytest.mark.parametrize("flags, message", [
    (["--jobs", "0"], "--jobs: expected jobs >= 1, got 0"),
    (["--jobs", "-1"], "--jobs: expected jobs >= 1, got -1"),
    (["--devices", "bogus"], "--devices: expected a device 'cpu', 'cuda' or 'cuda:<index>', got 'bogus'"),
])
def test_bench_refuses_bad_jobs_or_devices_before_writing(tmp_path, capsys, flags, message):
    """Were a ValueError traceback (exit 1) from run_grid, after bench.yaml was written."""
    (tmp_path / "exp.yaml").write_text(EXPERIMENT)
    out = tmp_path / "bench"
    assert main(["bench", str(tmp_path / "exp.yaml"), "--output", str(out), "--no-progress", *flags]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_bench_names_a_folder_or_a_binary_file_given_as_experiment(tmp_path, capsys):
    assert main(["bench", str(tmp_path), "--list"]) == 2
    assert "is a folder: expected a YAML file such as configs/experiments/drive.yaml" in capsys.readouterr().err
    (tmp_path / "x.npz").write_bytes(b"PK\x03\x04\x14\x00\xa0\xff")
    assert main(["bench", str(tmp_path / "x.npz"), "--list"]) == 2
    assert "is not a YAML text file: byte 0xa0 at offset 6 is not UTF-8 text" in capsys.readouterr().err


def test_experiment_seeds_below_zero_are_refused(tmp_path, capsys):
    """`--set 'seeds=[-1]'` listed cells .../seed-1 that all failed (a run's seed is >= 0)."""
    (tmp_path / "exp.yaml").write_text(EXPERIMENT)
    assert main(["bench", str(tmp_path / "exp.yaml"), "--set", "seeds=[-1]", "--list"]) == 2
    assert "expected 'seeds' to be integers >= 0, got [-1]" in capsys.readouterr().err


@pytest.mark.parametrize("seeds", [["-1"], ["0", "0"]])
def test_select_refuses_seeds_the_final_grid_cannot_run(tmp_path, capsys, seeds):
    """Were written into the final grid (exit 0), whose runs then failed or were refused."""
    out = tmp_path / "final.yaml"
    assert main(["select", str(tmp_path), "--seeds", *seeds, "-o", str(out)]) == 2
    assert "--seeds: expected distinct integers >= 0" in capsys.readouterr().err
    assert not out.exists()


def test_an_unknown_metric_is_a_value_error_naming_it():
    """`select --metric bogus` was a KeyError traceback."""
    from edgewise.bench.results import metric_info

    assert metric_info("nsd@2") == ("NSD@2", True)
    with pytest.raises(ValueError, match=r"expected a metric among \['dice', .*got 'bogus'"):
        metric_info("bogus")


def test_report_refuses_negative_overlays_by_its_flag(tmp_path, capsys):
    """Was "expected n to be None or a non-negative integer" (which n?)."""
    assert main(["report", str(tmp_path), "--overlays", "-1"]) == 2
    assert "edgewise report: error: expected --overlays >= 0, got -1" in capsys.readouterr().err


def test_overview_names_a_binary_summary(tmp_path, capsys):
    """Was "'utf-8' codec can't decode byte 0x89 in position 0", without the file."""
    report = tmp_path / "bench" / "report"
    report.mkdir(parents=True)
    (report / "summary.csv").write_text(SUMMARY)
    assert main(["overview", str(report), "--metrics", "dice"]) == 0
    capsys.readouterr()
    (report / "summary.csv").write_bytes(b"\x89PNG\r\n\x1a\n")
    assert main(["overview", str(report)]) == 2
    err = capsys.readouterr().err
    assert "summary.csv: expected the CSV text of `edgewise report`'s summary.csv, but byte 0x89" in err


def test_bench_set_with_a_key_written_twice_is_refused(tmp_path, capsys):
    """`--set 'base.trainer={max_epochs: 1, max_epochs: 7}'` kept 7 silently."""
    (tmp_path / "exp.yaml").write_text(EXPERIMENT)
    assert main(["bench", str(tmp_path / "exp.yaml"), "--set", "base.trainer={max_epochs: 1, max_epochs: 7}",
                 "--list"]) == 2
    assert "key 'max_epochs' is written twice in one mapping (both on line 1)" in capsys.readouterr().err
