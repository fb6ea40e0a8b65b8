"""What the schema writes: the JSON Schema of run configs and experiment files (editor
completion, ``edgewise config schema``) and the Markdown configuration reference of
``docs/training.md``, refreshed by ``python -m edgewise.training.schema --update-docs
docs/training.md`` (:func:`main`).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from edgewise.training.schema.experiment import Experiment
from edgewise.training.schema.introspection import (
    _field_type,
    _is_model,
    _is_union,
    _members,
    _strip,
    _tag_of,
    describe,
)
from edgewise.training.schema.run_config import RunConfig

_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def run_json_schema() -> dict[str, Any]:
    """JSON Schema of a run configuration file (YAML editors use it for completion)."""
    return {"$schema": _SCHEMA_DIALECT, **_json_limits(_any_of(RunConfig.model_json_schema()))}


def experiment_json_schema() -> dict[str, Any]:
    """JSON Schema of a bench experiment file."""
    return {"$schema": _SCHEMA_DIALECT, **_json_limits(_any_of(Experiment.model_json_schema()))}


_JSON_LIMITS = {"ge": "minimum", "le": "maximum", "gt": "exclusiveMinimum", "lt": "exclusiveMaximum"}


def _json_limits(schema: Any) -> Any:
    """pydantic writes the limits of a number it validates through a function (the YAML
    number coercion) as annotated-types' ``ge``/``lt``, which JSON Schema ignores: an editor
    then accepted a negative ``lr`` that ``train`` refuses. Rename them to the keywords."""
    if isinstance(schema, dict):
        out = {}
        for key, value in schema.items():
            if key in _JSON_LIMITS and isinstance(value, (int, float)) and not isinstance(value, bool):
                out[_JSON_LIMITS[key]] = value
            else:
                out[key] = _json_limits(value)
        return out
    if isinstance(schema, list):
        return [_json_limits(v) for v in schema]
    return schema


def _any_of(schema: Any) -> Any:
    # Pydantic writes a tagged union as oneOf; with ``name`` optional (``optimizer: {lr: 0.1}``
    # is an Adam) several kinds can match, which oneOf would reject. anyOf says what we mean.
    if isinstance(schema, dict):
        return {("anyOf" if k == "oneOf" else k): _any_of(v) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_any_of(v) for v in schema]
    return schema


def _rows(
    model: type[BaseModel], prefix: str, defaults: Mapping[str, Any] | None = None
) -> list[tuple[str, str, str, str]]:
    rows: list[tuple[str, str, str, str]] = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        tp = _field_type(field)
        base = _strip(tp)
        members = _members(tp)
        if members:
            rows.extend(_union_rows(key, members, field))
            continue
        if _is_model(base) and not field.is_required() and not _is_union(tp):
            rows.extend(_rows(base, key + ".", _default_value(field)))
            continue
        value = defaults[name] if defaults is not None and name in defaults else _default_value(field)
        rows.append((key, describe(tp), _show_default(value), field.description or ""))
        if get_origin(base) is list and _is_model(_strip(get_args(base)[0])):
            rows.extend(_rows(_strip(get_args(base)[0]), f"{key}.<i>."))
    return rows


def _union_rows(key: str, members: list[type[BaseModel]], field: FieldInfo) -> list[tuple[str, str, str, str]]:
    names = [_tag_of(m) for m in members]
    rows = [(f"{key}.name", f"one of {names}", _default_value(field)["name"], field.description or "")]
    seen: dict[str, list[type[BaseModel]]] = {}
    for m in members:
        for k in m.model_fields:
            if k != "name":
                seen.setdefault(k, []).append(m)
    for k, owners in seen.items():
        f = owners[0].model_fields[k]
        where = "" if len(owners) == len(members) else f" ({', '.join(_tag_of(o) for o in owners)})"
        rows.append((f"{key}.{k}", describe(_field_type(f)), _show_default(_default_value(f)),
                     (f.description or "") + where))
    return rows


_REQUIRED = object()


def _default_value(field: FieldInfo) -> Any:
    if field.is_required():
        return _REQUIRED
    value = field.get_default(call_default_factory=True)
    return value.model_dump() if isinstance(value, BaseModel) else value


def _show_default(value: Any) -> str:
    if value is _REQUIRED:
        return "required"
    return value if isinstance(value, str) else json.dumps(value)


def reference_markdown() -> str:
    """The configuration reference of ``docs/training.md``: one table row per key."""
    lines = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for key, kind, default, meaning in _rows(RunConfig, ""):
        shown = f"`{default}`" if default and default != "required" else default
        lines.append(f"| `{key}` | {_cell(kind)} | {shown} | {_cell(meaning)} |")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


REFERENCE_START = "<!-- config-reference:start (generated by python -m edgewise.training.schema --update-docs docs/training.md) -->"
REFERENCE_END = "<!-- config-reference:end -->"


def update_reference(text: str) -> str:
    """``text`` with the part between the reference markers replaced by the current table."""
    start, end = text.find(REFERENCE_START), text.find(REFERENCE_END)
    if start < 0 or end < start:
        raise ValueError(f"expected the markers {REFERENCE_START!r} and {REFERENCE_END!r} in the text")
    head = text[: start + len(REFERENCE_START)]
    return f"{head}\n\n{reference_markdown()}\n{text[end:]}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m edgewise.training.schema",
        description="Print the run configuration reference, or refresh it in a Markdown file.",
    )
    parser.add_argument("--markdown", action="store_true", help="print the reference table")
    parser.add_argument("--update-docs", metavar="FILE", type=Path,
                        help="rewrite the table between the reference markers of FILE")
    parser.add_argument("--check", action="store_true",
                        help="with --update-docs: only report whether FILE is current (exit 1 if not)")
    args = parser.parse_args(argv)
    if args.update_docs is None:
        sys.stdout.write(reference_markdown())
        return 0
    text = args.update_docs.read_text()
    new = update_reference(text)
    if args.check:
        if new != text:
            print(f"{args.update_docs}: the config reference is out of date; run "
                  f"python -m edgewise.training.schema --update-docs {args.update_docs}", file=sys.stderr)
            return 1
        return 0
    if new != text:
        args.update_docs.write_text(new)
    return 0
