"""A bench folder written by hand: finished cells with known per-case values, for the
report, overview, provenance and significance tests (no training needed)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np

from edgewise.bench.cells import write_bench_file
from edgewise.bench.grid import expand_grid

# the commit every hand-written run "ran" (provenance.json, as `edgewise bench` records it)
COMMIT = "0123456789abcdef0123456789abcdef01234567"
CASES = ["c0", "c1", "c2", "c3", "c4", "c5"]
CLASSES = ["vessel", "artery"]
# with the tolerance sweep of evaluate(..., tolerances=[1, 2])
METRICS = ("dice", "hd95", "assd", "nsd", "boundary_f1", "nsd@1", "nsd@2", "boundary_f1@1", "boundary_f1@2")


def record_code(run, commit=COMMIT, dirty=False, events=("start",)):
    """The provenance.json a bench cell writes when its training starts (and resumes)."""
    entries = [{"event": e, "commit": commit, "dirty": dirty if commit else None, "changed": [],
                "version": "0.1.0", "source": "/src/edgewise", "reason": None if commit else "no git",
                "time": "2026-01-01T00:00:00+00:00"} for e in events]
    (run / "provenance.json").write_text(json.dumps({"runs": entries}))


def write_cell_results(cell_dir: Path, header: list[str], rows: list[list], num_cases: int,
                       results: str = "eval_test") -> Path:
    """A finished cell as `edgewise bench` leaves it: ``per_case.csv`` (``header`` and
    ``rows``) and ``summary.json`` in ``cell_dir/results``, the cell's provenance in
    ``cell_dir``. Returns the results folder."""
    out = cell_dir / results
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "per_case.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    (out / "summary.json").write_text(json.dumps({"num_cases": num_cases}))
    record_code(cell_dir)
    return out


def values(loss: str, seed: int) -> dict[tuple[str, str, str], float]:
    """Deterministic, distinct values per (case, class, metric)."""
    rng = np.random.default_rng([["ce", "ce_bl"].index(loss), seed])
    shift = {"ce": 0.0, "ce_bl": 0.03}[loss]
    out = {}
    for case in CASES:
        for cls in CLASSES:
            for m in METRICS:
                base = 0.7 if m.partition("@")[0] in ("dice", "nsd", "boundary_f1") else 3.0
                out[(case, cls, m)] = float(base + shift + rng.uniform(-0.05, 0.05))
    return out


def make_scored_bench(tmp_path: Path) -> tuple[Path, dict]:
    """A bench folder of hand-written finished cells (toy experiment: ce and ce_bl, seeds 0-2,
    ce_bl seed 2 failed; one infinite HD95), and the values each cell's per_case.csv holds."""
    exp = {
        "name": "toy", "baseline": "ce",
        "datasets": {"syn": {"name": "synthetic"}},
        "losses": {"ce": {"terms": [{"name": "ce"}]}, "ce_bl": {"terms": [{"name": "ce"}, {"name": "boundary"}]}},
        "seeds": [0, 1, 2],
    }
    cells = expand_grid(exp)
    write_bench_file(tmp_path, exp, cells)
    truth = {}
    for cell in cells:
        if (cell.loss, cell.seed) == ("ce_bl", 2):
            continue  # a run that never finished
        run = tmp_path / cell.name
        run.mkdir(parents=True)
        vals = values(cell.loss, cell.seed)
        if (cell.loss, cell.seed) == ("ce", 1):
            vals[("c3", "artery", "hd95")] = math.inf  # empty prediction: left out
        truth[(cell.loss, cell.seed)] = vals
        with open(run / "per_case.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["case", "class", *METRICS])
            for case in CASES:
                for cls in CLASSES:
                    w.writerow([case, cls, *[repr(vals[(case, cls, m)]) if math.isfinite(vals[(case, cls, m)]) else "inf" for m in METRICS]])
        with open(run / "metrics.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["epoch", "step", "train/loss_step", "train/loss_epoch", "val/loss", "val/dice"])
            for e in range(3):
                w.writerow([e, 2 * e, 0.9, "", "", ""])
                w.writerow([e, 2 * e + 1, "", "", 1.0 - 0.1 * e, 0.5 + 0.1 * e + 0.01 * cell.seed])
                w.writerow([e, 2 * e + 1, "", 1.0 - 0.2 * e, "", ""])
        (run / "summary.json").write_text(json.dumps({"num_cases": len(CASES)}))
        record_code(run)
    (tmp_path / "syn" / "ce_bl" / "seed2").mkdir(parents=True)
    (tmp_path / "syn" / "ce_bl" / "seed2" / "error.txt").write_text("boom")
    return tmp_path, truth
