"""A mistyped model argument (#25, second round)."""

from __future__ import annotations

import pytest

from edgewise.models import build_model


@pytest.mark.parametrize("name", ["unet", "enet"])
def test_an_unknown_model_argument_is_named(name):
    """`model.args.bogus=1` was a TypeError traceback from UNet.__init__ (exit 1)."""
    with pytest.raises(ValueError, match=rf"unknown argument\(s\) \['bogus'\] for model '{name}' \(model.args\); "
                                         r"expected some of \[.*'dropout'"):
        build_model(name, in_channels=1, out_channels=2, bogus=1)
