"""Run configuration: YAML files, ``key=value`` overrides, defaults and validation.

A configuration is a plain nested ``dict``. :func:`load_config` reads a YAML file, applies
dotted overrides such as ``optimizer.lr=5e-4`` or ``loss.terms.1.weight=0.02``, fills the
defaults of :data:`DEFAULT_CONFIG` and checks every key, so a typo fails before any work
starts with a ``ValueError`` that names the key.

Sections whose content belongs to another component are passed through untouched after a
shape check: ``data.options`` (keyword arguments of :func:`edgewise.data.build_dataset`),
``model.args`` (of :func:`edgewise.models.build_model`) and ``loss`` (validated by
:func:`edgewise.losses.loss_from_config` when the run starts).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "DEFAULT_CONFIG",
    "apply_overrides",
    "load_config",
    "parse_value",
    "validate_config",
    "dump_config",
    "MAP_SOURCES",
]

DEFAULT_CONFIG: dict[str, Any] = {
    "name": "run",
    "seed": 0,
    "output_root": "runs",
    "data": {
        "name": "synthetic",
        "root": None,
        "options": {},
        "split_options": {},
        "train_split": "train",
        "val_split": "val",
        "test_split": "test",
        "batch_size": 8,
        "val_batch_size": None,
        "num_workers": 0,
    },
    "model": {"name": "unet", "args": {}, "size_divisor": None},
    "loss": {"terms": [{"name": "ce", "weight": 1.0}], "schedule": None},
    "optimizer": {"name": "adam", "lr": 1e-3, "weight_decay": 0.0},
    "scheduler": {"name": "none"},
    "trainer": {
        "max_epochs": 10,
        "accelerator": "auto",
        "devices": 1,
        "num_nodes": 1,
        "strategy": "auto",
        "precision": "32-true",
        "deterministic": "warn",
        "gradient_clip_val": None,
        "accumulate_grad_batches": 1,
        "log_every_n_steps": 10,
        "check_val_every_n_epoch": 1,
        "limit_train_batches": None,
        "limit_val_batches": None,
        "enable_progress_bar": True,
        "num_threads": None,
    },
    "validation": {"hd95": False},
    "evaluation": {"checkpoint": "best", "tolerance": 1.0, "tolerances": None, "overlays": 4,
                   "metrics": None},
}

#: how a loss term gets its distance maps (``loss.terms.<i>.maps``): computed from each
#: batch's labels, or the dataset's cached whole-volume maps (``item["dist_map"]``).
MAP_SOURCES = ("on_the_fly", "cached")

# Keys allowed per optimiser / scheduler name, beside "name" (and "lr", "weight_decay").
_OPTIMIZER_KEYS: dict[str, dict[str, Any]] = {
    "adam": {"betas": (0.9, 0.999), "eps": 1e-8, "amsgrad": False},
    "adamw": {"betas": (0.9, 0.999), "eps": 1e-8, "amsgrad": False},
    "sgd": {"momentum": 0.9, "nesterov": False},
}
_SCHEDULER_KEYS: dict[str, dict[str, Any]] = {
    "none": {},
    "cosine": {"min_lr": 0.0, "warmup_epochs": 0},
    "poly": {"power": 0.9, "warmup_epochs": 0},
    "step": {"step_size": 30, "gamma": 0.1, "warmup_epochs": 0},
}

_Check = Callable[[str, Any], Any]


def _fail(key: str, expected: str, got: Any) -> ValueError:
    return ValueError(f"config key '{key}': expected {expected}, got {got!r}")


def _as_float(key: str, value: Any) -> float:
    # PyYAML reads "1e-3" (no dot) as a string; accept numeric strings for float keys.
    if isinstance(value, bool):
        raise _fail(key, "a number", value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise _fail(key, "a number", value)


def _int(minimum: int | None = None) -> _Check:
    def check(key: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(key, "an integer", value)
        if minimum is not None and value < minimum:
            raise _fail(key, f"an integer >= {minimum}", value)
        return value

    return check


def _float(minimum: float | None = None, maximum: float | None = None) -> _Check:
    def check(key: str, value: Any) -> float:
        x = _as_float(key, value)
        if not math.isfinite(x) or (minimum is not None and x < minimum) or (
            maximum is not None and x > maximum
        ):
            bounds = f"in [{minimum}, {maximum}]" if maximum is not None else f">= {minimum}"
            raise _fail(key, f"a finite number {bounds}", value)
        return x

    return check


def _bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _fail(key, "true or false", value)
    return value


def _str(choices: Iterable[str] | None = None) -> _Check:
    allowed = tuple(choices) if choices is not None else None

    def check(key: str, value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise _fail(key, "a non-empty string", value)
        if allowed is not None and value not in allowed:
            raise _fail(key, f"one of {list(allowed)}", value)
        return value

    return check


def _optional(inner: _Check) -> _Check:
    def check(key: str, value: Any) -> Any:
        return None if value is None else inner(key, value)

    return check


def _either(*checks: _Check, expected: str) -> _Check:
    def check(key: str, value: Any) -> Any:
        for c in checks:
            try:
                return c(key, value)
            except ValueError:
                continue
        raise _fail(key, expected, value)

    return check


def _mapping(key: str, value: Any) -> dict:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _fail(key, "a mapping", value)
    for k in value:
        if not isinstance(k, str):
            raise _fail(key, "a mapping with string keys", value)
    return dict(value)


def _tolerances(key: str, value: Any) -> list[float] | None:
    if value is None:
        return None
    if not isinstance(value, list | tuple) or not value:
        raise _fail(key, "null or a non-empty list of tolerances in mm", value)
    out = [_float(0.0)(f"{key}.{i}", v) for i, v in enumerate(value)]
    if len(set(out)) != len(out):
        raise _fail(key, "distinct tolerances", value)
    return out


def _extra_metrics(key: str, value: Any) -> list[str] | None:
    from edgewise.training.run import EXTRA_METRICS

    if value is None:
        return None
    if not isinstance(value, list | tuple) or not all(v in EXTRA_METRICS for v in value):
        raise _fail(key, f"null or a list of metric names from {list(EXTRA_METRICS)}", value)
    if len(set(value)) != len(value):
        raise _fail(key, "distinct metric names", value)
    return list(value)


def _split_options(key: str, value: Any) -> dict:
    out = _mapping(key, value)
    for role, opts in out.items():
        if role not in ("train", "val", "test"):
            raise ValueError(f"unknown config key '{key}.{role}' (expected train, val, test)")
        out[role] = _mapping(f"{key}.{role}", opts)
    return out


def _betas(key: str, value: Any) -> tuple[float, float]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise _fail(key, "a list of two numbers in [0, 1)", value)
    b = tuple(_float(0.0, 1.0)(key, v) for v in value)
    if b[0] >= 1.0 or b[1] >= 1.0:
        raise _fail(key, "a list of two numbers in [0, 1)", value)
    return b  # type: ignore[return-value]


def _devices(key: str, value: Any) -> int | str | list[int]:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool) and (value >= 1 or value == -1):
        return value
    if isinstance(value, list) and value and all(isinstance(v, int) and v >= 0 for v in value):
        return value
    raise _fail(key, "a positive integer, -1, 'auto' or a list of device indices", value)


def _limit(key: str, value: Any) -> int | float | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return _int(1)(key, value)
    return _float(0.0, 1.0)(key, value)


_CHECKS: dict[str, _Check] = {
    "name": _str(),
    "seed": _int(0),
    "output_root": _str(),
    "data.name": _str(),
    "data.root": _optional(_str()),
    "data.options": _mapping,
    "data.split_options": _split_options,
    "data.train_split": _str(),
    "data.val_split": _optional(_str()),
    "data.test_split": _str(),
    "data.batch_size": _int(1),
    "data.val_batch_size": _optional(_int(1)),
    "data.num_workers": _int(0),
    "model.name": _str(),
    "model.args": _mapping,
    "model.size_divisor": _optional(_int(1)),
    "optimizer.name": _str(_OPTIMIZER_KEYS),
    "optimizer.lr": _float(0.0),
    "optimizer.weight_decay": _float(0.0),
    "optimizer.betas": _betas,
    "optimizer.eps": _float(0.0),
    "optimizer.amsgrad": _bool,
    "optimizer.momentum": _float(0.0),
    "optimizer.nesterov": _bool,
    "scheduler.name": _str(_SCHEDULER_KEYS),
    "scheduler.min_lr": _float(0.0),
    "scheduler.warmup_epochs": _int(0),
    "scheduler.power": _float(0.0),
    "scheduler.step_size": _int(1),
    "scheduler.gamma": _float(0.0),
    "trainer.max_epochs": _int(1),
    "trainer.accelerator": _str(),
    "trainer.devices": _devices,
    "trainer.num_nodes": _int(1),
    "trainer.strategy": _str(),
    "trainer.precision": _either(_str(), _int(1), expected="a precision such as '32-true'"),
    "trainer.deterministic": _either(
        _bool, _str(["warn"]), expected="true, false or 'warn'"
    ),
    "trainer.gradient_clip_val": _optional(_float(0.0)),
    "trainer.accumulate_grad_batches": _int(1),
    "trainer.log_every_n_steps": _int(1),
    "trainer.check_val_every_n_epoch": _int(1),
    "trainer.limit_train_batches": _limit,
    "trainer.limit_val_batches": _limit,
    "trainer.enable_progress_bar": _bool,
    "trainer.num_threads": _optional(_int(1)),
    "validation.hd95": _bool,
    "evaluation.checkpoint": _str(["best", "last"]),
    "evaluation.tolerance": _float(0.0),
    "evaluation.tolerances": _tolerances,
    "evaluation.overlays": _int(0),
    "evaluation.metrics": _extra_metrics,
}

# Sections whose content is checked by another component (only their type is checked here).
_OPAQUE = {"data.options", "data.split_options", "model.args"}


def parse_value(text: str) -> Any:
    """Parse the value part of a ``key=value`` override.

    YAML syntax (``true``, ``null``, ``[0.9, 0.99]``, ``{a: 1}``), with numbers written
    like ``1e-3`` read as floats (plain YAML 1.1 would keep them as strings).

    Example:
        >>> parse_value("1e-3"), parse_value("[0.9, 0.99]"), parse_value("null")
        (0.001, [0.9, 0.99], None)
    """
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, str):
        try:
            return float(value) if value.strip().lower() not in {"nan", "inf", "-inf"} else value
        except ValueError:
            return value
    return value


def apply_overrides(config: Mapping[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Return a copy of ``config`` with dotted ``key=value`` overrides applied.

    Integer path parts index lists (``loss.terms.0.weight=0.5``). Missing intermediate
    mappings are created; whether the final key is allowed is decided by
    :func:`validate_config`.

    Raises:
        ValueError: an override without ``=``, or a path through a non-container.
    """
    out = copy.deepcopy(dict(config))
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"expected an override of the form key=value, got {item!r}")
        key, _, raw = item.partition("=")
        key = key.strip()
        parts = key.split(".")
        if not key or any(not p for p in parts):
            raise ValueError(f"expected a dotted key such as optimizer.lr, got {key!r}")
        node: Any = out
        for i, part in enumerate(parts[:-1]):
            node = _child(node, part, ".".join(parts[: i + 1]), create=True)
        _set(node, parts[-1], key, parse_value(raw))
    return out


