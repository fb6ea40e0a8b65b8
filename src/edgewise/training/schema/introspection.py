"""Reading the schema's types, for the error messages and the reference: ``Annotated``
metadata, optional and discriminated unions (the optimiser and scheduler kinds), and a type
in words (:func:`describe`).
"""

from __future__ import annotations

import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from pydantic import BaseModel, Discriminator
from pydantic.fields import FieldInfo


def _strip(tp: Any) -> Any:
    """``tp`` without ``Annotated`` metadata and without ``None`` in a union."""
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    if _is_union(tp):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return _strip(args[0])
    return tp


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType)


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _field_type(field: FieldInfo) -> Any:
    if not field.metadata:
        return field.annotation
    args = (field.annotation, *field.metadata)
    return Annotated[args]


def _metadata(tp: Any) -> list[Any]:
    out: list[Any] = []
    while get_origin(tp) is Annotated:
        out.extend(tp.__metadata__)
        tp = get_args(tp)[0]
    return out


def _discriminated(tp: Any) -> bool:
    return any(isinstance(m, Discriminator) for m in _metadata(tp))


def _members(tp: Any) -> list[type[BaseModel]]:
    """Models of a discriminated union (empty for any other type)."""
    if not _discriminated(tp):
        return []
    base = tp
    while get_origin(base) is Annotated:
        base = get_args(base)[0]
    return [_strip(m) for m in get_args(base)]


def _tag_of(model: Any) -> str:
    return get_args(model.model_fields["name"].annotation)[0]


def _common(tp: Any) -> set[str]:
    members = _members(tp)
    return set.intersection(*(set(m.model_fields) for m in members)) if members else set()


# --- types in words (error messages and the reference) ------------------------------------

_PLURAL = {"an integer": "integers", "a finite number": "finite numbers", "a string": "strings",
           "a non-empty string": "non-empty strings", "a mapping": "mappings"}


def describe(tp: Any, plural: bool = False) -> str:
    """A type of the schema in words: ``an integer >= 1``, ``null or a non-empty string``.

    Example:
        >>> from edgewise.training.schema.values import Beta, Name, PosInt
        >>> describe(PosInt), describe(Beta), describe(Name | None)
        ('an integer >= 1', 'a finite number in [0.0, 1.0)', 'null or a non-empty string')
    """
    meta = _metadata(tp)
    base = tp
    while get_origin(base) is Annotated:
        base = get_args(base)[0]
    if _discriminated(tp):
        names = [_tag_of(m) for m in _members(tp)]
        return "mappings" if plural else f"a mapping with a 'name' among {names}"
    if _is_union(base):
        words = ["null"] if type(None) in get_args(base) else []
        for alternative in get_args(base):
            if alternative is not type(None):
                words.extend(_alternatives(alternative))
        return _join_or(words)
    if get_origin(base) is Literal:
        values = list(get_args(base))
        return _join_or([_show(v) for v in values]) if len(values) < 2 or plural else f"one of {values}"
    noun, bounds = _noun(base, meta)
    if plural:
        noun = _PLURAL.get(noun, noun)
    return f"{noun} {bounds}".strip()


def _alternatives(tp: Any) -> list[str]:
    base = tp
    while get_origin(base) is Annotated:
        base = get_args(base)[0]
    if get_origin(base) is Literal:
        return [_show(v) for v in get_args(base)]
    if base is bool:
        return ["true", "false"]
    return [describe(tp)]


def _noun(base: Any, meta: list[Any]) -> tuple[str, str]:
    lo = next((m for m in meta if isinstance(m, Ge | Gt)), None)
    hi = next((m for m in meta if isinstance(m, Le | Lt)), None)
    min_len = next((m.min_length for m in meta if isinstance(m, MinLen)), 0)
    max_len = next((m.max_length for m in meta if isinstance(m, MaxLen)), None)
    if base is bool:
        return "true or false", ""
    if base is int or base is float:
        noun = "an integer" if base is int else "a finite number"
        return noun, _bounds(lo, hi)
    if base is str:
        return ("a non-empty string" if min_len else "a string"), ""
    if base is type(None):
        return "null", ""
    if _is_model(base) or base is dict or get_origin(base) is dict:
        args = get_args(base)
        if args and get_origin(_strip(args[0])) is Literal:
            keys = ", ".join(str(k) for k in get_args(_strip(args[0])))
            return f"a mapping with keys among {keys}", ""
        return ("a non-empty mapping" if min_len else "a mapping"), ""
    if get_origin(base) is list:
        items = describe(get_args(base)[0], plural=True)
        if max_len is not None and max_len == min_len:
            count = {1: "one", 2: "two", 3: "three"}.get(max_len, str(max_len))
            return f"a list of {count} {items}", ""
        return ("a non-empty list" if min_len else "a list") + f" of {items}", ""
    if base is Any:
        return "any value", ""
    return getattr(base, "__name__", str(base)), ""


def _bounds(lo: Any, hi: Any) -> str:
    if lo is None and hi is None:
        return ""
    if hi is None:
        return f">= {lo.ge}" if isinstance(lo, Ge) else f"> {lo.gt}"
    if lo is None:
        return f"<= {hi.le}" if isinstance(hi, Le) else f"< {hi.lt}"
    left = f"[{lo.ge}" if isinstance(lo, Ge) else f"({lo.gt}"
    right = f"{hi.le}]" if isinstance(hi, Le) else f"{hi.lt})"
    return f"in {left}, {right}"


def _join_or(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)
