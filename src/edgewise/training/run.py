"""Python API of a training run: :func:`train` a configuration, :func:`evaluate` a run folder.

Run folder layout::

    <run_dir>/
      config.yaml               resolved configuration (every default filled in)
      metrics.csv               per-step/epoch training and validation values (CSVLogger)
      hparams.yaml
      tensorboard/              TensorBoard event files
      checkpoints/best.ckpt     best validation Dice (the latest epoch without validation)
      checkpoints/last.ckpt     end of the latest finished epoch (used by ``resume``)
      learning_curves.png       loss, validation Dice (and HD95) per epoch, drawn when train() ends
      .edgewise                 marks the folder as made by edgewise
      eval_test/                after evaluate() (eval_<split>/ for other splits,
                                external_<folder>_<split>/ for other data), replaced as a
                                whole by each evaluation:
        per_case.csv            one row per case and foreground class
        summary.json            aggregates per metric and class
        overlays/*.png          image / ground truth / prediction / errors
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import math
import os
import shutil
import sys
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgewise._io import MARKER, atomic_write_json, atomic_write_text, check_dir, claim_dir, \
    owner_kind, staged_dir
from edgewise.training.config import dump_config, load_config, require_data_root, resolve_num_threads, \
    validate_config
from edgewise.training.schema import EXTRA_METRICS

__all__ = ["train", "evaluate", "eval_dir", "predict_cases", "build_components", "build_loss", "load_run",
           "METRIC_NAMES", "SWEEP_METRICS", "EXTRA_METRICS", "metric_names"]

log = logging.getLogger("edgewise")

#: metrics written by :func:`evaluate`, in column order.
METRIC_NAMES = ("dice", "hd95", "assd", "nsd", "boundary_f1")
#: metrics also written per tolerance of ``evaluation.tolerances``, as ``<metric>@<t>``.
SWEEP_METRICS = ("nsd", "boundary_f1")


def tolerance_label(tolerance: float) -> str:
    """``1.0 -> "1"``, ``0.5 -> "0.5"``: the ``<t>`` of the ``nsd@<t>`` column names."""
    return f"{float(tolerance):g}"


def metric_names(tolerances: Sequence[float] | None = None, extra: Sequence[str] = ()) -> list[str]:
    """Columns of ``per_case.csv``: :data:`METRIC_NAMES`, then ``nsd@<t>`` and
    ``boundary_f1@<t>`` for each tolerance of the sweep, then the requested ``extra``
    metrics (:data:`EXTRA_METRICS`).

    Example:
        >>> metric_names([1, 2])[5:]
        ['nsd@1', 'nsd@2', 'boundary_f1@1', 'boundary_f1@2']
    """
    sweep = [f"{m}@{tolerance_label(t)}" for m in SWEEP_METRICS for t in (tolerances or ())]
    return [*METRIC_NAMES, *sweep, *extra]


def _global_rank() -> int:
    # Same environment variables Lightning reads (torchrun, SLURM, its own launcher).
    for key in ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK"):
        if key in os.environ:
            return int(os.environ[key])
    return 0


class _DropLightningChatter(logging.Filter):
    """Drops Lightning's advertising tip; with ``info=False`` every INFO line too."""

    def __init__(self, info: bool) -> None:
        super().__init__()
        self.info = info

    def filter(self, record: logging.LogRecord) -> bool:
        if "litlogger" in record.getMessage():
            return False
        return self.info or record.levelno > logging.INFO


@contextlib.contextmanager
def lightning_output(info: bool = True) -> Iterator[None]:
    """Scope in which Lightning's tip and a deprecation warning it raises itself are hidden.

    With ``info=False`` Lightning's INFO lines (accelerator, "`Trainer.fit` stopped") are
    hidden too. Warnings and errors stay; nothing is changed outside the ``with`` block.
    """
    loggers = [logging.getLogger(n) for n in ("lightning.pytorch.utilities.rank_zero",
                                              "lightning.fabric.utilities.rank_zero")]
    chatter = _DropLightningChatter(info)
    for lg in loggers:
        lg.addFilter(chatter)
    try:
        with warnings.catch_warnings():
            # Raised by Lightning's own pytree helper under torch >= 2.9; nothing to act on.
            warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)",
                                    category=FutureWarning)
            # A resumed run writes into its own checkpoints/ (train() refuses any other
            # non-empty folder), which Lightning reports as if it were a mistake.
            warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
            yield
    finally:
        for lg in loggers:
            lg.removeFilter(chatter)


