"""Experiment files and their expansion into a grid of training runs.

An experiment YAML names the datasets, the losses and the seeds to cross, plus a ``base``
training config shared by every run::

    name: drive
    baseline: gdl                # loss label the report tests the others against
    base:                        # keys of edgewise.training's config
      model: {name: unet, args: {base_channels: 16}}
      trainer: {max_epochs: 150}
    datasets:                    # label -> data config (the ``data`` key of a run)
      drive: {name: drive, root: /data/drive}
    losses:                      # label -> loss config (the ``loss`` key of a run)
      ce: {terms: [{name: ce}]}
      gdl_bl:
        terms: [{name: gdl}, {name: boundary, weight: 0.05}]
        overrides: {optimizer: {lr: 0.0005}}   # optional: merged into this loss's runs only
    seeds: [0, 1, 2]
    variants:                    # named overrides, deep-merged over the file
      quick: {base: {trainer: {max_epochs: 2}}, seeds: [0]}

Overrides merge dictionaries key by key; any other value replaces the old one, and ``null``
deletes the key (so a variant can drop a loss or a dataset). Each cell of the grid runs in
``<bench dir>/<dataset>/<loss>/seed<k>/``.

The keys and their types are declared in :class:`edgewise.training.schema.Experiment`
(``base`` and each dataset are checked as run config sections when the file is loaded).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from edgewise._io import read_yaml
from edgewise.training.schema import EXPERIMENT_FILE_KEYS, validate_experiment, validate_label

__all__ = [
    "Cell",
    "apply_variant",
    "deep_merge",
    "expand_grid",
    "load_experiment",
    "resolve_roots",
    "run_name",
    "set_values",
    "validate_label",
]


@dataclass(frozen=True)
class Cell:
    """One run of the grid: a dataset, a loss and a seed, with its full training config."""

    dataset: str
    loss: str
    seed: int
    config: dict[str, Any] = field(compare=False, hash=False)

    @property
    def name(self) -> str:
        """Folder of the run relative to the bench directory, ``<dataset>/<loss>/seed<k>``."""
        return run_name(self.dataset, self.loss, self.seed)


def run_name(dataset: str, loss: str, seed: int) -> str:
    """Relative folder of one run: ``<dataset>/<loss>/seed<k>``.

    Example:
        >>> run_name("drive", "gdl_bl", 2)
        'drive/gdl_bl/seed2'
    """
    return f"{validate_label(dataset, 'dataset')}/{validate_label(loss, 'loss')}/seed{int(seed)}"


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``override`` into a copy of ``base``: dicts recursively, ``None`` deletes a key.

    Example:
        >>> deep_merge({"a": {"x": 1, "y": 2}, "b": 3}, {"a": {"y": 5}, "b": None})
        {'a': {'x': 1, 'y': 5}}
    """
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def apply_variant(experiment: Mapping[str, Any], variant: str | None) -> dict[str, Any]:
    """Return the experiment with the named variant's overrides merged in (``variants`` dropped)."""
    exp = dict(experiment)
    variants = exp.pop("variants", None) or {}
    if not isinstance(variants, Mapping):
        raise TypeError(f"expected 'variants' to be a mapping, got {type(variants).__name__}")
    if variant is None:
        return copy.deepcopy(exp)
    if variant not in variants:
        raise ValueError(f"expected a variant among {sorted(variants)}, got {variant!r}")
    merged = deep_merge(exp, variants[variant] or {})
    merged["variant"] = variant
    return merged


