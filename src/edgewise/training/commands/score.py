"""``edgewise score PREDICTIONS --data NAME --data-root DIR [--split test] -o OUT``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from edgewise.metrics.registry import EXTRA_METRICS, METRIC_SPECS


def _data_option(text: str) -> tuple[str, Any]:
    import yaml

    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (e.g. masks='fov/*.png'), got {text!r}")
    from edgewise._io import read_yaml

    try:
        return key.strip(), read_yaml(value)  # `label_map={0: 0, 0: 1}`: kept the last silently
    except yaml.YAMLError as exc:
        raise argparse.ArgumentTypeError(f"cannot read the value of {key.strip()!r}: {exc}") from None


def _label_pair(text: str) -> tuple[int, int]:
    raw, sep, cls = text.partition(":")
    try:
        if not sep:
            raise ValueError
        return int(raw), int(cls)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected RAW:CLASS integers (e.g. 255:1), got {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from edgewise.data.factory import DATASET_NAMES
    from edgewise.training.scoring import DEFAULT_CASE_REGEX

    parser.add_argument("predictions", type=Path,
                        help="folder of predicted label masks (PNG, GIF, TIFF, NIfTI), one per case")
    parser.add_argument("--data", required=True, choices=[n for n in DATASET_NAMES if n != "synthetic"],
                        help="dataset reader of the reference labels")
    parser.add_argument("--data-root", required=True, type=Path, metavar="DIR",
                        help="the dataset folder")
    parser.add_argument("--split", default="test", help="split scored (default: test; all: every case)")
    parser.add_argument("--data-option", dest="data_options", type=_data_option, action="append",
                        default=[], metavar="KEY=VALUE",
                        help="reader option, value read as YAML, repeatable (e.g. a folder dataset's "
                             "images='img/*.png' labels='gt/*.png' masks='fov/*.png'); size is "
                             "refused: scoring happens on the dataset's original grid")
    parser.add_argument("--pattern", default="*",
                        help="glob of the prediction files in PREDICTIONS (default: *)")
    parser.add_argument("--case-regex", default=DEFAULT_CASE_REGEX, metavar="REGEX",
                        help="case id of a prediction file name, group 'case' (default strips a "
                             "trailing _pred, _seg, _label, _mask, _gt, _manualN); a file also fits "
                             "the case whose id ends in _<id> (DRIVE: 01_manual2.png -> test_01)")
    parser.add_argument("--label-map", type=_label_pair, nargs="+", default=None, metavar="RAW:CLASS",
                        help="prediction values to classes, e.g. 0:0 255:1 for 0/255 masks "
                             "(default: values are the classes)")
    parser.add_argument("--output", "-o", type=Path, required=True,
                        help="results folder for per_case.csv, summary.json (and overlays/), "
                             "written whole; a non-empty folder edgewise did not make is refused")
    parser.add_argument("--tolerance", type=float, default=1.0, metavar="MM",
                        help="NSD / boundary F1 tolerance (default: 1, as edgewise eval)")
    parser.add_argument("--tolerances", type=float, nargs="+", default=None, metavar="MM",
                        help="also score NSD and boundary F1 at each of these tolerances")
    # not the ones that rank probabilities (auc): a folder of label masks has none
    scorable = [m for m in EXTRA_METRICS if not METRIC_SPECS[m].needs_probabilities]
    parser.add_argument("--metrics", nargs="+", default=None, metavar="NAME",
                        help=f"also score these metrics: {', '.join(scorable)}")
    parser.add_argument("--overlays", type=int, default=0,
                        help="number of cases drawn as PNG overlays (default: 0)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: auto, as trainer.num_threads)")


def run(args: argparse.Namespace) -> int:
    print(f"edgewise score: scoring {args.predictions} (reading the reference data)...", file=sys.stderr,
          flush=True)
    from edgewise.training.commands.evaluate import format_summary
    from edgewise.training.scoring import score

    for name in ("threads", "overlays"):
        value = getattr(args, name)
        if value is not None and value < (1 if name == "threads" else 0):
            print(f"edgewise score: error: expected --{name} >= {1 if name == 'threads' else 0}, "
                  f"got {value}", file=sys.stderr)
            return 2
    if args.label_map:
        first: dict[int, int] = {}
        for raw, cls in args.label_map:  # a dict kept the last pair silently
            if first.setdefault(raw, cls) != cls:
                print(f"edgewise score: error: --label-map: raw value {raw} is given twice ({raw}:{first[raw]} "
                      f"and {raw}:{cls}); expected one class per value", file=sys.stderr)
                return 2
    options = dict(args.data_options)
    try:
        summary = score(args.predictions, args.output, data=args.data, data_root=args.data_root,
                        split=args.split, options=options, pattern=args.pattern,
                        case_regex=args.case_regex,
                        label_map=dict(args.label_map) if args.label_map else None,
                        tolerance=args.tolerance, tolerances=args.tolerances,
                        metrics=args.metrics, overlays=args.overlays, threads=args.threads)
    except (ValueError, TypeError, FileNotFoundError, FileExistsError) as exc:
        print(f"edgewise score: error: {exc}", file=sys.stderr)
        return 2
    print(format_summary(summary))
    print(f"per-case metrics: {args.output / 'per_case.csv'}; summary: {args.output / 'summary.json'}")
    return 0
