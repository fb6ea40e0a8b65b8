"""Train a run configuration: :func:`train` (the run folder, checkpoints, resume)."""

from __future__ import annotations

import logging
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from edgewise._io import (
    LOCK,
    MARKER,
    atomic_leftover,
    atomic_write_text,
    claim_dir,
    folder_lock,
    owner_kind,
    read_yaml,
)
from edgewise.training.components import (
    _global_rank,
    _is_terminal,
    _torch_threads,
    build_components,
    load_checkpoint,
    lightning_output,
    run_dir_of,
)
from edgewise.training.config import (
    dump_config,
    resolve_num_threads,
    validate_config,
)

__all__ = ["train"]

log = logging.getLogger("edgewise")

# What train() writes into a run folder before its first checkpoint: a folder holding
# only these (and edgewise's marker) is an attempt that stopped early and may start again.
_RUN_ARTEFACTS = frozenset({MARKER, LOCK, "config.yaml", "metrics.csv", "hparams.yaml", "tensorboard", "learning_curves.png",
                            "checkpoints"})


def _is_run_artefact(name: str) -> bool:
    """A file train() writes before its first checkpoint, or what a kill during its atomic
    write of one left (``.config.yaml.XXXXXXXX.tmp``)."""
    return name in _RUN_ARTEFACTS or atomic_leftover(name) in _RUN_ARTEFACTS


def _check_run_dir(run_dir: Path, resume: bool) -> bool:
    """Raise unless :func:`train` may write in ``run_dir``; writes nothing.

    Returns True when ``run_dir`` holds an edgewise run that stopped before its first
    checkpoint, which a fresh start clears (only the files it wrote).
    """
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    if resume:
        if ckpt.is_file():
            return False
        hint = ""
        if owner_kind(run_dir) == "run":
            hint = ("; the run stopped before its first checkpoint: start it again without "
                    "resume (--resume), in the same folder")
        raise FileNotFoundError(f"cannot resume: no checkpoint at {ckpt}{hint}")
    if not run_dir.exists():
        return False
    if not run_dir.is_dir():
        raise FileExistsError(f"run folder {run_dir} is a file: choose another output folder")
    entries = {p.name for p in run_dir.iterdir()} - {LOCK}
    if not entries:
        return False
    if ckpt.is_file():
        raise FileExistsError(
            f"run folder {run_dir} already holds a run (checkpoints/last.ckpt): continue it "
            "with resume=True (--resume), or choose another output folder"
        )
    if owner_kind(run_dir) == "run" and all(_is_run_artefact(name) for name in entries):
        return True
    why = "was not made by edgewise" if owner_kind(run_dir) is None else "holds files a run does not write"
    raise FileExistsError(
        f"run folder {run_dir} already exists, is not empty and {why}; edgewise never "
        "overwrites it: choose a new or empty output folder"
    )


#: Keys that may differ on resume (docs/training.md, "Resuming"): they change how long or
#: where the run goes on, or what it prints, never what it trains.
RESUMABLE_KEYS = (
    "name", "output_root", "data.root", "data.num_workers", "data.val_batch_size",
    "trainer.max_epochs", "trainer.num_threads", "trainer.enable_progress_bar",
    "trainer.log_every_n_steps", "trainer.accelerator", "trainer.devices", "trainer.num_nodes",
    "trainer.strategy", "validation", "evaluation",
)