@contextlib.contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    """``torch.set_num_threads(n)`` inside the block (nothing when ``n`` is None)."""
    if n is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def run_dir_of(config: Mapping[str, Any], output_dir: str | os.PathLike | None) -> Path:
    """Where a run of ``config`` writes: ``output_dir`` or ``<output_root>/<name>``."""
    if output_dir is not None:
        return Path(output_dir)
    return Path(config["output_root"]) / config["name"]


def build_components(config: Mapping[str, Any]) -> dict[str, Any]:
    """Datamodule, network, loss and LightningModule for a resolved configuration."""
    from edgewise.models import build_model
    from edgewise.training.datamodule import SegmentationDataModule
    from edgewise.training.module import SegmentationModule

    require_data_root(config)
    dm = SegmentationDataModule(config["data"], seed=config["seed"])
    train_ds = dm.dataset("train")
    num_classes = int(train_ds.num_classes)  # type: ignore[union-attr]
    spatial_dims = int(getattr(train_ds, "spatial_dims", 2))
    network = build_model(
        config["model"]["name"],
        in_channels=int(train_ds.in_channels),  # type: ignore[union-attr]
        out_channels=num_classes,
        spatial_dims=spatial_dims,
        **config["model"]["args"],
    )
    loss, cached = build_loss(config["loss"])
    if cached:
        _check_cached_maps(config, cached, num_classes)
    module = SegmentationModule(
        network,
        loss,
        num_classes=num_classes,
        optimizer=config["optimizer"],
        scheduler=config["scheduler"],
        class_names=list(getattr(train_ds, "class_names", None) or [])
        or None,
        compute_hd95=config["validation"]["hd95"],
        size_divisor=_size_divisor(config["model"]),
        cached_maps=[name for name, _, _ in cached],
        sliding_window=dm.sliding_window(),
    )
    return {"datamodule": dm, "network": network, "loss": loss, "module": module}


def build_loss(loss_cfg: Mapping[str, Any]) -> tuple[Any, list[tuple[str, int, dict[str, Any]]]]:
    """The ``CompoundLoss`` of a ``loss`` section, and its terms that take cached maps.

    A term with ``maps: cached`` gets the dataset's precomputed ``dist_map`` (see
    :class:`~edgewise.training.module.SegmentationModule`); ``maps`` is a training option,
    not a loss argument, so it is removed before :func:`edgewise.losses.loss_from_config`.

    Returns:
        ``(loss, [(term name in the CompoundLoss, index in loss.terms, term config), ...])``
        for the cached terms.
    """
    from edgewise.losses import loss_from_config

    terms = [dict(t) for t in loss_cfg["terms"]]
    sources = [t.pop("maps", "on_the_fly") for t in terms]
    loss = loss_from_config({**loss_cfg, "terms": terms})
    cached = [(name, i, term) for i, (name, term, src) in enumerate(zip(loss.names, terms, sources))
              if src == "cached"]
    return loss, cached


# loss name -> (map kind of edgewise.maps.MapCache it reads, its map parameter and the
# matching MapCache option, default)
_MAP_KINDS: dict[str, tuple[str, str | None, str | None, str | None]] = {
    "boundary": ("signed", "convention", "convention", "boundary"),
    "region_wise": ("rrw", None, None, None),
    "rrw": ("rrw", None, None, None),
    "penalized_ce": ("penalty", None, None, None),
    "skeleton_recall": ("skeleton_tube", "radius", "radius", 2),
}


