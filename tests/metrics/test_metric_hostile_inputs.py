"""A tolerance that is not a number (#25, second round)."""

from __future__ import annotations

import pytest
import torch

from edgewise.metrics import boundary_f1, surface_dice


@pytest.mark.parametrize("metric", [surface_dice, boundary_f1])
@pytest.mark.parametrize("tolerance", ["1", None, [1, "a"]])
def test_a_tolerance_that_is_not_a_number_is_named(metric, tolerance):
    """Was torch's "new(): invalid data type 'str'" (or "must be real number, not NoneType")."""
    with pytest.raises(TypeError, match=r"expected tolerance as a number \(mm\) or one number per class, got "):
        metric(torch.ones(1, 2, 8, 8), torch.ones(1, 2, 8, 8), tolerance=tolerance)
