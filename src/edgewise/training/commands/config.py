"""``edgewise config show CONFIG [key=value ...]`` and ``edgewise config schema [--output FILE]``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = sub.add_parser(
        "show", help="print the resolved run config (defaults filled, overrides applied) as YAML",
        description="Print the resolved run config as YAML: the file, then the overrides, then "
                    "every default, checked as `edgewise train` checks it.",
    )
    show.add_argument("config", metavar="CONFIG",
                      help="YAML run config, or '-' for the built-in defaults")
    show.add_argument("overrides", nargs="*", metavar="key=value",
                      help="dotted overrides, e.g. optimizer.lr=5e-4 loss.terms.1.weight=0.02")
    schema = sub.add_parser(
        "schema", help="write the JSON Schema of run configs (or of bench experiment files)",
        description="Write the JSON Schema of run config files, for editor completion and "
                    "checks (e.g. `# yaml-language-server: $schema=edgewise.schema.json`).",
    )
    schema.add_argument("--output", "-o", type=Path, help="file to write (default: stdout)")
    schema.add_argument("--experiment", action="store_true",
                        help="the schema of bench experiment files instead of run configs")


def _check_data_root(data: dict) -> None:
    """What `train` checks first about the data without reading it: a reader's folder."""
    if data["name"] == "synthetic":
        return
    root = data.get("root")
    if root is None:
        raise ValueError(f"data.root: dataset {data['name']!r} needs the folder of its files "
                         "(e.g. data.root=/path/to/data), got null")
    from edgewise.data.factory import check_root

    try:
        check_root(data["name"], root)
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"data.root: {exc}") from None


def run(args: argparse.Namespace) -> int:
    from edgewise.training.config import dump_config, load_config
    from edgewise.training.schema import experiment_json_schema, run_json_schema

    if args.action == "show":
        try:
            cfg = load_config(None if args.config == "-" else args.config, args.overrides)
            _check_data_root(cfg["data"])
        except (ValueError, FileNotFoundError) as exc:
            print(f"edgewise config show: error: {exc}", file=sys.stderr)
            return 2
        sys.stdout.write(dump_config(cfg))
        return 0
    schema = experiment_json_schema() if args.experiment else run_json_schema()
    text = json.dumps(schema, indent=2) + "\n"
    if args.output is None:
        sys.stdout.write(text)
    elif args.output.is_dir():
        print(f"edgewise config schema: error: {args.output} is a folder: expected a file path "
              f"such as {args.output / 'edgewise.schema.json'}", file=sys.stderr)
        return 2
    else:
        from edgewise._io import atomic_write_text

        atomic_write_text(args.output, text)  # its folder made if missing (was a traceback)
        print(f"wrote {args.output}")
    return 0
