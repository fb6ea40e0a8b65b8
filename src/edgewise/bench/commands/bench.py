"""``edgewise bench EXPERIMENT.yaml``: run a grid of datasets x losses x seeds."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", type=Path, help="experiment YAML (see configs/experiments/)")
    parser.add_argument("--variant", default=None, help="a variant of the experiment, e.g. quick or full")
    parser.add_argument(
        "--output", type=Path, default=None,
        help="bench folder (default: runs/bench/<experiment>[-<variant>])",
    )
    parser.add_argument(
        "--devices", nargs="+", default=None, metavar="DEVICE",
        help="devices to run on, one worker each: cpu (default), cuda, cuda:0 cuda:1 ...",
    )
    parser.add_argument("--jobs", type=int, default=1, help="runs at once (default 1, or one per device)")
    parser.add_argument("--backend", choices=["local", "ray"], default="local", help="where runs execute")
    parser.add_argument(
        "--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE",
        help="change the experiment, e.g. --set base.trainer.max_epochs=20 --set 'seeds=[0,1,2]'; "
             "KEY=null removes a key (--set losses.ce_bl=null: that arm is not run)",
    )
    parser.add_argument("--list", action="store_true", help="print the grid and each run's state, run nothing")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from edgewise.bench.grid import expand_grid, load_experiment, resolve_roots
    from edgewise.bench.cells import cell_status, write_bench_file
    from edgewise.bench.runner import check_run_options, run_grid

    try:  # before anything is written (a refused --jobs 0 left a bench folder behind)
        check_run_options(args.backend, args.jobs, args.devices)
    except ValueError as exc:
        flag = "--jobs" if "jobs" in str(exc) else "--devices"
        print(f"edgewise bench: error: {flag}: {exc}", file=sys.stderr)
        return 2

    # relative data roots are taken from the current directory, as any path on the command line
    try:
        experiment = resolve_roots(load_experiment(args.config, args.variant, args.assignments), Path.cwd())
    except FileNotFoundError:
        print(f"edgewise bench: error: experiment file not found: {args.config}", file=sys.stderr)
        return 2
    except (OSError, ValueError, yaml.YAMLError) as exc:
        print(f"edgewise bench: error: {args.config}: {exc}", file=sys.stderr)
        return 2
    cells = expand_grid(experiment)
    name = experiment["name"] + (f"-{args.variant}" if args.variant else "")
    bench_dir = args.output or Path("runs") / "bench" / name
    if args.list:
        for cell in cells:
            print(f"{cell_status(bench_dir / cell.name):12s} {bench_dir / cell.name}")
        return 0
    try:
        write_bench_file(bench_dir, experiment, cells)
    except FileExistsError as exc:
        print(f"edgewise bench: error: {exc}", file=sys.stderr)
        return 2
    results = run_grid(
        cells, bench_dir, backend=args.backend, jobs=args.jobs, devices=args.devices,
        progress=not args.no_progress,
    )
    counts = {k: sum(r.outcome == k for r in results) for k in ("ran", "skipped", "failed")}
    print(f"{bench_dir}: {counts['ran']} ran, {counts['skipped']} already done, {counts['failed']} failed")
    for r in results:
        if r.outcome == "failed":
            print(f"  failed: {r.name} ({r.error}); see {Path(r.name) / 'error.txt'}")
    print(f"report: edgewise report {bench_dir}")
    return 1 if counts["failed"] else 0
