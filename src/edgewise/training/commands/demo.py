"""``edgewise demo [--fast] [--output DIR] [--epochs N] [--seed S] [--threads N]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", "-o", type=Path, default=Path("demo_report"),
                        help="report folder (default: ./demo_report; replaced when done, if it is "
                             "an earlier demo report; any other non-empty folder is refused)")
    parser.add_argument("--fast", action="store_true",
                        help="tiny smoke version (seconds; shows the pipeline works, "
                             "not how the losses compare)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs per run (default 20, or 8 with --fast)")
    parser.add_argument("--seed", type=int, default=0, help="seed of both runs (default 0)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: the demo's small convolutions "
                             "gain little from more, and slow down badly on a busy machine)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run(args: argparse.Namespace) -> int:
    from edgewise.training.demo import format_table, run_demo

    for flag, value, low in (("--epochs", args.epochs, 1), ("--threads", args.threads, 1), ("--seed", args.seed, 0)):
        if value is not None and value < low:
            print(f"edgewise demo: error: expected {flag} >= {low}, got {value}", file=sys.stderr)
            return 2
    try:
        report_dir, summaries = run_demo(args.output, fast=args.fast, epochs=args.epochs,
                                         seed=args.seed, progress_bar=not args.no_progress,
                                         threads=args.threads)
    except FileExistsError as exc:
        print(f"edgewise demo: error: {exc}", file=sys.stderr)
        return 2
    print()
    print("Test images, vessel class, mean per image "
          "(HD95/ASSD in pixels; NSD/BF1 at 1 pixel tolerance):")
    print(format_table(summaries))
    print(f"\nReport: {report_dir / 'report.md'} (plots and run folders beside it)")
    return 0
