"""``edgewise eval RUN_DIR [RUN_DIR ...] [--split test] [--overlays N] [--threads N]
[--data-root DIR] [--mirror-axes AXIS ...]``; several runs make an ensemble."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edgewise.metrics.registry import EXTRA_METRICS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, nargs="+",
                        help="run folder written by `edgewise train`; several folders make an "
                             "ensemble (their softmax averaged; needs --output)")
    parser.add_argument("--split", default=None,
                        help="split to evaluate (default: test; with --data-root: all, every case)")
    parser.add_argument("--overlays", type=int, default=None,
                        help="number of cases drawn as PNG overlays (default from the config)")
    parser.add_argument("--checkpoint", choices=["best", "last"], default=None,
                        help="checkpoint to evaluate (default from the config: best)")
    parser.add_argument("--output", "-o", type=Path, default=None,
                        help="results folder for per_case.csv, summary.json and overlays/, "
                             "replaced as a whole (default: RUN_DIR/eval_<split>; required "
                             "for an ensemble)")
    parser.add_argument("--tolerances", type=float, nargs="+", default=None, metavar="MM",
                        help="also score NSD and boundary F1 at each of these tolerances "
                             "(default from the config: evaluation.tolerances)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default from the config: trainer.num_threads)")
    parser.add_argument("--data-root", type=Path, default=None, metavar="DIR",
                        help="score the run on another folder of the same layout (an external "
                             "test set); results go to <run_dir>/external_<folder>_<split> "
                             "unless --output, never into the run's own results")
    parser.add_argument("--mirror-axes", type=int, nargs="*", default=None, metavar="AXIS",
                        help="test-time mirroring: average the softmax over every combination "
                             "of flips along these spatial axes, 0 = first (default from the "
                             "config: evaluation.mirror_axes; no value switches it off)")
    parser.add_argument("--metrics", nargs="+", default=None, metavar="NAME",
                        help=f"also score these metrics: {', '.join(EXTRA_METRICS)} (default "
                             "from the config: evaluation.metrics)")


def format_summary(summary: dict) -> str:
    """The per-class table of a summary. A mean that leaves out infinite values (a distance
    to an empty prediction or reference) says how many: ``4.2100 (11 inf)``."""
    from edgewise.training.evaluation import metric_names

    names = metric_names(summary.get("tolerances_mm"), summary.get("extra_metrics") or ())
    rows = []
    for cname in summary["classes"]:
        cells = []
        for m in names:
            s = summary["metrics"][m][cname]
            cell = f"{s['mean']:.4f}" if s["mean"] is not None else "n/a"
            if s.get("n_inf"):
                cell += f" ({s['n_inf']} inf)"
            cells.append(cell)
        rows.append((cname[:12], cells))
    w = max(13, *(len(m) + 2 for m in names), *(len(c) + 2 for _, cells in rows for c in cells))
    # a scored folder of predictions (edgewise score) has no checkpoint
    # summary.json keeps Lightning's 0-based epoch; train prints epochs from 1 ("epoch 3/25"),
    # so the line says which of those the checkpoint followed
    source = f", checkpoint after epoch {int(summary['epoch']) + 1}" if summary.get("epoch") is not None else ""
    if "ensemble" in summary:
        epochs = ", ".join(str(int(m["epoch"]) + 1) for m in summary["ensemble"])
        source = f", ensemble of {len(summary['ensemble'])} runs (checkpoints after epochs {epochs})"
    lines = [f"{summary['split']}: {summary['num_cases']} cases{source}", "class        " + "".join(f"{m:>{w}}" for m in names)]
    lines += [f"{cname:<13}" + "".join(f"{c:>{w}}" for c in cells) for cname, cells in rows]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    # the imports and the first case take a while: say what is happening first
    print(f"edgewise eval: scoring {', '.join(str(r) for r in args.run_dir)} (loading the model and the "
          "data)...", file=sys.stderr, flush=True)
    from edgewise.training.evaluation import eval_dir, evaluate

    if args.threads is not None and args.threads < 1:
        print(f"edgewise eval: error: expected --threads >= 1, got {args.threads}", file=sys.stderr)
        return 2
    if args.overlays is not None and args.overlays < 0:  # as score: it drew none, without a word
        print(f"edgewise eval: error: expected --overlays >= 0, got {args.overlays}", file=sys.stderr)
        return 2
    split = args.split or ("all" if args.data_root is not None else "test")
    try:
        runs = args.run_dir[0] if len(args.run_dir) == 1 else args.run_dir
        summary = evaluate(runs, split=split, overlays=args.overlays,
                           checkpoint=args.checkpoint, output_dir=args.output,
                           tolerances=args.tolerances, threads=args.threads,
                           data_root=args.data_root, metrics=args.metrics,
                           mirror_axes=args.mirror_axes)
    except (ValueError, FileNotFoundError, FileExistsError) as exc:
        print(f"edgewise eval: error: {exc}", file=sys.stderr)
        return 2
    print(format_summary(summary))
    out = args.output or eval_dir(args.run_dir[0], split, args.data_root)
    print(f"per-case metrics: {out / 'per_case.csv'}; summary: {out / 'summary.json'}")
    return 0
