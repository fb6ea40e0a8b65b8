"""Every docstring example in ``edgewise.losses`` runs and prints what it shows."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest
import torch

import edgewise.losses

MODULES = sorted(m.name for m in pkgutil.iter_modules(edgewise.losses.__path__, "edgewise.losses."))
# modules whose public functions and classes carry examples
WITH_EXAMPLES = {"active_contour", "boundary", "compound", "hausdorff", "penalized", "perimeter",
                 "region_wise", "regional", "registry", "schedules", "sdf", "centerline"}


@pytest.mark.filterwarnings("ignore:region_wise_loss:RuntimeWarning")
@pytest.mark.parametrize("name", MODULES)
def test_doctests_pass(name):
    module = importlib.import_module(name)
    torch.manual_seed(0)
    result = doctest.testmod(module, extraglobs={"torch": torch}, optionflags=doctest.ELLIPSIS,
                             verbose=False, report=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} doctest examples failed in {name}"
    if name.rsplit(".", 1)[1] in WITH_EXAMPLES:
        assert result.attempted > 0