def _check_cached_maps(config: Mapping[str, Any], cached: Sequence[tuple[str, int, Mapping[str, Any]]],
                       num_classes: int) -> None:
    """The cached maps the dataset yields must be the maps each ``maps: cached`` term expects:
    same kind and convention, and channels it can select its classes from."""
    data = config["data"]
    roles = ["train"] + (["val"] if data["val_split"] is not None else [])
    for role in roles:
        opts = {**data["options"], **data["split_options"].get(role, {})}
        for name, index, term in cached:
            key = f"loss.terms.{index}"
            args = dict(term.get("args") or {})
            if opts.get("map_cache") is None:
                raise ValueError(
                    f"{key}.maps: 'cached' needs the dataset's cached maps: set "
                    f"data.options.map_cache to a folder (the {role} split has none)"
                )
            kind = opts.get("map_kind", "signed")
            map_opts = dict(opts.get("map_options") or {})
            loss_name = term["name"]
            if loss_name == "hausdorff_dt":
                expected = {"boundary": "unsigned", "inside": "inside"}[args.get("distance", "boundary")]
                param = None
            elif loss_name in _MAP_KINDS:
                expected, param, map_param, default = _MAP_KINDS[loss_name]
            else:
                raise ValueError(
                    f"{key}.maps: 'cached' is supported for boundary, hausdorff_dt, region_wise, "
                    f"penalized_ce and skeleton_recall, got {loss_name!r}"
                )
            if kind != expected:
                raise ValueError(
                    f"{key}.maps: term {name!r} ({loss_name}) needs cached maps of kind "
                    f"{expected!r}, data.options.map_kind is {kind!r}"
                )
            if param is not None and args.get(param, default) != map_opts.get(map_param, default):
                raise ValueError(
                    f"{key}.maps: term {name!r} uses {param}={args.get(param, default)!r}, the cached "
                    f"maps {map_param}={map_opts.get(map_param, default)!r} "
                    f"(data.options.map_options.{map_param})"
                )
            map_classes = map_opts.get("classes")
            if map_classes is not None and loss_name != "penalized_ce":
                if args.get("classes") is not None:
                    wanted = [int(c) for c in args["classes"]]
                else:
                    wanted = list(range(0 if args.get("include_background", True) else 1, num_classes))
                if [int(c) for c in map_classes] != wanted:
                    raise ValueError(
                        f"{key}.maps: term {name!r} uses classes {wanted}, the cached maps have "
                        f"classes {list(map_classes)} (data.options.map_options.classes); cache "
                        "all classes (no map_options.classes) or exactly the term's"
                    )


def _size_divisor(model_cfg: Mapping[str, Any]) -> int:
    """Inputs are padded to a multiple of this; default: the network's total down-sampling."""
    if model_cfg.get("size_divisor") is not None:
        return int(model_cfg["size_divisor"])
    name = str(model_cfg["name"]).lower()
    if name in ("unet", "monai_unet"):
        return 2 ** int(model_cfg["args"].get("depth", 4))
    if name == "enet":
        return 8
    return 1


# What train() writes into a run folder before its first checkpoint: a folder holding
# only these (and edgewise's marker) is an attempt that stopped early and may start again.
_RUN_ARTEFACTS = frozenset({MARKER, "config.yaml", "metrics.csv", "hparams.yaml", "tensorboard", "learning_curves.png",
                            "checkpoints"})


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
    entries = {p.name for p in run_dir.iterdir()}
    if not entries:
        return False
    if ckpt.is_file():
        raise FileExistsError(
            f"run folder {run_dir} already holds a run (checkpoints/last.ckpt): continue it "
            "with resume=True (--resume), or choose another output folder"
        )
    if owner_kind(run_dir) == "run" and entries <= _RUN_ARTEFACTS:
        return True
    why = "was not made by edgewise" if owner_kind(run_dir) is None else "holds files a run does not write"
    raise FileExistsError(
        f"run folder {run_dir} already exists, is not empty and {why}; edgewise never "
        "overwrites it: choose a new or empty output folder"
    )


