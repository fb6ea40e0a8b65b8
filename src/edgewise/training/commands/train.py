"""``edgewise train --config FILE.yaml [key=value ...] [--resume] [--output DIR] [--no-progress]``."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="dotted overrides, e.g. optimizer.lr=5e-4 trainer.max_epochs=50")
    parser.add_argument("--config", "-c", type=Path,
                        help="YAML run configuration (default: the built-in defaults; with "
                             "--resume, the run's saved config.yaml)")
    parser.add_argument("--output", "-o", type=Path,
                        help="run folder (default: <output_root>/<name> from the config)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in the output folder from checkpoints/last.ckpt")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bar: one line per epoch (the default when the "
                             "output is not a terminal)")


def run(args: argparse.Namespace) -> int:
    from edgewise.training.config import load_config
    from edgewise.training.trainer import saved_run_config, train

    cfg = None
    try:
        config_path = args.config
        if config_path is None and args.resume and args.output and (args.output / "config.yaml").is_file():
            # the run's own config, as it trained (older runs: physical map units)
            cfg = load_config(base=saved_run_config(args.output / "config.yaml"), overrides=args.overrides)
        else:
            if config_path is None and args.resume and args.output:
                if not (args.output / "config.yaml").exists():  # was "config file not found"
                    raise FileNotFoundError(
                        f"cannot resume: no run in {args.output} (no config.yaml); expected the "
                        "folder of an earlier `edgewise train`")
                config_path = args.output / "config.yaml"
            cfg = load_config(config_path, args.overrides)
        if args.no_progress:
            cfg["trainer"]["enable_progress_bar"] = False
        try:
            run_dir = train(cfg, output_dir=args.output, resume=args.resume)
        except SystemExit as exc:
            # Lightning turns Ctrl-C into a graceful shutdown and exit(1)
            if isinstance(exc.__context__, KeyboardInterrupt):
                raise KeyboardInterrupt from exc
            raise
    except (ValueError, FileNotFoundError, FileExistsError) as exc:
        print(f"edgewise train: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        from edgewise.training.components import run_dir_of

        if cfg is None:
            return 130
        folder = run_dir_of(cfg, args.output)
        if (folder / "checkpoints" / "last.ckpt").is_file():
            print(f"\nedgewise train: interrupted; continue with: edgewise train --resume -o "
                  f"{shlex.quote(str(folder))}", file=sys.stderr)
        else:
            print("\nedgewise train: interrupted before the first checkpoint; start again with the "
                  "same command", file=sys.stderr)
        return 130  # 128 + SIGINT, what a shell reports for a command stopped by Ctrl-C
    print(f"run folder: {run_dir}")
    print(f"evaluate with: edgewise eval {shlex.quote(str(run_dir))}")
    return 0
