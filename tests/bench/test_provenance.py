"""One grid, one code (#28): each cell records the commit it ran; reports refuse to pool
cells that ran different, uncommitted or unrecorded code unless told to."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from edgewise import training
from edgewise._io import MARKER
from edgewise.bench import provenance
from edgewise.bench.overview import overview, overview_table
from edgewise.bench.report import write_report
from edgewise.bench.results import MixedCodeError
from edgewise.bench.provenance import (
    PROVENANCE_FILE,
    code_label,
    code_provenance,
    read_provenance,
    record_provenance,
)
from edgewise.bench.runner import run_cell
from edgewise.cli import main

from .hand_bench import COMMIT, record_code

OTHER = "fedcba9876543210fedcba9876543210fedcba98"
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                          check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path):
    """A git checkout with the package under src/ (as edgewise's own)."""
    root = tmp_path / "repo"
    pkg = root / "src" / "edgewise"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("__version__ = '0'\n")
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (root / "README.md").write_text("readme\n")
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "one")
    return root


@needs_git
def test_code_provenance_reads_the_commit_and_the_state_of_src(repo):
    pkg = repo / "src" / "edgewise"
    head = _git(repo, "rev-parse", "HEAD")
    rec = code_provenance(pkg)
    assert (rec["commit"], rec["dirty"], rec["changed"], rec["reason"]) == (head, False, [], None)
    assert rec["source"] == str(pkg.resolve()) and rec["version"] and rec["time"]
    assert code_label(rec) == head
    # untracked files and changes outside src/ and pyproject.toml do not count
    (pkg / "scratch.py").write_text("x = 1\n")
    (repo / "README.md").write_text("edited\n")
    assert code_provenance(pkg)["dirty"] is False
    (pkg / "__init__.py").write_text("__version__ = '1'\n")
    rec = code_provenance(pkg)
    assert rec["dirty"] is True and rec["changed"] == ["src/edgewise/__init__.py"]
    assert code_label(rec) == head + "+dirty"
    _git(repo, "checkout", "-q", "--", "src")
    (repo / "pyproject.toml").write_text("[project]\nname = 'y'\n")
    assert code_provenance(pkg)["changed"] == ["pyproject.toml"]


@needs_git
def test_no_repository_no_git_or_an_installed_copy_give_null_with_a_reason(tmp_path, repo, monkeypatch):
    plain = tmp_path / "site-packages" / "edgewise"
    plain.mkdir(parents=True)
    rec = code_provenance(plain)
    assert rec["commit"] is None and rec["dirty"] is None and "not a git repository" in rec["reason"]
    assert code_label(rec) == "unknown"
    # a copy inside a checkout that does not track it (a virtual environment in the repository)
    copy = repo / ".venv" / "site-packages" / "edgewise"
    copy.mkdir(parents=True)
    (copy / "__init__.py").write_text("")
    rec = code_provenance(copy)
    assert rec["commit"] is None and "not tracked by the git repository" in rec["reason"]
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    rec = code_provenance(repo / "src" / "edgewise")
    assert rec["commit"] is None and "git is not installed" in rec["reason"]


def test_code_provenance_of_this_package_never_raises():
    rec = code_provenance()
    assert rec["version"] and (rec["commit"] is None) == (rec["reason"] is not None)
    if rec["commit"]:
        assert len(rec["commit"]) == 40 and isinstance(rec["dirty"], bool)


def test_entries_are_appended_not_overwritten(tmp_path):
    record_provenance(tmp_path, "start", {"commit": COMMIT, "dirty": False})
    record_provenance(tmp_path, "resume", {"commit": OTHER, "dirty": True})
    assert read_provenance(tmp_path) == [{"event": "start", "commit": COMMIT, "dirty": False},
                                         {"event": "resume", "commit": OTHER, "dirty": True}]
    assert read_provenance(tmp_path / "none") is None
    (tmp_path / PROVENANCE_FILE).write_text("not json")
    assert read_provenance(tmp_path) is None


def test_a_restart_before_the_first_checkpoint_starts_a_new_record(tmp_path, monkeypatch):
    """A cell that failed before its first checkpoint starts afresh: train would refuse a file
    it does not write, and nothing of the earlier attempt survives. The callback then records
    the new start, once training has claimed the folder."""
    pytest.importorskip("lightning")
    cell = tmp_path / "syn" / "ce" / "seed0"
    cell.mkdir(parents=True)
    (cell / MARKER).write_text("run\n")
    record_provenance(cell, "start", {"commit": OTHER, "dirty": False})
    # what a kill during the record's atomic write leaves: train would refuse the folder
    (cell / f".{PROVENANCE_FILE}.0ee8j2z8.tmp").write_text('{"runs": [')
    seen = []

    def fake_train(config, output_dir=None, resume=False, callbacks=()):
        seen.append((resume, (Path(output_dir) / PROVENANCE_FILE).exists()))
        for cb in callbacks:
            cb.on_fit_start(SimpleNamespace(is_global_zero=True), None)
        raise RuntimeError("stop after the start")

    monkeypatch.setattr(training, "train", fake_train)
    monkeypatch.setattr(provenance, "code_provenance", lambda: {"commit": COMMIT, "dirty": False})
    res = run_cell(str(tmp_path), "syn/ce/seed0", {"loss": {"terms": [{"name": "ce"}]}})
    assert res.outcome == "failed" and seen == [(False, False)]
    assert read_provenance(cell) == [{"event": "start", "commit": COMMIT, "dirty": False}]
    assert not list(cell.glob(f".{PROVENANCE_FILE}.*.tmp"))