def _claim_run_dir(run_dir: Path, restart: bool) -> None:
    """Create (or clear, after an early stop) and mark the run folder; remove checkpoint
    files a killed save left behind."""
    if restart:
        log.warning("edgewise: %s holds a run that stopped before its first checkpoint; "
                    "starting it again", run_dir)
        for p in run_dir.iterdir():
            if p.name != MARKER:
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
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import LearningRateMonitor
    from lightning.pytorch.callbacks.progress import ProgressBar
    from lightning.pytorch.loggers import TensorBoardLogger

    from edgewise.training.callbacks import (
        AtomicModelCheckpoint,
        EpochLines,
        PruneResumedEpochs,
        ResumableCSVLogger,
        compact_progress_bar,
    )

    cfg = validate_config(config)
    run_dir = run_dir_of(cfg, output_dir).resolve()
    ckpt_path = run_dir / "checkpoints" / "last.ckpt"
    restart = _check_run_dir(run_dir, resume) if resume or _global_rank() == 0 else False

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
        ckpt_epoch = int(torch.load(ckpt_path, map_location="cpu", weights_only=False)["epoch"])
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
        from edgewise.training.report import plot_run_curves

        plot_run_curves(run_dir / "metrics.csv", run_dir / "learning_curves.png")
    return run_dir


# ---------------------------------------------------------------------- evaluation
def load_run(
    run_dir: str | os.PathLike, checkpoint: str = "best", map_location: str = "cpu",
    *, data_root: str | os.PathLike | None = None,
) -> tuple[dict[str, Any], Any, dict[str, Any]]:
    """Resolved config, LightningModule with trained weights, and checkpoint metadata.

    With ``data_root`` the config's ``data.root`` is replaced by it (a folder of the same
    layout, e.g. an external test set); its classes must be those the run trained on.
    """
    run_dir = Path(run_dir)
    cfg_path = run_dir / "config.yaml"
    if not cfg_path.is_file():
        raise FileNotFoundError(f"not a run folder (no config.yaml): {run_dir}")
    cfg = load_config(cfg_path)
    ckpt_file = run_dir / "checkpoints" / f"{checkpoint}.ckpt"
    if not ckpt_file.is_file():
        raise FileNotFoundError(f"no checkpoint {ckpt_file}; did the run finish an epoch?")
    ckpt = torch.load(ckpt_file, map_location=map_location, weights_only=False)
    if data_root is not None:
        cfg["data"]["root"] = str(data_root)
    parts = build_components(cfg)
    module = parts["module"]
    if data_root is not None:
        trained = list(ckpt.get("hyper_parameters", {}).get("class_names") or [])
        if trained and trained != module.class_names:
            raise ValueError(f"the run trained on classes {trained}, the data in {data_root} "
                             f"have {module.class_names}")
        try:
            module.load_state_dict(ckpt["state_dict"])
        except RuntimeError as exc:
            raise ValueError(f"the checkpoint {ckpt_file} does not fit the data in {data_root} "
                             f"(other image channels or classes?): {exc}") from exc
    else:
        module.load_state_dict(ckpt["state_dict"])
    module.eval()
    meta = {"checkpoint": str(ckpt_file), "epoch": int(ckpt.get("epoch", -1)),
            "global_step": int(ckpt.get("global_step", -1))}
    return cfg, module, meta


def _eval_dataset(cfg: Mapping[str, Any], split: str) -> tuple[Any, Sequence[int] | None, int, str]:
    """``(dataset, sliding-window size or None, batch size, split name)`` for evaluating
    a run: a model trained on patches is applied to whole volumes by sliding windows of
    the patch size; cached distance maps (a training input) are not loaded."""
    from edgewise.training.datamodule import build_split
    from edgewise.training.inference import whole_case_options

    data_cfg = dict(cfg["data"])
    split_name = data_cfg["test_split"] if split == "test" else split
    options, roi = whole_case_options(data_cfg.get("options") or {})
    for k in ("map_cache", "map_kind", "map_options"):
        options.pop(k, None)
    data_cfg["options"] = options
    data_cfg["split_options"] = {
        role: {k: v for k, v in opts.items() if k not in ("map_cache", "map_kind", "map_options")}
        for role, opts in (data_cfg.get("split_options") or {}).items()
    }
    role = "test" if split == "test" else "val" if split == data_cfg["val_split"] else None
    dataset = build_split(data_cfg, split_name, role=role)
    batch = data_cfg.get("val_batch_size") or data_cfg["batch_size"]
    return dataset, roi, int(batch), split_name


