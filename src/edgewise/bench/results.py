"""Results of a bench folder: every finished run's per-case values and learning curves.

What :mod:`edgewise.bench.report` tabulates and :mod:`edgewise.bench.figures` draws; both
import it, and neither imports the other's functions back.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from edgewise.bench.stats import seed_average
from edgewise.metrics.registry import EVALUATED_METRICS, METRIC_SPECS, MetricSpec
from edgewise.metrics.registry import EXTRA_METRICS as _EXTRA_METRICS
from edgewise.metrics.registry import SWEEP_METRICS as _SWEEP_METRICS

__all__ = [
    "MEAN",
    "EXTRA_METRICS",
    "METRICS",
    "MISSING_CODE",
    "BenchResults",
    "MixedCodeError",
    "RunData",
    "case_means",
    "check_code",
    "code_labels",
    "code_groups",
    "column_spec",
    "describe_code",
    "finite_mean",
    "is_sweep",
    "load_results",
    "metric_info",
    "read_curves",
    "read_per_case",
    "reader_name",
    "seed_means",
    "short_code",
]

# per_case.csv column -> label in the report; "higher" tells the direction of better (views
# of edgewise.metrics.registry: the metrics every evaluation writes)
METRICS: dict[str, tuple[str, bool]] = {
    m: (METRIC_SPECS[m].label, METRIC_SPECS[m].higher_is_better) for m in EVALUATED_METRICS
}
MEAN = "mean"
# tolerance sweep of edgewise.training.evaluate: per_case.csv columns "<metric>@<t>"
SWEEP_METRICS = _SWEEP_METRICS
# the metrics runs score on request (evaluation.metrics: topology for thin structures, pixel
# metrics inside a field of view), in their own table of the report
EXTRA_METRICS: dict[str, tuple[str, bool]] = {
    m: (METRIC_SPECS[m].label, METRIC_SPECS[m].higher_is_better) for m in _EXTRA_METRICS
}


def is_sweep(metric: str) -> bool:
    """Whether ``metric`` is a tolerance-sweep column such as ``nsd@2``."""
    base, sep, tol = metric.partition("@")
    return bool(sep) and base in SWEEP_METRICS and _is_number(tol)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def column_spec(metric: str) -> MetricSpec:
    """The registry's record of a ``per_case.csv`` / ``summary.csv`` metric: ``"nsd@2"`` ->
    NSD's (its label, direction, decimals in the report)."""
    if metric in METRICS or metric in EXTRA_METRICS:
        return METRIC_SPECS[metric]
    base = metric.partition("@")[0]
    if base not in METRICS:
        raise ValueError(f"expected a metric among {[*METRICS, *EXTRA_METRICS]} (or "
                         f"{'@T, '.join(SWEEP_METRICS)}@T at a tolerance T), got {metric!r}")
    return METRIC_SPECS[base]


def metric_info(metric: str) -> tuple[str, bool]:
    """``(label, higher is better)``: ``"hd95" -> ("HD95", False)``, ``"nsd@2" -> ("NSD@2", True)``."""
    spec = column_spec(metric)
    _, sep, tol = metric.partition("@")
    return (f"{spec.label}@{tol}" if sep else spec.label), spec.higher_is_better


def _metric_order(metric: str) -> tuple[int, int, float]:
    if metric in METRICS:
        return (0, list(METRICS).index(metric), 0.0)
    if metric in EXTRA_METRICS:
        return (2, list(EXTRA_METRICS).index(metric), 0.0)
    base, _, tol = metric.partition("@")
    return (1, SWEEP_METRICS.index(base), float(tol))


def _known(metric: str) -> bool:
    return metric in METRICS or metric in EXTRA_METRICS or is_sweep(metric)


@dataclass
class RunData:
    """What one finished run left: per-case values and its learning curves."""

    dataset: str
    loss: str
    seed: int
    path: Path
    # values[metric][class][case]
    values: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    curves: dict[str, dict[int, float]] = field(default_factory=dict)
    # the entries of the cell's provenance.json (None: it has none); its name in the grid
    code: list[dict[str, Any]] | None = None
    name: str = ""


