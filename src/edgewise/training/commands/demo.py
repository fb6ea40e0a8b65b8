"""``edgewise demo [--fast] [--output DIR] [--epochs N]``."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", "-o", type=Path, default=Path("demo_report"),
                        help="report folder (default: ./demo_report; replaced when done)")
    parser.add_argument("--fast", action="store_true",
                        help="tiny smoke version (seconds; the numbers mean nothing)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs per run (default 20, or 2 with --fast)")
    parser.add_argument("--seed", type=int, default=0, help="seed of both runs (default 0)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run(args: argparse.Namespace) -> int:
    from edgewise.training.demo import format_table, run_demo

    if args.epochs is not None and args.epochs < 1:
        print(f"edgewise demo: error: expected --epochs >= 1, got {args.epochs}")
        return 2
    report_dir, summaries = run_demo(args.output, fast=args.fast, epochs=args.epochs,
                                     seed=args.seed, progress_bar=not args.no_progress)
    print()
    print("Test set (foreground mean; HD95/ASSD in pixels, NSD/BF1 at 1 pixel):")
    print(format_table(summaries))
    print(f"\nReport written to {report_dir / 'report.md'}")
    return 0