@torch.no_grad()
def _predict_cases(module: Any, dataset: Any, batch_size: int, roi: Sequence[int] | None,
                   device: torch.device, n: int | None = None,
                   keep_probs: bool = False) -> list[dict[str, Any]]:
    """Predict the items of the first ``n`` cases (all with None); re-stack slices into
    volumes. One dict per case (CPU tensors); with ``keep_probs`` also the softmax
    probabilities ``"probs"``."""
    from torch.utils.data import DataLoader

    from edgewise.training.inference import restacked_case, sliding_or_full

    mode = getattr(dataset, "mode", "whole")
    loader = DataLoader(dataset, batch_size=1 if roi is not None else batch_size, shuffle=False)
    items: list[dict[str, Any]] = []
    seen: list[str] = []
    for batch in loader:
        # Items come in case order (slices of a case are consecutive): stop at case n + 1.
        keep = []
        for b, case_id in enumerate(batch["case"]):
            if case_id not in seen:
                if n is not None and len(seen) == n:
                    break
                seen.append(case_id)
            keep.append(b)
        if not keep:
            break
        logits = sliding_or_full(module, batch["image"][keep].to(device), roi)
        pred = logits.argmax(1, keepdim=True).cpu()
        probs = torch.softmax(logits.float(), 1).cpu() if keep_probs else None
        for j, b in enumerate(keep):
            item = {"case": batch["case"][b], "pred": pred[j], "label": batch["label"][b],
                    "image": batch["image"][b], "spacing": batch["spacing"][b]}
            if probs is not None:
                item["probs"] = probs[j]
            if "mask" in batch:
                item["mask"] = batch["mask"][b]
            if "slice" in batch:
                item["slice"] = int(batch["slice"][b])
            items.append(item)
        if len(keep) < len(batch["case"]):
            break
    if mode != "slices":
        return items
    # Slices of 3D volumes: one 3D case each, on the original grid with its spacing.
    by_case: dict[str, list[dict[str, Any]]] = {}
    for it in items:
        by_case.setdefault(it["case"], []).append(it)
    cases = []
    for case_id, its in by_case.items():
        case = restacked_case(dataset, case_id, {it["slice"]: it["pred"] for it in its},
                              {it["slice"]: it["image"] for it in its})
        if keep_probs:
            case["probs"] = dataset.restack(case_id, {it["slice"]: it["probs"] for it in its},
                                            interpolation="linear")
        cases.append(case)
    return cases


def _predict_run(run_dir: str | os.PathLike, split: str, n: int | None, checkpoint: str,
                 device: str | None, data_root: str | os.PathLike | None = None,
                 keep_probs: bool = False
                 ) -> tuple[list[dict[str, Any]], Any, dict[str, Any], str]:
    """``(cases, dataset, checkpoint metadata, split name)`` of a run's predictions."""
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    cfg, module, meta = load_run(run_dir, checkpoint, map_location="cpu", data_root=data_root)
    module.to(dev)
    dataset, roi, batch, split_name = _eval_dataset(cfg, split)
    return _predict_cases(module, dataset, batch, roi, dev, n, keep_probs), dataset, meta, split_name