def load_experiment(
    path: str | Path, variant: str | None = None, assignments: Sequence[str] = ()
) -> dict[str, Any]:
    """Read an experiment YAML, apply ``variant`` then ``assignments``; validate the result.

    Args:
        path: the YAML file.
        variant: a key of its ``variants`` mapping, or ``None`` for the file as written.
        assignments: ``dotted.key=value`` strings, see :func:`set_values`.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"experiment file {path} is a folder: expected a YAML file such as "
                         "configs/experiments/drive.yaml (to report a bench folder: edgewise report FOLDER)")
    try:
        raw = read_yaml(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"experiment file {path} is not a YAML text file: byte 0x{exc.object[exc.start]:02x} "
                         f"at offset {exc.start} is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"cannot parse YAML experiment {path}: {exc}") from exc
    if not isinstance(raw, Mapping):
        raise ValueError(f"expected {path} to hold a YAML mapping, got {type(raw).__name__}")
    unknown = set(raw) - EXPERIMENT_FILE_KEYS
    if unknown:
        raise ValueError(
            f"expected top-level keys among {sorted(EXPERIMENT_FILE_KEYS)}, got {sorted(unknown)}"
        )
    exp = set_values(apply_variant(raw, variant), assignments)
    exp.setdefault("name", path.stem)
    validate_experiment(exp)
    return exp


def resolve_roots(experiment: Mapping[str, Any], start: str | Path) -> dict[str, Any]:
    """Make relative ``data.root`` and ``data.options.map_cache`` paths (in ``base``, each
    dataset and each loss's ``overrides``) absolute from ``start``.

    Runs read their data from other working directories (pool workers, Ray, a later
    ``edgewise eval``), so a grid stores absolute paths.
    """
    exp = copy.deepcopy(dict(experiment))
    datas = [(exp.get("base") or {}).get("data")] + list((exp.get("datasets") or {}).values())
    datas += [((loss or {}).get("overrides") or {}).get("data") for loss in (exp.get("losses") or {}).values()]

    def absolute(path: str) -> str:
        return str((Path(start) / Path(path).expanduser()).resolve())

    for data in datas:
        if not isinstance(data, dict):
            continue
        if isinstance(data.get("root"), str):
            data["root"] = absolute(data["root"])
        options = data.get("options")
        if isinstance(options, dict) and isinstance(options.get("map_cache"), str):
            options["map_cache"] = absolute(options["map_cache"])
    return exp


def expand_grid(experiment: Mapping[str, Any]) -> list[Cell]:
    """Cross datasets x losses x seeds into cells, in that nesting order.

    A run's config is ``base`` with the dataset's config merged into ``data``, the loss's
    config (without its ``overrides``) into ``loss``, ``seed`` set, then the loss's
    ``overrides`` merged on top. Common data options (image size, ...) can so live in
    ``base.data``.

    Example:
        >>> exp = {"base": {"trainer": {"max_epochs": 1}}, "datasets": {"syn": {"name": "synthetic"}},
        ...        "losses": {"ce": {"terms": [{"name": "ce"}]}}, "seeds": [0, 1]}
        >>> [c.name for c in expand_grid(exp)]
        ['syn/ce/seed0', 'syn/ce/seed1']
        >>> expand_grid(exp)[1].config["seed"]
        1
    """
    validate_experiment(experiment)
    base = experiment.get("base", {}) or {}
    prefix = f"{experiment['name']}-" if experiment.get("name") else ""
    cells = []
    for ds_label, ds_cfg in experiment["datasets"].items():
        for loss_label, loss_cfg in experiment["losses"].items():
            loss_cfg = dict(loss_cfg)
            overrides = loss_cfg.pop("overrides", None) or {}
            for seed in experiment.get("seeds", [0]):
                run = {"name": f"{prefix}{ds_label}-{loss_label}-seed{seed}", "seed": int(seed)}
                cfg = deep_merge(base, {"data": ds_cfg, "loss": loss_cfg, **run})
                cfg = deep_merge(cfg, overrides)
                cells.append(Cell(ds_label, loss_label, int(seed), cfg))
    return cells


def set_values(experiment: Mapping[str, Any], assignments: Sequence[str]) -> dict[str, Any]:
    """Apply ``dotted.key=value`` assignments (values in YAML syntax) to a copy of an experiment.

    ``key=null`` removes the key, as ``null`` does in a variant (e.g. ``losses.ce_bl=null``
    leaves that arm out of the grid).

    Example:
        >>> set_values({"base": {"trainer": {"max_epochs": 100}}}, ["base.trainer.max_epochs=5", "seeds=[0, 1]"])
        {'base': {'trainer': {'max_epochs': 5}}, 'seeds': [0, 1]}
        >>> set_values({"losses": {"ce": {}, "ce_bl": {}}}, ["losses.ce_bl=null"])
        {'losses': {'ce': {}}}
    """
    out = copy.deepcopy(dict(experiment))
    for item in assignments:
        key, sep, raw = item.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(parts):
            raise ValueError(f"expected an assignment such as base.trainer.max_epochs=5, got {item!r}")
        node = out
        for part in parts[:-1]:
            if node.get(part) is None:
                node[part] = {}
            if not isinstance(node[part], dict):
                raise ValueError(f"cannot set {key!r}: {part!r} holds {node[part]!r}, not a mapping")
            node = node[part]
        value = read_yaml(raw)  # `{a: 1, a: 2}` kept the last silently
        if value is None:
            if parts[-1] not in node:
                raise ValueError(f"cannot remove {key!r}: there is no such key")
            del node[parts[-1]]
        else:
            node[parts[-1]] = value
    return out
