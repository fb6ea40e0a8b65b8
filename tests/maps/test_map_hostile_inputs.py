"""Maps on an empty batch and on a spacing whose distances overflow (#25, second round)."""

from __future__ import annotations

import pytest
import torch

from edgewise import maps


@pytest.mark.parametrize("name", ["signed_distance", "unsigned_distance", "inside_distance", "rrw_map"])
def test_an_empty_batch_gives_empty_maps(name):
    """Were torch's "max(): Expected reduction dim to be specified for input.numel() == 0"
    (signed, inside, rrw); unsigned and edt already gave nothing for nothing."""
    target = torch.zeros(0, 2, 8, 8, dtype=torch.bool)
    out = getattr(maps, name)(target)
    assert out.shape == (0, 2, 8, 8) and out.dtype == torch.float32


def test_an_empty_batch_gives_an_empty_penalty_map():
    """Was "cannot reshape tensor of 0 elements into shape [0, -1]"."""
    out = maps.penalty_map(torch.zeros(0, 1, 8, 8, dtype=torch.long), num_classes=2)
    assert out.shape == (0, 1, 8, 8)


def test_a_spacing_whose_squared_distances_overflow_is_refused():
    """(1e19, 1e19) on 8 x 8 gave inf maps, (1e20, 1e20) nan ones, silently."""
    target = torch.zeros(1, 2, 8, 8, dtype=torch.bool)
    target[0, 1, 2:5, 2:5] = True
    target[0, 0] = ~target[0, 1]
    for s in (1e19, 1e20):
        with pytest.raises(ValueError, match=r"expected a spacing that keeps distances in float32.*"
                                             r"whose square overflows\): give the spacing in mm"):
            maps.signed_distance(target, spacing=(s, s))
        with pytest.raises(ValueError, match=r"keeps distances in float32"):
            maps.edt(target[:, 1], spacing=(s, s))
    assert torch.isfinite(maps.signed_distance(target, spacing=(1e18, 1e18))).all()
