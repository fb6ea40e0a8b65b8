"""``edgewise overview REPORT...``: one Markdown table across several bench reports."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folders", type=Path, nargs="+", metavar="REPORT",
                        help="report folders of `edgewise report` (or bench folders: their report/)")
    parser.add_argument("--metrics", nargs="+", default=["dice", "hd95"], metavar="NAME",
                        help="metrics of summary.csv to show (default: dice hd95)")
    parser.add_argument("--alpha", type=float, default=0.05,
                        help="significance level of the ▲ (better) / ▼ (worse) marks, applied to the "
                             "reports' Holm-adjusted p (default 0.05)")
    parser.add_argument("--allow-mixed-code", action="store_true",
                        help="show reports whose runs ran different commits of edgewise, uncommitted "
                             "changes, or unrecorded code (refused otherwise); the output says so first")


def run(args: argparse.Namespace) -> int:
    from edgewise.bench.overview import overview

    try:
        print(overview(args.folders, metrics=args.metrics, alpha=args.alpha,
                       allow_mixed_code=args.allow_mixed_code))
    except (ValueError, FileNotFoundError) as exc:
        print(f"edgewise overview: error: {exc}", file=sys.stderr)
        return 2
    return 0
