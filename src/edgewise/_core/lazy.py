"""Package attributes imported from their modules on first use, so that importing a package
does not load what only some of its names need (torch, Lightning)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def lazy_attributes(package: str, where: Mapping[str, str],
                    public: Sequence[str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: name ``n`` is read from the submodule
    ``where[n]`` on first use and cached in the package's namespace."""
    namespace = importlib.import_module(package).__dict__

    def getattr_(name: str) -> Any:
        if name in where:
            value = getattr(importlib.import_module(f"{package}.{where[name]}"), name)
            namespace[name] = value  # later look-ups skip this function
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def dir_() -> list[str]:
        return sorted(set(namespace) | set(public))

    return getattr_, dir_
