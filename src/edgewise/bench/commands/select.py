"""``edgewise select BENCH_DIR -o FINAL.yaml``: each term's weight chosen on validation."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bench_dir", type=Path, metavar="BENCH_DIR",
                        help="a finished selection grid (evaluation.bench_split: val)")
    parser.add_argument("--output", "-o", type=Path,
                        help="write the final grid's experiment file here (a new file; never "
                             "overwritten): the baseline and each chosen arm, scored on test")
    parser.add_argument("--metric", default="dice",
                        help="validation metric to choose on (default: dice)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], metavar="SEED",
                        help="seeds of the final grid (default: 0 1 2)")


def run(args: argparse.Namespace) -> int:
    import yaml

    from edgewise._io import atomic_write_text
    from edgewise.bench.selection import final_experiment, select_weights

    seeds = list(args.seeds)
    if any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        # the final grid was written with them, and every run of it failed later
        print(f"edgewise select: error: --seeds: expected distinct integers >= 0, got {seeds}", file=sys.stderr)
        return 2
    try:
        if args.output is not None and args.output.exists():
            raise FileExistsError(f"{args.output} exists: edgewise never overwrites it; choose a new file")
        selection = select_weights(args.bench_dir, metric=args.metric)
        print(selection.table())
        if args.output is not None:
            stage1 = yaml.safe_load((args.bench_dir / "bench.yaml").read_text())["experiment"]
            final = final_experiment(stage1, selection, seeds=args.seeds)
            header = (f"# Made by `edgewise select {args.bench_dir} --metric {args.metric}` from the "
                      "selection grid's\n# validation scores (test never seen):\n"
                      + "".join(f"# {line}\n" for line in selection.table().splitlines()))
            atomic_write_text(args.output, header + yaml.safe_dump(final, sort_keys=False))
            print(f"\nwrote {args.output}: edgewise bench {args.output} --jobs 2")
    except (ValueError, FileNotFoundError, FileExistsError) as exc:
        print(f"edgewise select: error: {exc}", file=sys.stderr)
        return 2
    return 0
