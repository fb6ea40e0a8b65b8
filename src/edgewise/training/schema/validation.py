"""Checking a run configuration or a bench experiment: :func:`validate_run`,
:func:`validate_experiment`, with one line per problem naming the dotted key as written,
the expected value in words and the value given.

Pydantic's error locations also name union members and discriminator tags; they are read
back into the user's key here (:func:`_locate`), with a hint for an unknown key.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, ValidationError

from edgewise.training.schema.experiment import Experiment
from edgewise.training.schema.introspection import (
    _common,
    _discriminated,
    _field_type,
    _is_model,
    _members,
    _strip,
    _tag_of,
    describe,
)
from edgewise.training.schema.run_config import Optimizer, RunConfig, Scheduler


def validate_run(config: Any) -> dict[str, Any]:
    """Check a run configuration, fill its defaults and return it as plain data.

    Raises:
        ValueError: one line per problem, each naming the dotted key, the expected value in
            words and the value given (``config key 'data.batch_size': expected an integer
            >= 1, got 0``).

    Example:
        >>> validate_run({"trainer": {"max_epochs": 2}})["trainer"]["max_epochs"]
        2
        >>> validate_run({"data": {"batch_size": 0}})
        Traceback (most recent call last):
        ...
        ValueError: config key 'data.batch_size': expected an integer >= 1, got 0
    """
    if not isinstance(config, Mapping):
        raise ValueError(f"expected the configuration to be a mapping, got {type(config).__name__}")
    try:
        model = RunConfig.model_validate(dict(config))
    except ValidationError as exc:
        raise ValueError(_messages(RunConfig, exc, _run_message)) from None
    return model.model_dump()


def validate_experiment(experiment: Any) -> None:
    """Check an experiment (after its variant and assignments are applied).

    Raises:
        ValueError: naming the key, e.g. ``expected datasets.syn to be a mapping, got [1]``.
    """
    if not isinstance(experiment, Mapping):
        raise ValueError(f"expected an experiment mapping, got {type(experiment).__name__}")
    try:
        Experiment.model_validate(dict(experiment))
    except ValidationError as exc:
        raise ValueError(_messages(Experiment, exc, _experiment_message)) from None


def _run_message(key: str, expected: str, value: Any) -> str:
    return f"config key '{key}': expected {expected}, got {value!r}"


def _experiment_message(key: str, expected: str, value: Any) -> str:
    # the wording of edgewise.bench.grid's checks before the schema
    shown = f"'{key}'" if "." not in key else key
    return f"expected {shown} to be {expected}, got {value!r}"


_Format = Callable[[str, str, Any], str]


def _messages(root: type[BaseModel], exc: ValidationError, fmt: _Format) -> str:
    lines: list[str] = []
    seen: set[str] = set()
    for err in exc.errors():
        key, line = _message(root, err, fmt)
        if key not in seen:  # a union reports once per member: keep the first
            seen.add(key)
            lines.append(line)
    return "\n".join(lines)


def _message(root: type[BaseModel], err: Any, fmt: _Format) -> tuple[str, str]:
    parts, tp, model, unknown_key = _locate(root, err["loc"])
    key = ".".join(parts)
    kind = err["type"]
    if kind == "extra_forbidden" or unknown_key:
        allowed = sorted(model.model_fields) if model is not None else []
        if unknown_key:
            allowed = [a for a in get_args(_strip(unknown_key)) if isinstance(a, str)]
        return key, f"unknown config key '{key}'" + _hint(parts, allowed)
    if kind == "value_error":  # a validator's own message, which says what it expected
        text = str(err["ctx"]["error"])
        if root is Experiment:
            return key, text if "." not in key else f"{key}: {text}"
        return key, f"config key '{key}': {text}"
    if kind == "union_tag_invalid":
        tags = [t.strip("'\" ") for t in err["ctx"]["expected_tags"].split(",")]
        return key + ".name", fmt(f"{key}.name", f"one of {tags}", err["ctx"]["tag"])
    if kind == "missing":
        return key, f"missing config key '{key}' (expected {describe(tp)})"
    return key, fmt(key, describe(tp) if tp is not None else "a valid value", err["input"])


def _hint(parts: list[str], allowed: list[str]) -> str:
    section = ".".join(parts[:-1])
    close = difflib.get_close_matches(parts[-1], allowed, n=1)
    if close:
        return f" (did you mean '{close[0]}'?)"
    # by the section's own name, so that base.optimizer in an experiment gets the same hint
    kinds = {"optimizer": Optimizer, "scheduler": Scheduler}.get(section.rpartition(".")[2])
    if kinds is not None:
        extras = "; ".join(
            f"{_tag_of(m)}: {', '.join(k for k in m.model_fields if k not in _common(kinds)) or '-'}"
            for m in _members(kinds)
        )
        return f" (extra {section} keys by {section}.name: {extras})"
    return f" (expected one of {', '.join(allowed)})" if allowed else ""


def _locate(
    root: type[BaseModel], loc: tuple[int | str, ...]
) -> tuple[list[str], Any, type[BaseModel] | None, Any]:
    """Dotted key parts of an error location, the type found there, the model holding it and,
    for a rejected mapping key, the key type.

    Pydantic's locations also name union members and discriminator tags; those are dropped
    so that the key is the one the user wrote.
    """
    parts: list[str] = []
    tp: Any = root
    model: type[BaseModel] | None = None
    i = 0
    while i < len(loc):
        item = loc[i]
        base = _strip(tp)
        if _is_model(base):
            model = base
            if item not in base.model_fields:
                parts.append(str(item))
                return parts, None, model, None
            parts.append(str(item))
            tp = _field_type(base.model_fields[str(item)])
            i += 1
            continue
        members = _members(tp)
        if members and _discriminated(tp):
            chosen = next((m for m in members if _tag_of(m) == item), None)
            if chosen is None:
                return parts, tp, model, None
            tp = chosen
            i += 1
            continue
        origin = get_origin(base)
        if origin is list and isinstance(item, int):
            parts.append(str(item))
            tp = get_args(base)[0]
            i += 1
            continue
        if origin is dict and isinstance(item, str):
            key_type, value_type = get_args(base)
            parts.append(item)
            if i + 1 < len(loc) and loc[i + 1] == "[key]":
                if get_origin(_strip(key_type)) is Literal:
                    return parts, key_type, model, key_type
                return parts, key_type, model, None
            tp = value_type
            i += 1
            continue
        break  # a union member's name or a scalar: the error belongs to this key
    return parts, tp, model, None
