"""What every training job shares: components built from a config (data, model, loss), torch
threads and Lightning's output."""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from edgewise.training.config import (
    require_data_root,
)

__all__ = ["lightning_output", "run_dir_of", "build_components", "loss_and_cached_terms", "load_checkpoint"]

log = logging.getLogger("edgewise")


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
            # A small run with fewer steps per epoch than log_every_n_steps still logs every
            # epoch's mean (on_epoch=True): the per-step curve is all the warning is about.
            warnings.filterwarnings("ignore", message=r"The number of training batches .* is smaller than the "
                                    r"logging interval")
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


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """A run's Lightning checkpoint, or a ``ValueError`` naming a file that is not one
    (truncated by a full disk or an interrupted copy: torch said "invalid literal for int()"
    or "PytorchStreamReader failed", without the file)."""
    import pickle

    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=False)
    except FileNotFoundError:
        raise
    except (RuntimeError, EOFError, ValueError, OSError, KeyError, pickle.UnpicklingError) as exc:
        raise ValueError(f"cannot read checkpoint {path}: {exc} (truncated, or not a checkpoint); "
                         "use the other checkpoint (best or last) or train again") from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise ValueError(f"expected a Lightning checkpoint with a state_dict in {path}, got "
                         f"{type(ckpt).__name__}")
    return ckpt


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
    loss, cached = loss_and_cached_terms(config["loss"])
    data = config["data"]
    if cached:
        # the cached maps follow loss.map_units unless data.options.map_options.units says
        data = _with_map_units(data, loss.map_units)
    dm = SegmentationDataModule(data, seed=config["seed"])
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
    if cached:
        _check_cached_maps({**config, "data": data}, cached, num_classes, loss.map_units)
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


def loss_and_cached_terms(loss_cfg: Mapping[str, Any]) -> tuple[Any, list[tuple[str, int, dict[str, Any]]]]:
    """The ``CompoundLoss`` of a ``loss`` section, and its terms that take cached maps.

    A term with ``maps: cached`` gets the dataset's precomputed ``dist_map`` (see
    :class:`~edgewise.training.module.SegmentationModule`); ``maps`` is a training option,
    not a loss argument, so it is removed before :func:`edgewise.losses.loss_from_config`.
    ``map_units`` (``voxel`` when absent, the run config's default) sets the
    ``CompoundLoss``'s: ``voxel`` hands every term ``spacing=1.0``.

    Returns:
        ``(loss, [(term name in the CompoundLoss, index in loss.terms, term config), ...])``
        for the cached terms.
    """
    from edgewise.losses import loss_from_config
    from edgewise.training.schema import LossConfig

    terms = [dict(t) for t in loss_cfg["terms"]]
    sources = [t.pop("maps", "on_the_fly") for t in terms]
    map_units = loss_cfg.get("map_units", LossConfig.model_fields["map_units"].default)
    loss = loss_from_config({**loss_cfg, "terms": terms, "map_units": map_units})
    cached = [(name, i, term) for i, (name, term, src) in enumerate(zip(loss.names, terms, sources))
              if src == "cached"]
    return loss, cached


# loss name -> (map kind of edgewise.maps.MapCache it reads, [(its map parameter, the
# matching MapCache option, default), ...])
_MAP_KINDS: dict[str, tuple[str, tuple[tuple[str, str, Any], ...]]] = {
    "boundary": ("signed", (("convention", "convention", "boundary"), ("empty", "empty", "zero"))),
    "region_wise": ("rrw", ()),
    "rrw": ("rrw", ()),
    "penalized_ce": ("penalty", ()),
    "skeleton_recall": ("skeleton_tube", (("radius", "radius", 2),)),
}


def _with_map_units(data: Mapping[str, Any], units: str) -> dict[str, Any]:
    """The ``data`` section with ``map_options.units`` set to ``units`` wherever a map cache
    or map options are given without it, so the cached maps are in the loss's units."""

    def fill(opts: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
        if not opts or ("map_cache" not in opts and "map_options" not in opts):
            return opts
        return {**opts, "map_options": {"units": units, **(opts.get("map_options") or {})}}

    split = data.get("split_options") or {}
    return {**data, "options": fill(data.get("options")),
            "split_options": {role: fill(o) for role, o in split.items()}}


def _check_cached_maps(config: Mapping[str, Any], cached: Sequence[tuple[str, int, Mapping[str, Any]]],
                       num_classes: int, map_units: str = "physical") -> None:
    """The cached maps the dataset yields must be the maps each ``maps: cached`` term expects:
    same kind, convention and absent-class fill, the loss's units (``map_units``), and
    channels it can select its classes from."""
    from edgewise.maps.cache import MAP_UNITS

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
            units = map_opts.get("units", "physical")
            if units != map_units:
                raise ValueError(
                    f"{key}.maps: loss.map_units is {map_units!r}, the cached maps of the {role} "
                    f"split are {units!r} (data.options.map_options.units; one of {list(MAP_UNITS)}): "
                    "give both the same value, or leave map_options.units out to follow loss.map_units"
                )
            loss_name = term["name"]
            params: tuple[tuple[str, str, Any], ...] = ()
            if loss_name == "hausdorff_dt":
                # its absent classes are 0 whatever the maps hold: no fill to agree on
                expected = {"boundary": "unsigned", "inside": "inside"}[args.get("distance", "boundary")]
            elif loss_name in _MAP_KINDS:
                expected, params = _MAP_KINDS[loss_name]
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
            for param, map_param, default in params:
                if args.get(param, default) != map_opts.get(map_param, default):
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
