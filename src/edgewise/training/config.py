"""Run configuration: YAML files, ``key=value`` overrides, defaults and validation.

A configuration is a plain nested ``dict``. :func:`load_config` reads a YAML file, applies
dotted overrides such as ``optimizer.lr=5e-4`` or ``loss.terms.1.weight=0.02``, fills the
defaults of :data:`DEFAULT_CONFIG` and checks every key, so a typo fails before any work
starts with a ``ValueError`` that names the key.

The keys, their types and defaults are declared once in :mod:`edgewise.training.schema`;
this module reads files and overrides and hands the result to it.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, get_args

import yaml

from edgewise._io import read_yaml
from edgewise.training.schema import LossTerm, validate_run

__all__ = [
    "DEFAULT_CONFIG",
    "apply_overrides",
    "load_config",
    "parse_value",
    "validate_config",
    "dump_config",
    "require_data_root",
    "resolve_num_threads",
    "MAP_SOURCES",
]

#: how a loss term gets its distance maps (``loss.terms.<i>.maps``): computed from each
#: batch's labels, or the dataset's cached whole-volume maps (``item["dist_map"]``).
MAP_SOURCES: tuple[str, ...] = get_args(LossTerm.model_fields["maps"].annotation)

#: every key with its default (the schema's defaults, resolved)
DEFAULT_CONFIG: dict[str, Any] = validate_run({})


def require_data_root(config: Mapping[str, Any]) -> None:
    """Raise unless a dataset read from disk has its folder (``data.root``).

    Shipped configurations leave ``data.root`` empty for the user to give, so this is
    checked when a run starts, not by :func:`validate_config`.
    """
    data = config["data"]
    if data["name"] != "synthetic" and data["root"] is None and "root" not in data["options"]:
        raise ValueError(
            f"config key 'data.root': dataset {data['name']!r} needs the folder you downloaded, "
            f"e.g. data.root=/path/to/{data['name']}"
        )


def resolve_num_threads(value: int | str | None, num_workers: int = 0) -> tuple[int | None, str]:
    """The torch intra-op threads for ``trainer.num_threads``, and why.

    ``"auto"`` (the default): the cores this process may use, less the load of other jobs
    (1-minute load average) and the data-loader workers, at least 1. Where
    ``OMP_NUM_THREADS`` is set (by the user, or by ``edgewise bench`` for its workers),
    torch already follows it and ``None`` is returned (keep it); ``None`` (null) also
    keeps torch's default, one thread per core. On a 2-core machine busy with other jobs
    that default made a demo epoch 8 times slower than one thread (57-74 s vs 7.5-8.5 s,
    docs/training.md, "Threads"): a thread waiting for a core holds up the others.

    Example:
        >>> resolve_num_threads(3)
        (3, 'trainer.num_threads')
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value, "trainer.num_threads"
    if value is None:
        return None, "torch's default: trainer.num_threads is null"
    if os.environ.get("OMP_NUM_THREADS"):
        return None, f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}"
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = 0.0
    free = min(cores, max(0, cores - round(load)))
    n = max(1, free - num_workers)
    return n, f"auto: {cores} cores, load {load:.1f}, {num_workers} data workers"


def parse_value(text: str) -> Any:
    """Parse the value part of a ``key=value`` override.

    YAML syntax (``true``, ``null``, ``[0.9, 0.99]``, ``{a: 1}``), with numbers written
    like ``1e-3`` read as floats (plain YAML 1.1 would keep them as strings).

    Example:
        >>> parse_value("1e-3"), parse_value("[0.9, 0.99]"), parse_value("null")
        (0.001, [0.9, 0.99], None)
    """
    try:
        value = read_yaml(text)  # `{0: 0, 0: 1}` kept the last value silently
    except yaml.constructor.ConstructorError as exc:
        if exc.problem and ("written twice" in exc.problem or "through its aliases" in exc.problem):
            raise ValueError(f"{exc.problem}, in the value {text!r}") from None
        return text
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
        try:
            value = parse_value(raw)
        except ValueError as exc:
            raise ValueError(f"config key '{key}': {exc}") from None
        _set(node, parts[-1], key, value)
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

    The keys, types and defaults are those of :class:`edgewise.training.schema.RunConfig`.

    Returns:
        A new, fully resolved configuration (all defaults present).

    Raises:
        ValueError: an unknown key or a value of the wrong type or range; the message
            names the dotted key.
    """
    return validate_run(copy.deepcopy(config))


def evaluation_option(key: str, value: Any) -> list[Any]:
    """``value`` checked as ``evaluation.<key>`` of a run configuration (for the list options
    of ``evaluate`` and ``score``: ``tolerances``, ``metrics``, ``mirror_axes``); ``[]`` for
    ``None``."""
    checked = validate_run({"evaluation": {key: value}})["evaluation"][key]
    return [] if checked is None else list(checked)


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
        if path.is_dir():
            raise FileNotFoundError(
                f"config file {path} is a folder: expected a YAML file such as configs/demo.yaml "
                "(to continue a run in that folder: edgewise train --resume -o FOLDER)")
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        try:
            raw = read_yaml(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError as exc:
            raise ValueError(
                f"config file {path} is not a YAML text file: byte 0x{exc.object[exc.start]:02x} "
                f"at offset {exc.start} is not UTF-8 text (expected a .yaml file such as "
                "configs/demo.yaml)"
            ) from None
        except yaml.YAMLError as exc:
            hint = ("; indent YAML with spaces, not tabs" if "'\\t'" in str(exc) else "")
            raise ValueError(f"cannot parse YAML config {path}{hint}: {exc}") from exc
        if raw is None:
            # an empty file (unsaved, truncated): training the built-in defaults instead of the
            # run meant, silently, is worse than stopping here
            raise ValueError(
                f"config file {path} is empty (no YAML document): expected a mapping such as "
                "configs/demo.yaml; for the built-in defaults give no --config (`config show -`)")
        if not isinstance(raw, Mapping):
            raise ValueError(f"expected a mapping at the top of {path}, got {type(raw).__name__}")
    return validate_config(apply_overrides(_with_defaults(raw), overrides))


def _with_defaults(raw: Mapping[str, Any]) -> dict[str, Any]:
    # Overrides may address default list entries (loss.terms.0.weight); the other defaults
    # are filled by the schema, which also picks the optimiser's extras by its final name.
    out = copy.deepcopy(dict(raw))
    out.setdefault("loss", copy.deepcopy(DEFAULT_CONFIG["loss"]))
    return out


def dump_config(config: Mapping[str, Any]) -> str:
    """YAML text of a configuration (keys in insertion order)."""
    return yaml.safe_dump(_plain(config), sort_keys=False, default_flow_style=None)


def _plain(x: Any) -> Any:
    if isinstance(x, Mapping):
        # integer keys stay integers (a label_map's raw values); anything else is written as text
        return {k if isinstance(k, int) and not isinstance(k, bool) else str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_plain(v) for v in x]
    return x
