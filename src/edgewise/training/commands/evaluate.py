"""``edgewise eval RUN_DIR [--split test] [--overlays N]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, help="run folder written by `edgewise train`")
    parser.add_argument("--split", default="test", help="split to evaluate (default: test)")
    parser.add_argument("--overlays", type=int, default=None,
                        help="number of cases drawn as PNG overlays (default from the config)")
    parser.add_argument("--checkpoint", choices=["best", "last"], default=None,
                        help="checkpoint to evaluate (default from the config: best)")
    parser.add_argument("--output", "-o", type=Path, default=None,
                        help="where to write per_case.csv, summary.json and overlays")
    parser.add_argument("--tolerances", type=float, nargs="+", default=None, metavar="MM",
                        help="also score NSD and boundary F1 at each of these tolerances "
                             "(default from the config: evaluation.tolerances)")


def format_summary(summary: dict) -> str:
    from edgewise.training.run import metric_names

    names = metric_names(summary.get("tolerances_mm"))
    w = max(13, *(len(m) + 2 for m in names))
    lines = [f"{summary['split']}: {summary['num_cases']} cases, checkpoint epoch "
             f"{summary['epoch']}", "class        " + "".join(f"{m:>{w}}" for m in names)]
    for cname in summary["classes"]:
        cells = []
        for m in names:
            s = summary["metrics"][m][cname]
            cells.append(f"{s['mean']:{w}.4f}" if s["mean"] is not None else f"{'n/a':>{w}}")
        lines.append(f"{cname[:12]:<13}" + "".join(cells))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from edgewise.training.run import evaluate

    try:
        summary = evaluate(args.run_dir, split=args.split, overlays=args.overlays,
                           checkpoint=args.checkpoint, output_dir=args.output,
                           tolerances=args.tolerances)
    except (ValueError, FileNotFoundError) as exc:
        print(f"edgewise eval: error: {exc}", file=sys.stderr)
        return 2
    print(format_summary(summary))
    out = args.output or (args.run_dir if args.split == "test" else args.run_dir / f"eval_{args.split}")
    print(f"per-case metrics: {out / 'per_case.csv'}; summary: {out / 'summary.json'}")
    return 0