def predict_cases(
    run_dir: str | os.PathLike,
    split: str = "test",
    n: int | None = None,
    checkpoint: str = "best",
    *,
    device: str | None = None,
) -> list[dict[str, Any]]:
    """Predictions of a trained run on a split, one dict per case, as :func:`evaluate` scores them.

    2D slices of 3D volumes are re-stacked onto the original volume grid (with the volume's
    spacing); a model trained on patches is applied to whole volumes by sliding windows.

    Args:
        run_dir: a folder written by :func:`train`.
        split: ``"test"`` (``data.test_split``) or a dataset split name.
        n: only the first ``n`` cases (in dataset order); None for all.
        checkpoint: ``"best"`` or ``"last"``.
        device: torch device for inference (default CUDA when available).

    Returns:
        ``[{"case": str, "pred": (1, *spatial) int64, "label": (1, *spatial) int64,
        "image": (C, *spatial) float32, "spacing": (ndim,) float32, "mask": (1, *spatial)
        bool (when the dataset has one)}, ...]`` on the CPU.
    """
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 0):
        raise ValueError(f"expected n to be None or a non-negative integer, got {n!r}")
    if checkpoint not in ("best", "last"):
        raise ValueError(f"expected checkpoint 'best' or 'last', got {checkpoint!r}")
    if n == 0:
        return []
    return _predict_run(run_dir, split, n, checkpoint, device)[0]


def _case_metrics(case: Mapping[str, Any], num_classes: int, tolerance: float,
                  tolerances: Sequence[float] = (), extra: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """Per foreground class: :data:`METRIC_NAMES` at ``tolerance``, the sweep metrics
    ``<metric>@<t>`` for each of ``tolerances``, all from one surface-distance pass, and
    the ``extra`` metrics (:data:`EXTRA_METRICS`; ``auc`` reads ``case["probs"]``)."""
    from edgewise.metrics import dice, surface_distances
    from edgewise.training.module import masked_onehot

    mask = case.get("mask")
    mask = None if mask is None else mask[None]
    p = masked_onehot(case["pred"][None], num_classes, mask)
    t = masked_onehot(case["label"][None], num_classes, mask)
    sd = surface_distances(p, t, spacing=case["spacing"][None].double())
    out = {
        "dice": dice(p, t),
        "hd95": sd.hausdorff(95),
        "assd": sd.average(),
        "nsd": sd.surface_dice(tolerance),
        "boundary_f1": sd.boundary_f1(tolerance),
    }
    for tol in tolerances:
        out[f"nsd@{tolerance_label(tol)}"] = sd.surface_dice(float(tol))
        out[f"boundary_f1@{tolerance_label(tol)}"] = sd.boundary_f1(float(tol))
    if extra:
        from edgewise.metrics import SegmentationMetrics

        probs = case.get("probs")
        out.update(SegmentationMetrics(tuple(extra), num_classes=num_classes).update(
            case["pred"][None], case["label"][None], mask=mask,
            probs=None if probs is None else probs[None]))
    return {k: v[0, 1:].double().cpu().numpy() for k, v in out.items()}


def _stats(values: Iterable[float]) -> dict[str, Any]:
    v = np.asarray(list(values), dtype=np.float64)
    finite = v[np.isfinite(v)]
    res: dict[str, Any] = {"n": int(v.size), "n_finite": int(finite.size),
                           "n_nan": int(np.isnan(v).sum()), "n_inf": int(np.isinf(v).sum())}
    if finite.size:
        res.update(mean=float(finite.mean()), std=float(finite.std()),
                   median=float(np.median(finite)),
                   p25=float(np.percentile(finite, 25)), p75=float(np.percentile(finite, 75)),
                   min=float(finite.min()), max=float(finite.max()))
    else:
        res.update(mean=None, std=None, median=None, p25=None, p75=None, min=None, max=None)
    return res


def eval_dir(run_dir: str | os.PathLike, split: str = "test",
             data_root: str | os.PathLike | None = None) -> Path:
    """Where :func:`evaluate` writes by default: ``<run_dir>/eval_<split>``, and
    ``<run_dir>/external_<folder name>_<split>`` for data from another folder
    (``data_root``). Each evaluation replaces that folder as a whole."""
    run_dir = Path(run_dir)
    if data_root is not None:
        name = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in Path(data_root).resolve().name)
        return run_dir / f"external_{name}_{split}"
    return run_dir / f"eval_{split}"


