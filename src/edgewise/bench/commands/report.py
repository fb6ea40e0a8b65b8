"""``edgewise report BENCH_DIR``: Markdown, CSV and figures for a bench folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bench_dir", type=Path, help="folder written by `edgewise bench`")
    parser.add_argument(
        "--baseline", default=None,
        help="loss to test the others against (default: the experiment's baseline, else its first loss)",
    )
    parser.add_argument("--output", type=Path, default=None,
                        help="report folder, replaced as a whole (default: BENCH_DIR/report)")
    parser.add_argument("--overlays", type=int, default=3, help="test cases in the overlay grid (0: none)")
    parser.add_argument("--view", default=None,
                        help="one paper's view of the grid (the experiment's `views`): its losses and "
                             "baseline, written to BENCH_DIR/report-VIEW")
    parser.add_argument("--losses", nargs="+", default=None, metavar="LOSS",
                        help="report only these losses of the grid")
    parser.add_argument("--reference", action="append", default=[], metavar="LABEL=DIR",
                        help="a row scored, not trained (e.g. a second observer's masks scored by "
                             "`edgewise score`): DIR holds its per_case.csv; DATASET:LABEL=DIR in a "
                             "grid of several datasets; repeatable")
    parser.add_argument("--allow-mixed-code", action="store_true",
                        help="pool runs that ran different commits of edgewise, uncommitted changes, "
                             "or code that was not recorded (refused otherwise); the report says so "
                             "at its top")


def run(args: argparse.Namespace) -> int:
    print(f"edgewise report: reading {args.bench_dir} (runs, statistics, figures)...", file=sys.stderr,
          flush=True)
    from edgewise.bench.report import write_report

    if args.overlays < 0:
        print(f"edgewise report: error: expected --overlays >= 0, got {args.overlays}", file=sys.stderr)
        return 2
    references = {}
    for item in args.reference:
        key, sep, folder = item.partition("=")
        if not sep or not key or not folder:
            print(f"edgewise report: error: expected --reference LABEL=DIR, got {item!r}", file=sys.stderr)
            return 2
        references[key] = folder
    try:
        path = write_report(args.bench_dir, baseline=args.baseline, output=args.output,
                            overlays=args.overlays, losses=args.losses, view=args.view,
                            references=references, allow_mixed_code=args.allow_mixed_code)
    except (ValueError, FileNotFoundError, FileExistsError) as exc:
        print(f"edgewise report: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}, {path.parent / 'summary.csv'} and {path.parent / 'figures'}/")
    return 0