def _flat(cfg: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in cfg.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(_flat(value, dotted + "."))
        else:
            out[dotted] = value
    return out


def saved_run_config(path: Path) -> dict[str, Any]:
    """A run's saved ``config.yaml`` as it trained: a config written before ``loss.map_units``
    existed trained its map terms in physical units (the default is voxel since then)."""
    raw = read_yaml(path.read_text(encoding="utf-8")) or {}
    loss = raw.get("loss") if isinstance(raw, dict) else None
    if isinstance(loss, dict) and "map_units" not in loss:
        raw["loss"] = {**loss, "map_units": "physical"}
    return dict(raw)


def _check_resume_config(run_dir: Path, cfg: Mapping[str, Any]) -> None:
    """Refuse a resume whose config trains something else than the checkpoint did.

    Called before anything is written: the run's ``config.yaml`` is what its checkpoint
    trained, and a resume that rewrote it with another network or loss would leave a run
    that neither resumes nor evaluates, or records a loss it never trained with.
    """
    path = run_dir / "config.yaml"
    if not path.is_file():
        return  # a run of an edgewise that did not write it: nothing to compare with
    old = _flat(validate_config(saved_run_config(path)))
    # both through the same YAML round trip, so a value YAML writes differently (the keys of
    # a label_map) does not read as a change
    new = _flat(validate_config(read_yaml(dump_config(cfg)) or {}))

    def free(key: str) -> bool:
        return any(key == k or key.startswith(k + ".") for k in RESUMABLE_KEYS)

    missing = object()
    diff = [f"  {k}: {old.get(k, missing)!r} in the run, {new.get(k, missing)!r} now"
            for k in sorted(set(old) | set(new)) if not free(k) and old.get(k, missing) != new.get(k, missing)]
    if diff:
        shown = "\n".join(d.replace(repr(missing), "(absent)") for d in diff)
        raise ValueError(
            f"cannot resume {run_dir}: the config differs from the one its checkpoint trained "
            f"({path}) in\n{shown}\nresume with the run's own config (edgewise train --resume -o "
            f"{run_dir}), changing only {', '.join(RESUMABLE_KEYS)}; or start a new run"
        )


def _check_accelerator(accelerator: str) -> None:
    """A GPU asked for where torch sees none: say so before anything is written (Lightning
    raises its own MisconfigurationException only once the trainer is built)."""
    wanted = str(accelerator).lower()
    if wanted in ("gpu", "cuda") and not torch.cuda.is_available():
        has_mps = wanted == "gpu" and getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
        if not has_mps:
            build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
            raise ValueError(
                f"trainer.accelerator: {accelerator!r} asked for, but torch {torch.__version__} ({build}) "
                "finds no GPU: use trainer.accelerator=cpu (or auto), or a machine with a GPU"
            )


def _claim_run_dir(run_dir: Path, restart: bool) -> None:
    """Create (or clear, after an early stop) and mark the run folder; remove checkpoint
    files a killed save left behind."""
    if restart:
        log.warning("edgewise: %s holds a run that stopped before its first checkpoint; "
                    "starting it again", run_dir)
        for p in run_dir.iterdir():
            if p.name not in (MARKER, LOCK):
                if p.is_dir():
                    shutil.rmtree(p)
                else:
                    p.unlink()
    # a run folder of an edgewise without markers is recognised by its checkpoint
    claim_dir(run_dir, "run", what="run folder",
              adopt=lambda d: (d / "checkpoints" / "last.ckpt").is_file())
    for tmp in sorted((run_dir / "checkpoints").glob("*.ckpt.tmp")):
        log.warning("edgewise: removing %s (%.0f MB), left by a checkpoint save that was killed",
                    tmp, tmp.stat().st_size / 1e6)
        tmp.unlink()


def train(
    config: Mapping[str, Any],
    output_dir: str | os.PathLike | None = None,
    resume: bool = False,
    *,
    callbacks: Sequence[Any] = (),
    verbose: bool = True,
) -> Path:
    """Train a model from a run configuration and return its run folder.

    Args:
        config: a configuration mapping (validated and completed with defaults here; see
            :func:`edgewise.training.config.load_config`).
        output_dir: the run folder; default ``<output_root>/<name>``.
        resume: continue from ``<run_dir>/checkpoints/last.ckpt`` (finished epochs,
            optimiser, LR schedule and loss-weight schedule restored; rows of finished
            epochs kept in ``metrics.csv``). Raise a higher ``trainer.max_epochs`` to
            extend a finished run.
        callbacks: extra Lightning callbacks.
        verbose: keep Lightning's INFO lines (accelerator, launch, stop reason).

    Returns:
        The run folder.

    Raises:
        ValueError: a bad configuration (the message names the key), raised before
            anything is written.
        FileExistsError: ``resume`` is False and the run folder holds a run with a
            checkpoint, or files edgewise did not write (it is never overwritten). A run
            folder whose run stopped before its first checkpoint is started again.
        FileNotFoundError: ``resume`` without a ``last.ckpt``.
    """
    cfg = validate_config(config)
    _check_accelerator(cfg["trainer"]["accelerator"])
    run_dir = run_dir_of(cfg, output_dir).resolve()
    if _global_rank() != 0:
        return _train(cfg, run_dir, resume, callbacks, verbose)
    with folder_lock(run_dir, "run folder"):
        return _train(cfg, run_dir, resume, callbacks, verbose)


def _train(cfg: dict[str, Any], run_dir: Path, resume: bool, callbacks: Sequence[Any],
           verbose: bool) -> Path:
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import LearningRateMonitor
    from lightning.pytorch.callbacks.progress import ProgressBar
    from lightning.pytorch.loggers import TensorBoardLogger

    from edgewise.training.callbacks import (
        AtomicModelCheckpoint,
        EpochLines,
        LostClassWarning,
        PruneResumedEpochs,
        ResumableCSVLogger,
        compact_progress_bar,
    )

    ckpt_path = run_dir / "checkpoints" / "last.ckpt"
    restart = _check_run_dir(run_dir, resume) if resume or _global_rank() == 0 else False
    if resume:
        _check_resume_config(run_dir, cfg)

    # Data, network and loss are built before anything is written, so a bad name or a
    # missing data folder leaves no run folder behind.
    pl.seed_everything(cfg["seed"], workers=True, verbose=False)
    parts = build_components(cfg)
    has_val = cfg["data"]["val_split"] is not None
    best = AtomicModelCheckpoint(
        dirpath=run_dir / "checkpoints",
        filename="best",
        monitor="val/dice" if has_val else None,
        mode="max",
        save_top_k=1,
        auto_insert_metric_name=False,
        enable_version_counter=False,
    )
    # A separate unmonitored callback: Lightning's save_last only writes when the
    # monitored checkpoint improved, which would make resume lose epochs. Saved at every
    # train-epoch end (after that epoch's validation), also when validation runs only
    # every n epochs, where Lightning would otherwise save only after validation.
    last = AtomicModelCheckpoint(
        dirpath=run_dir / "checkpoints",
        filename="last",
        save_top_k=1,
        auto_insert_metric_name=False,
        enable_version_counter=False,
        save_on_train_epoch_end=True,
    )
    csv_logger = ResumableCSVLogger(run_dir, resume=resume)
    cbs: list[Any] = [best, last, *callbacks]
    if resume:
        ckpt_epoch = int(load_checkpoint(ckpt_path)["epoch"])
        cbs.append(PruneResumedEpochs(csv_logger, ckpt_epoch))
    if cfg["scheduler"]["name"] != "none":
        cbs.append(LearningRateMonitor(logging_interval="epoch"))
    t = cfg["trainer"]
    # Progress-bar frames fill a log file or pipe: without a terminal, one line per epoch.
    bar = t["enable_progress_bar"] and _is_terminal(sys.stdout)
    if bar and not any(isinstance(c, ProgressBar) for c in cbs):
        cbs.append(compact_progress_bar())
    elif not bar:
        cbs.append(EpochLines())
    cbs.append(LostClassWarning())
    threads, why = resolve_num_threads(t["num_threads"], cfg["data"]["num_workers"])
    if verbose and _global_rank() == 0:
        print(f"torch threads: {torch.get_num_threads() if threads is None else threads} ({why})",
              flush=True)
    with lightning_output(info=verbose), _torch_threads(threads):
        trainer = pl.Trainer(
            default_root_dir=run_dir,
            max_epochs=t["max_epochs"],
            accelerator=t["accelerator"],
            devices=t["devices"],
            num_nodes=t["num_nodes"],
            strategy=t["strategy"],
            precision=t["precision"],
            deterministic=t["deterministic"],
            gradient_clip_val=t["gradient_clip_val"],
            accumulate_grad_batches=t["accumulate_grad_batches"],
            log_every_n_steps=t["log_every_n_steps"],
            check_val_every_n_epoch=t["check_val_every_n_epoch"],
            limit_train_batches=t["limit_train_batches"],
            limit_val_batches=t["limit_val_batches"] if has_val else 0,
            num_sanity_val_steps=0,
            enable_progress_bar=bar,
            enable_model_summary=False,
            callbacks=cbs,
            logger=[
                csv_logger,
                TensorBoardLogger(save_dir=str(run_dir), name="tensorboard", version="",
                                  default_hp_metric=False),
            ],
        )
        if _global_rank() == 0:
            _claim_run_dir(run_dir, restart)
            atomic_write_text(run_dir / "config.yaml", dump_config(cfg))
        trainer.fit(parts["module"], datamodule=parts["datamodule"],
                    ckpt_path=str(ckpt_path) if resume else None)
    if _global_rank() == 0 and (run_dir / "metrics.csv").is_file():
        from edgewise.training.plots import plot_run_curves

        plot_run_curves(run_dir / "metrics.csv", run_dir / "learning_curves.png")
    return run_dir