def _rewrite_code(root: Path, name: str, **kw) -> None:
    record_code(root / name, **kw)


def test_report_refuses_mixed_code_and_lists_the_cells(scored_bench, tmp_path, capsys):
    root, _ = scored_bench
    # one cell resumed with other code, one from a dirty tree, one started before provenance
    (root / "syn/ce/seed2" / PROVENANCE_FILE).write_text(json.dumps({"runs": [
        {"event": "start", "commit": COMMIT, "dirty": False},
        {"event": "resume", "commit": OTHER, "dirty": False}]}))
    _rewrite_code(root, "syn/ce_bl/seed0", dirty=True)
    (root / "syn/ce_bl/seed1" / PROVENANCE_FILE).unlink()
    with pytest.raises(MixedCodeError) as err:
        write_report(root, overlays=0)
    msg = str(err.value)
    assert "one committed version of edgewise" in msg and "--allow-mixed-code" in msg
    assert "`0123456789ab` (committed, clean), 3 run(s): syn/ce/seed0, syn/ce/seed1, syn/ce/seed2" in msg
    assert "`fedcba987654` (committed, clean), 1 run(s): syn/ce/seed2" in msg
    assert "`0123456789ab+dirty` (uncommitted changes" in msg and "syn/ce_bl/seed0" in msg
    assert "`missing` (code not recorded" in msg and "syn/ce_bl/seed1" in msg
    assert not (root / "report").exists()
    assert main(["report", str(root), "--overlays", "0"]) == 2
    assert "edgewise report: error: expected the runs of this report" in capsys.readouterr().err

    # pooled on request: said at the top, and in summary.csv's code column
    report = write_report(root, overlays=0, allow_mixed_code=True)
    text = report.read_text()
    assert text.splitlines()[2].startswith("> **Mixed code: these runs did not all run one committed version")
    assert "syn/ce_bl/seed1" in text.split("## syn")[0]
    rows = list(csv.DictReader(open(report.parent / "summary.csv")))
    code = {r["loss"]: r["code"] for r in rows}
    assert code["ce"] == f"{COMMIT} {OTHER}"
    assert code["ce_bl"] == f"{COMMIT}+dirty missing"
    assert main(["report", str(root), "--overlays", "0", "--allow-mixed-code"]) == 0


def test_a_resume_without_a_recorded_start_is_missing_code(scored_bench):
    root, _ = scored_bench
    _rewrite_code(root, "syn/ce/seed0", events=("resume",))  # its start ran an older edgewise
    with pytest.raises(MixedCodeError, match="missing"):
        write_report(root, overlays=0)


def test_report_header_lists_the_commit(scored_bench):
    root, _ = scored_bench
    text = write_report(root, overlays=0).read_text()
    assert "- Code: edgewise 0.1.0, commit `0123456789ab` for every run." in text
    assert "Mixed code" not in text


def test_overview_refuses_reports_of_different_code(scored_bench, tmp_path, capsys):
    root, _ = scored_bench
    first = write_report(root, overlays=0, output=tmp_path / "a").parent
    for cell in ("syn/ce/seed0", "syn/ce/seed1", "syn/ce/seed2", "syn/ce_bl/seed0", "syn/ce_bl/seed1"):
        _rewrite_code(root, cell, commit=OTHER)
    second = write_report(root, overlays=0, output=tmp_path / "b").parent
    assert overview_table([first], ["dice"]) and overview_table([second], ["dice"])
    with pytest.raises(MixedCodeError, match="the runs behind these reports"):
        overview_table([first, second], ["dice"])
    assert main(["overview", str(first), str(second)]) == 2
    assert "fedcba987654" in capsys.readouterr().err
    text = overview([first, second], ["dice"], allow_mixed_code=True)
    assert text.startswith("> **Mixed code")
    assert main(["overview", str(first), str(second), "--allow-mixed-code"]) == 0
    assert capsys.readouterr().out.startswith("> **Mixed code")
    # one report, one clean commit: the table first, then what Δ means and the code
    out = overview([first], ["dice"]).splitlines()
    assert out[0].startswith("| dataset |") and out[-1] == "Code: `0123456789ab`."
    assert any("Holm-adjusted" in line for line in out)


def test_overview_of_a_report_written_before_provenance(scored_bench, tmp_path):
    """An older summary.csv (no code, no adjusted p): refused; shown on request, with its
    uncorrected Wilcoxon p and no mark."""
    root, _ = scored_bench
    src = write_report(root, overlays=0).parent / "summary.csv"
    old = tmp_path / "old"
    old.mkdir()
    keep = ["dataset", "loss", "class", "metric", "mean", "std", "n_seeds", "n_cases", "n_inf", "baseline",
            "mean_diff", "p_wilcoxon", "p_ttest", "n_pairs", "reference"]
    with open(src, newline="") as f, open(old / "summary.csv", "w", newline="") as g:
        w = csv.DictWriter(g, fieldnames=keep)
        w.writeheader()
        for r in csv.DictReader(f):
            r["p_wilcoxon"] = "0.01" if r["p_wilcoxon"] else ""
            w.writerow({k: r[k] for k in keep})
    with pytest.raises(MixedCodeError, match="missing"):
        overview_table([old], ["dice"])
    line = overview_table([old], ["dice"], allow_mixed_code=True).splitlines()[3]
    assert line.endswith("(p_W = 0.010, uncorrected) |") and "▲" not in line
