"""Benchmark harness: grids of datasets x losses x seeds, their runs, statistics and reports.

``edgewise bench EXPERIMENT.yaml`` runs a grid (see :mod:`edgewise.bench.grid` for the file
format) and ``edgewise report BENCH_DIR`` summarises it. The pieces are usable from Python:

- :func:`load_experiment`, :func:`expand_grid`: read an experiment, list its runs;
- :func:`run_grid`: train and evaluate them, resumably, locally or on Ray;
- :func:`mean_std`, :func:`paired_test`: the statistics of the report;
- :func:`write_report`: the Markdown/CSV/figure report of a bench folder.
"""

from edgewise.bench.grid import Cell, expand_grid, load_experiment, run_name
from edgewise.bench.cells import CellResult, cell_status
from edgewise.bench.runner import run_grid
from edgewise.bench.stats import PairedTest, mean_std, paired_test, seed_average

__all__ = [
    "Cell",
    "CellResult",
    "PairedTest",
    "cell_status",
    "expand_grid",
    "load_experiment",
    "mean_std",
    "paired_test",
    "run_grid",
    "run_name",
    "seed_average",
    "write_report",
]


def __getattr__(name: str):  # report imports matplotlib: load it only when asked for
    if name == "write_report":
        from edgewise.bench.report import write_report

        return write_report
    raise AttributeError(f"module 'edgewise.bench' has no attribute {name!r}")
