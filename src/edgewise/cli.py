"""The ``edgewise`` console command.

Each subcommand lives in the module of its topic and exposes two functions:
``add_arguments(parser)`` and ``run(args) -> int``. Modules keep heavy imports
(Lightning, matplotlib, nibabel) inside ``run`` so that ``edgewise --help`` stays fast.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys
from collections.abc import Sequence

from edgewise import __version__

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("edgewise.training.commands.demo", "train CE vs CE+boundary on synthetic data and report"),
    "train": ("edgewise.training.commands.train", "train a model from a YAML config"),
    "eval": ("edgewise.training.commands.evaluate", "evaluate a finished run"),
    "score": ("edgewise.training.commands.score",
              "score a folder of predicted masks (or a second observer) as eval scores a model"),
    "config": ("edgewise.training.commands.config", "print a resolved run config or the config JSON Schema"),
    "bench": ("edgewise.bench.commands.bench", "run a grid of datasets x losses x seeds"),
    "report": ("edgewise.bench.commands.report", "write a Markdown report of a bench folder"),
    "select": ("edgewise.bench.commands.select",
               "choose each term's weight on a validation grid and write the final grid"),
    "overview": ("edgewise.bench.commands.overview",
                 "print one Markdown table across several bench reports (dataset x loss vs baseline)"),
}


_DISK_ERRORS = {
    errno.EACCES: "choose a folder you may write to (--output)",
    errno.EPERM: "choose a folder you may write to (--output)",
    errno.EROFS: "the file system is read-only: choose another folder (--output)",
    errno.ENOSPC: "the disk is full: free space, or choose a folder on another disk",
    errno.EDQUOT: "the disk quota is used up: free space, or choose a folder on another disk",
    errno.EFBIG: "a file-size limit was reached (ulimit -f): raise it, or write less",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgewise",
        description="Boundary-aware losses, distance maps and metrics for medical image segmentation.",
    )
    parser.add_argument("--version", action="version", version=f"edgewise {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if not exc.name or not module_name.startswith(exc.name):
                raise
            continue  # command not built yet in this version
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except BrokenPipeError:
        # the reader went away (`edgewise bench --list | head`): not an error of ours; point
        # stdout at devnull so the interpreter's final flush does not raise again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a command killed by a closed pipe
    except OSError as exc:
        if exc.errno not in _DISK_ERRORS:
            raise
        # a read-only or full disk, or a file-size limit: the path and what to do, not a
        # traceback (checkpoints and results are written atomically, so what was there stays)
        where = f" {exc.filename!r}" if exc.filename else ""
        print(f"edgewise {args.command}: error: cannot write{where}: {exc.strerror or exc}; "
              f"{_DISK_ERRORS[exc.errno]}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