@dataclass
class BenchResults:
    """All finished runs of a bench folder, with the grid they belong to."""

    bench_dir: Path
    experiment: dict[str, Any]
    cells: list[dict[str, Any]]
    runs: list[RunData]
    missing: list[str]
    failed: list[str]

    @property
    def datasets(self) -> list[str]:
        return list(dict.fromkeys(c["dataset"] for c in self.cells))

    def losses(self, dataset: str) -> list[str]:
        return list(dict.fromkeys(c["loss"] for c in self.cells if c["dataset"] == dataset))

    def runs_of(self, dataset: str, loss: str) -> list[RunData]:
        return [r for r in self.runs if r.dataset == dataset and r.loss == loss]

    def metrics(self, sweep: bool = True) -> list[str]:
        """Metrics present in the runs: the fixed ones, then (``sweep=True``) the tolerance
        sweep ``nsd@<t>``, ``boundary_f1@<t>`` by metric and tolerance, and the on-request
        metrics (:data:`EXTRA_METRICS`)."""
        present = {m for r in self.runs for m in r.values}
        return sorted((m for m in present if m in METRICS or (sweep and _known(m))), key=_metric_order)

    def sweep_metrics(self) -> list[str]:
        """The tolerance-sweep metrics present (``nsd@1``, ``nsd@2``, ..., ``boundary_f1@1``, ...)."""
        return [m for m in self.metrics() if is_sweep(m)]

    def extra_metrics(self) -> list[str]:
        """The on-request metrics present (``cldice``, ``betti0_error``, ``auc``, ...)."""
        return [m for m in self.metrics() if m in EXTRA_METRICS]

    def subset(self, losses: Sequence[str]) -> BenchResults:
        """The same results restricted to ``losses`` (in the grid's order)."""
        known = list(dict.fromkeys(c["loss"] for c in self.cells))
        unknown = [loss for loss in losses if loss not in known]
        if unknown:
            raise ValueError(f"expected losses of the grid {known}, got {unknown}")
        keep = set(losses)

        def kept(name: str) -> bool:
            return name.split("/")[1] in keep

        return dataclasses.replace(
            self,
            cells=[c for c in self.cells if c["loss"] in keep],
            runs=[r for r in self.runs if r.loss in keep],
            missing=[m for m in self.missing if kept(m)],
            failed=[f for f in self.failed if kept(f)],
        )

    def subject_of(self, dataset: str) -> Callable[[str], str]:
        """Case id -> subject for ``dataset``, from its reader (:func:`reader_name`): ACDC's
        ``patientNNN_ED`` and ``patientNNN_ES`` are one patient; other cases are their own."""
        from edgewise.data.factory import subject_of

        name = reader_name(self.experiment, dataset)
        return functools.lru_cache(maxsize=None)(lambda case: subject_of(name, case))

    def classes(self, dataset: str) -> list[str]:
        seen: dict[str, None] = {}
        for r in self.runs:
            if r.dataset == dataset:
                for per_class in r.values.values():
                    seen.update(dict.fromkeys(c for c in per_class if c != MEAN))
        return list(seen)


def load_results(bench_dir: str | Path) -> BenchResults:
    """Read ``bench.yaml`` and every finished run's ``per_case.csv`` and ``metrics.csv``."""
    from edgewise.bench.cells import BENCH_FILE, cell_results, cell_status
    from edgewise.bench.provenance import read_provenance

    bench_dir = Path(bench_dir)
    bench_file = bench_dir / BENCH_FILE
    if not bench_file.is_file():
        raise FileNotFoundError(f"expected a bench folder with {BENCH_FILE}, got {bench_dir}")
    doc = yaml.safe_load(bench_file.read_text())
    runs: list[RunData] = []
    missing: list[str] = []
    failed: list[str] = []
    for cell in doc["cells"]:
        path = bench_dir / cell["name"]
        state = cell_status(path)
        if state != "done" or not (cell_results(path) / "per_case.csv").is_file():
            (failed if state == "failed" else missing).append(cell["name"])
            continue
        run = RunData(cell["dataset"], cell["loss"], int(cell["seed"]), path, name=str(cell["name"]))
        run.values = read_per_case(cell_results(path) / "per_case.csv")
        run.code = read_provenance(path)
        if (path / "metrics.csv").is_file():
            run.curves = read_curves(path / "metrics.csv")
        runs.append(run)
    return BenchResults(bench_dir, doc.get("experiment", {}), doc["cells"], runs, missing, failed)


def read_per_case(path: str | Path) -> dict[str, dict[str, dict[str, float]]]:
    """``per_case.csv`` (one row per case and class) -> ``values[metric][class][case]``.

    A ``mean`` pseudo-class holds each case's mean over its classes (non-finite values
    left out; NaN when none is finite). Tolerance-sweep columns (``nsd@2``, ...) and the
    on-request metrics (``cldice``, ``betti0_error``, ...) are read as metrics of their own.
    """
    values: dict[str, dict[str, dict[str, float]]] = {}
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        metrics = [m for m in reader.fieldnames or [] if _known(m)]
        for row in reader:
            case, cls = row["case"], str(row["class"])
            for metric in metrics:
                if row[metric] not in ("", None):
                    values.setdefault(metric, {}).setdefault(cls, {})[case] = float(row[metric])
    for per_class in values.values():
        cases = sorted({c for v in per_class.values() for c in v})
        per_class[MEAN] = {
            case: finite_mean([v[case] for v in per_class.values() if case in v]) for case in cases
        }
    return values