def _child(node: Any, part: str, path: str, create: bool) -> Any:
    if isinstance(node, list):
        idx = _index(node, part, path)
        return node[idx]
    if isinstance(node, dict):
        if part not in node or node[part] is None:
            if not create:
                raise ValueError(f"unknown config key '{path}'")
            node[part] = {}
        return node[part]
    raise ValueError(f"config key '{path}': cannot index into {type(node).__name__}")


def _set(node: Any, part: str, path: str, value: Any) -> None:
    if isinstance(node, list):
        node[_index(node, part, path)] = value
    elif isinstance(node, dict):
        node[part] = value
    else:
        raise ValueError(f"config key '{path}': cannot set a key inside {type(node).__name__}")


def _index(node: list, part: str, path: str) -> int:
    try:
        idx = int(part)
    except ValueError:
        raise ValueError(f"config key '{path}': expected a list index, got {part!r}") from None
    if not -len(node) <= idx < len(node):
        raise ValueError(f"config key '{path}': index {idx} out of range for {len(node)} items")
    return idx


def validate_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Fill defaults, coerce numbers and check every key of a run configuration.

    Returns:
        A new, fully resolved configuration (all defaults present).

    Raises:
        ValueError: an unknown key or a value of the wrong type or range; the message
            names the dotted key.
    """
    if not isinstance(config, Mapping):
        raise ValueError(f"expected the configuration to be a mapping, got {type(config).__name__}")
    cfg = copy.deepcopy(dict(config))
    out = copy.deepcopy(DEFAULT_CONFIG)
    # Per-name defaults for optimiser and scheduler extras.
    opt_name = cfg.get("optimizer", {}).get("name", out["optimizer"]["name"]) if isinstance(
        cfg.get("optimizer", {}), Mapping
    ) else None
    sched = cfg.get("scheduler", {})
    sched_name = sched.get("name", "none") if isinstance(sched, Mapping) else None
    if opt_name in _OPTIMIZER_KEYS:
        out["optimizer"].update(copy.deepcopy(_OPTIMIZER_KEYS[opt_name]))
    if sched_name in _SCHEDULER_KEYS:
        out["scheduler"].update(copy.deepcopy(_SCHEDULER_KEYS[sched_name]))
    if "loss" in cfg:
        out["loss"] = {"terms": None, "schedule": None}
    _merge(out, cfg, "")
    _check_tree(out, "")
    _check_loss(out["loss"])
    return out


def _merge(dst: dict, src: Mapping, prefix: str) -> None:
    for key, value in src.items():
        path = f"{prefix}{key}"
        if not isinstance(key, str):
            raise ValueError(f"config key {path!r}: expected a string key")
        if path == "loss":
            if not isinstance(value, Mapping):
                raise _fail("loss", "a mapping with 'terms' and optional 'schedule'", value)
            for k in value:
                if k not in ("terms", "schedule"):
                    raise ValueError(
                        f"unknown config key 'loss.{k}' (expected 'terms' and 'schedule')"
                    )
            dst["loss"].update(copy.deepcopy(dict(value)))
            continue
        if key not in dst:
            raise ValueError(f"unknown config key '{path}'" + _hint(path))
        if isinstance(dst[key], dict) and path not in _OPAQUE:
            if value is None:
                continue
            if not isinstance(value, Mapping):
                raise _fail(path, "a mapping", value)
            _merge(dst[key], value, path + ".")
        else:
            dst[key] = copy.deepcopy(value)


def _hint(path: str) -> str:
    section, _, _ = path.rpartition(".")
    table = {"optimizer": _OPTIMIZER_KEYS, "scheduler": _SCHEDULER_KEYS}.get(section)
    if table is None:
        return ""
    extras = "; ".join(f"{n}: {', '.join(keys) or '-'}" for n, keys in table.items())
    return f" (extra {section} keys by {section}.name: {extras})"


def _check_tree(node: dict, prefix: str) -> None:
    for key, value in node.items():
        path = f"{prefix}{key}"
        if path == "loss":
            continue
        if isinstance(value, dict) and path not in _OPAQUE:
            _check_tree(value, path + ".")
            continue
        check = _CHECKS.get(path)
        if check is None:  # pragma: no cover - every default key has a check
            raise ValueError(f"unknown config key '{path}'")
        node[key] = check(path, value)
    if prefix == "optimizer." and isinstance(node.get("betas"), tuple):
        node["betas"] = list(node["betas"])


def _check_loss(loss: dict) -> None:
    terms = loss.get("terms")
    if not isinstance(terms, list) or not terms:
        raise _fail("loss.terms", "a non-empty list of {name, weight, args}", terms)
    for i, term in enumerate(terms):
        key = f"loss.terms.{i}"
        if not isinstance(term, Mapping) or not isinstance(term.get("name"), str):
            raise _fail(key, "a mapping with a 'name'", term)
        for k in term:
            if k not in ("name", "weight", "args", "maps"):
                raise ValueError(f"unknown config key '{key}.{k}' (expected name, weight, args, maps)")
        if "maps" in term:
            term["maps"] = _str(MAP_SOURCES)(f"{key}.maps", term["maps"])
        if "weight" in term:
            term["weight"] = _float()(f"{key}.weight", term["weight"])
        if "args" in term:
            term["args"] = _mapping(f"{key}.args", term["args"])
    schedule = loss.get("schedule")
    if schedule is not None and not (
        isinstance(schedule, Mapping) and isinstance(schedule.get("name"), str)
    ):
        raise _fail("loss.schedule", "null or a mapping with a 'name'", schedule)


def load_config(
    path: str | Path | None = None,
    overrides: Iterable[str] = (),
    base: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Read a YAML run configuration, apply overrides, fill defaults and validate.

    Args:
        path: YAML file; ``None`` starts from ``base`` (or the defaults).
        overrides: ``key=value`` strings applied after the file.
        base: a configuration mapping to start from instead of a file.

    Returns:
        The resolved configuration (see :data:`DEFAULT_CONFIG` for every key).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: malformed YAML, an unknown key or a bad value (the message names the key).

    Example:
        >>> cfg = load_config(overrides=["optimizer.lr=5e-3", "trainer.max_epochs=2"])
        >>> cfg["optimizer"]["lr"], cfg["trainer"]["max_epochs"], cfg["data"]["batch_size"]
        (0.005, 2, 8)
    """
    raw: Any = dict(base) if base is not None else {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ValueError(f"cannot parse YAML config {path}: {exc}") from exc
        if not isinstance(raw, Mapping):
            raise ValueError(f"expected a mapping at the top of {path}, got {type(raw).__name__}")
    return validate_config(apply_overrides(_with_defaults(raw), overrides))


def _with_defaults(raw: Mapping[str, Any]) -> dict[str, Any]:
    # Overrides may address default entries (loss.terms.0.weight); checks come later.
    def merge(dst: dict, src: Mapping) -> None:
        for k, v in src.items():
            if k in dst and isinstance(dst[k], dict) and isinstance(v, Mapping) and k != "loss":
                merge(dst[k], v)
            else:
                dst[k] = copy.deepcopy(v)

    out = copy.deepcopy(DEFAULT_CONFIG)
    merge(out, raw)
    return out


def dump_config(config: Mapping[str, Any]) -> str:
    """YAML text of a configuration (keys in insertion order)."""
    return yaml.safe_dump(_plain(config), sort_keys=False, default_flow_style=None)


def _plain(x: Any) -> Any:
    if isinstance(x, Mapping):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_plain(v) for v in x]
    return x