def _check_external_output(run_dir: Path, out_dir: Path, data_root: Path) -> None:
    """Results on other data never replace the run's own nor another folder's results."""
    if out_dir.resolve() == run_dir.resolve():
        raise ValueError(f"results on the data in {data_root} would replace the run's own results "
                         f"in {run_dir}; choose another output folder")
    previous = out_dir / "summary.json"
    if previous.is_file():
        try:
            source = json.loads(previous.read_text()).get("data_root")
        except (OSError, ValueError):
            source = None
        if source != str(data_root):
            raise ValueError(f"{out_dir} holds results on {source or 'the data of the run'}, "
                             f"not on {data_root}; choose another output folder")


def _fmt(x: float) -> str:
    return "nan" if math.isnan(x) else ("inf" if math.isinf(x) else f"{x:.6g}")


def evaluate(
    run_dir: str | os.PathLike,
    split: str | None = None,
    *,
    overlays: int | None = None,
    checkpoint: str | None = None,
    output_dir: str | os.PathLike | None = None,
    device: str | None = None,
    tolerances: Sequence[float] | None = None,
    threads: int | None = None,
    data_root: str | os.PathLike | None = None,
    metrics: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Evaluate a finished run on a split: per-case metrics, a summary and overlays.

    Metrics per case and foreground class, inside the evaluation mask when the dataset
    gives one: Dice, HD95, ASSD (mm), NSD and boundary F1 at ``evaluation.tolerance`` mm
    (columns ``nsd``, ``boundary_f1``), plus ``nsd@<t>`` and ``boundary_f1@<t>`` for each
    tolerance ``t`` (mm) of a sweep, all from one surface-distance computation per case.
    2D slices of 3D volumes are re-stacked per case and scored in 3D with the volume's
    spacing. A model trained on patches is applied by sliding windows.

    Args:
        run_dir: a folder written by :func:`train`.
        split: dataset split to evaluate (``data.test_split`` for ``"test"``); default
            ``"test"``, or ``"all"`` (every case) with ``data_root``.
        overlays: number of cases to draw (default ``evaluation.overlays``).
        checkpoint: ``"best"`` or ``"last"`` (default ``evaluation.checkpoint``).
        output_dir: the results folder, replaced as a whole (a reader sees the previous
            results or these, never a mix); default :func:`eval_dir`:
            ``<run_dir>/eval_<split>``, and ``<run_dir>/external_<folder name>_<split>``
            with ``data_root``. A non-empty folder edgewise did not make is refused.
        device: torch device (default CUDA when available).
        tolerances: the sweep's tolerances in mm, e.g. ``[1, 2, 3, 4]`` (default
            ``evaluation.tolerances``; none when that is null).
        threads: torch CPU threads while predicting and scoring (default
            ``trainer.num_threads`` of the run, ``auto`` as in training).
        data_root: score the run on another folder of the same layout (an external
            test set) instead of ``data.root``; the results go to their own folder, never
            into the run folder or a folder holding results on other data, and
            ``summary.json`` records the folder as ``data_root``.
        metrics: extra metrics from :data:`EXTRA_METRICS`, e.g. ``["cldice", "auc"]``
            (default ``evaluation.metrics``; none when that is null).

    Returns:
        The summary written to ``summary.json``: ``{"split", "checkpoint", "epoch",
        "num_cases", "classes", "tolerance_mm", "tolerances_mm", "metrics": {metric:
        {class: stats}}, "mean":
        {metric: mean over foreground classes of the per-class means}, "n_inf": {metric:
        infinite values over cases and classes}}``. Non-finite values (HD95 of an empty
        structure) are counted in ``n_nan``/``n_inf`` and left out of the means. Paths of
        results in it (``run``, ``checkpoint``, ``overlays``) are relative to the results
        folder, so they stay right when it is moved.
    """
    run_dir = Path(run_dir)
    cfg = load_config(run_dir / "config.yaml") if (run_dir / "config.yaml").is_file() else None
    if cfg is None:
        raise FileNotFoundError(f"not a run folder (no config.yaml): {run_dir}")
    ev = cfg["evaluation"]
    checkpoint = checkpoint or ev["checkpoint"]
    overlays = ev["overlays"] if overlays is None else int(overlays)
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ValueError(f"expected threads to be a positive integer, got {threads!r}")
    if threads is None:
        threads = resolve_num_threads(cfg["trainer"]["num_threads"], 0)[0]
    if data_root is not None:
        data_root = Path(data_root).resolve()
        if not data_root.is_dir():
            raise FileNotFoundError(f"expected data_root to be a folder of the run's data layout "
                                    f"({cfg['data']['name']}), got {data_root}")
    split = split or ("all" if data_root is not None else "test")
    out_dir = Path(output_dir) if output_dir is not None else eval_dir(run_dir, split, data_root)
    if data_root is not None:
        _check_external_output(run_dir, out_dir, data_root)
    check_dir(out_dir, "eval", what="evaluation folder")  # before minutes of work
    if tolerances is None:
        tolerances = ev["tolerances"] or []
    elif len(tolerances):
        from edgewise.training.config import _tolerances

        tolerances = _tolerances("tolerances", list(tolerances))
    tolerances = [float(t) for t in tolerances]
    if metrics is None:
        metrics = ev.get("metrics") or []
    else:
        from edgewise.training.config import _extra_metrics

        metrics = _extra_metrics("metrics", list(metrics)) or []
    names = metric_names(tolerances, metrics)
    with _torch_threads(threads):
        cases, dataset, meta, split_name = _predict_run(run_dir, split, None, checkpoint, device,
                                                        data_root, keep_probs="auc" in metrics)
        num_classes = int(dataset.num_classes)
        scores = [_case_metrics(case, num_classes, ev["tolerance"], tolerances, metrics)
                  for case in cases]
    class_names = list(dataset.class_names)[1:]

    rows: list[dict[str, Any]] = []
    per_metric: dict[str, dict[str, list[float]]] = {m: {c: [] for c in class_names}
                                                     for m in names}
    for case, values in zip(cases, scores):
        for ci, cname in enumerate(class_names):
            row: dict[str, Any] = {"case": case["case"], "class": cname}
            for m in names:
                x = float(values[m][ci])
                row[m] = _fmt(x)
                per_metric[m][cname].append(x)
            rows.append(row)

    meta["checkpoint"] = _relative(meta["checkpoint"], out_dir)
    summary: dict[str, Any] = {
        "run": _relative(run_dir, out_dir), "split": split_name, **meta, "num_cases": len(cases),
        **({"data_root": str(data_root)} if data_root is not None else {}),
        "classes": class_names, "tolerance_mm": ev["tolerance"], "tolerances_mm": tolerances,
        "extra_metrics": list(metrics),
        "metrics": {m: {c: _stats(v) for c, v in per.items()} for m, per in per_metric.items()},
    }
    summary["mean"] = {
        m: (float(np.mean(means)) if (means := [s["mean"] for s in summary["metrics"][m].values()
                                                if s["mean"] is not None]) else None)
        for m in names
    }
    # what each foreground mean leaves out: cases x classes with an infinite value
    summary["n_inf"] = {m: sum(s["n_inf"] for s in summary["metrics"][m].values()) for m in names}
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["case", "class", *names], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    with staged_dir(out_dir, "eval", what="evaluation folder") as tmp:
        atomic_write_text(tmp / "per_case.csv", buf.getvalue())
        if overlays > 0:
            from edgewise.training.report import save_overlays

            summary["overlays"] = [_relative(out_dir / p.relative_to(tmp), out_dir)
                                   for p in save_overlays(cases[:overlays], tmp / "overlays")]
        atomic_write_json(tmp / "summary.json", summary)
    return summary


def _relative(path: str | os.PathLike, start: Path) -> str:
    return Path(os.path.relpath(Path(path).absolute(), start.absolute())).as_posix()
