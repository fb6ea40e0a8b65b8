"""edgewise.bench.cells: a run folder's status from the files it holds."""

from __future__ import annotations

import json

from edgewise.bench.cells import cell_status


def test_cell_status(tmp_path):
    assert cell_status(tmp_path / "missing") == "pending"
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"x")
    assert cell_status(tmp_path) == "interrupted"
    (tmp_path / "error.txt").write_text("boom")
    assert cell_status(tmp_path) == "failed"
    (tmp_path / "summary.json").write_text('{"split": "te')  # cut short while written
    assert cell_status(tmp_path) == "failed"
    (tmp_path / "summary.json").write_text(json.dumps({"split": "test"}))
    assert cell_status(tmp_path) == "done"