def read_curves(path: str | Path) -> dict[str, dict[int, float]]:
    """Per-epoch curves from Lightning's ``metrics.csv``: ``{name: {epoch: value}}``.

    Lightning writes training and validation values on separate rows; the last non-empty
    value of an epoch is kept. ``train/loss`` is read from ``train/loss_epoch`` when
    logged per step and per epoch.
    """
    curves: dict[str, dict[int, float]] = {}
    wanted = {"train/loss_epoch": "train/loss", "train/loss": "train/loss", "val/loss": "val/loss", "val/dice": "val/dice"}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row.get("epoch") in ("", None):
                continue
            epoch = int(float(row["epoch"]))
            for col, name in wanted.items():
                if row.get(col) not in ("", None):
                    curves.setdefault(name, {})[epoch] = float(row[col])
    return curves


def finite_mean(values: Iterable[float]) -> float:
    arr = np.asarray(list(values), dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    return float(arr.mean()) if arr.size else math.nan


def seed_means(runs: Sequence[RunData], metric: str, cls: str) -> list[float]:
    """Each seed's mean over cases."""
    return [finite_mean(r.values.get(metric, {}).get(cls, {}).values()) for r in runs]


def case_means(runs: Sequence[RunData], metric: str, cls: str) -> dict[str, float]:
    """Each case's mean over seeds."""
    return seed_average({r.seed: r.values.get(metric, {}).get(cls, {}) for r in runs})


def reader_name(experiment: Mapping[str, Any], dataset: str) -> str | None:
    """The reader (``data.name``: ``acdc``, ``drive``, ...) of a grid's dataset label: the
    dataset's own ``name``, else the base config's."""
    entry = (experiment.get("datasets") or {}).get(dataset) or {}
    name = entry.get("name") if isinstance(entry, Mapping) else None
    if name is None:
        data = (experiment.get("base") or {}).get("data") or {}
        name = data.get("name") if isinstance(data, Mapping) else None
    return str(name) if name is not None else None


# ------------------------------------------------------------------------- code provenance
# the label of a run whose code was not (fully) recorded: no provenance.json, or one whose
# first entry is a resume (the start ran an edgewise that did not record it)
MISSING_CODE = "missing"
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


class MixedCodeError(ValueError):
    """Runs to be pooled ran different code, uncommitted code, or code nobody recorded."""


def code_labels(run: RunData) -> list[str]:
    """The code a run ran, one label per distinct version (see
    :func:`edgewise.bench.provenance.code_label`): a commit, ``<commit>+dirty``, ``unknown`` (no
    git), or :data:`MISSING_CODE`."""
    from edgewise.bench.provenance import code_label

    if not run.code:
        return [MISSING_CODE]
    labels = {code_label(entry) for entry in run.code}
    if run.code[0].get("event") != "start":
        labels.add(MISSING_CODE)
    return sorted(labels)


def code_groups(runs: Iterable[RunData]) -> dict[str, list[str]]:
    """Label -> the runs (grid names) that ran it; a resumed run can be under several."""
    groups: dict[str, list[str]] = {}
    for r in runs:
        for label in code_labels(r):
            groups.setdefault(label, []).append(r.name or r.path.as_posix())
    return dict(sorted(groups.items()))


def short_code(label: str) -> str:
    """``<40 hex>[+dirty]`` -> its first 12 characters (and ``+dirty``); other labels as they are."""
    commit, plus, rest = label.partition("+")
    return (commit[:12] + plus + rest) if _COMMIT.match(commit) else label


def _what(label: str) -> str:
    if label == MISSING_CODE:
        return "code not recorded: no provenance.json, or its start ran an edgewise that did not record it"
    if label == "unknown":
        return "no git commit: see `reason` in the cells' provenance.json"
    if label.endswith("+dirty"):
        return "uncommitted changes under src/ or in pyproject.toml"
    return "committed, clean"


def describe_code(groups: Mapping[str, Sequence[str]], limit: int = 12, unit: str = "run(s)") -> list[str]:
    """One line per code label: ``` `label` (what it is), N run(s): cell, cell, ... ```."""
    lines = []
    for label, names in groups.items():
        shown = ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")
        lines.append(f"`{short_code(label)}` ({_what(label)}), {len(names)} {unit}: {shown}")
    return lines


def check_code(groups: Mapping[str, Sequence[str]], what: str = "the runs of this report",
               flag: str = "--allow-mixed-code", unit: str = "run(s)") -> str | None:
    """``None`` when every run ran one clean commit, else why they may not be pooled."""
    labels = list(groups)
    if len(labels) == 1 and _COMMIT.match(labels[0]):
        return None
    if not labels:
        return None
    head = (f"expected {what} to have run one committed version of edgewise (one grid, one code), "
            f"got {len(labels)} version(s):" if len(labels) > 1 else
            f"expected {what} to have run committed, recorded code, got:")
    return "\n".join([head, *(f"  - {line}" for line in describe_code(groups, unit=unit)),
                      f"Rerun the cells that differ (delete their folders), commit the changes and rerun, "
                      f"or pass {flag} to pool them anyway (the output then says so at its top)."])
