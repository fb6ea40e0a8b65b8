"""lazy_attributes: a package's names read from their modules on first use, then cached."""

from __future__ import annotations

import sys
import types

import pytest

from edgewise._core.lazy import lazy_attributes


def test_names_load_on_first_use_and_are_cached(monkeypatch):
    pkg = types.ModuleType("lazypkg")
    pkg.__path__ = []
    sub = types.ModuleType("lazypkg.sub")
    sub.VALUE = 42
    monkeypatch.setitem(sys.modules, "lazypkg", pkg)
    monkeypatch.setitem(sys.modules, "lazypkg.sub", sub)
    getattr_, dir_ = lazy_attributes("lazypkg", {"VALUE": "sub"}, ["VALUE"])
    assert "VALUE" not in pkg.__dict__ and dir_() == sorted({*pkg.__dict__, "VALUE"})
    assert getattr_("VALUE") == 42 and pkg.__dict__["VALUE"] == 42
    with pytest.raises(AttributeError, match="module 'lazypkg' has no attribute 'nope'"):
        getattr_("nope")


def test_the_packages_that_use_it():
    import edgewise.metrics as metrics
    import edgewise.training as training

    assert metrics.dice.__module__ == "edgewise.metrics.overlap"
    assert training.train.__module__ == "edgewise.training.trainer"
    with pytest.raises(AttributeError, match="module 'edgewise.training' has no attribute 'nope'"):
        training.nope  # noqa: B018
