"""The references' conventions by default (#28): absent classes and map units, by hand."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch

from edgewise.losses import (
    BoundaryLoss,
    CompoundLoss,
    DiceLoss,
    SignedDistanceLoss,
    boundary_loss,
    loss_from_config,
    signed_distance_loss,
)

SQRT26 = math.sqrt(26.0)  # diagonal of a 1 x 5 image in voxels


def _case() -> tuple[torch.Tensor, torch.Tensor]:
    """Two (1, 5) samples: class 1 at columns 1-3 in sample 0, absent from sample 1.

    Sample 0's map (boundary convention, voxels) is [1, 0, -1, 0, 1]; its foreground
    probability 0.5 everywhere gives 0.5 * (1 + 0 - 1 + 0 + 1) / 5 = 0.1. Sample 1's foreground
    probabilities [0.2, 0.4, 0, 0, 0.4] (mean 0.2) are false positives of the absent class.
    """
    t = torch.zeros(2, 1, 1, 5, dtype=torch.long)
    t[0, 0, 0, 1:4] = 1
    fg = torch.tensor([[0.5] * 5, [0.2, 0.4, 0.0, 0.0, 0.4]], dtype=torch.float64).view(2, 1, 1, 5)
    return torch.cat([1 - fg, fg], 1), t


def test_boundary_loss_of_a_sample_with_an_absent_class_under_both_fills():
    probs, t = _case()
    kw = {"softmax": False, "include_background": False, "reduction": "none"}
    zero = boundary_loss(probs, t, **kw)
    torch.testing.assert_close(zero, torch.tensor([[0.1], [0.0]], dtype=torch.float64))
    old = boundary_loss(probs, t, empty="diagonal", **kw)
    torch.testing.assert_close(old, torch.tensor([[0.1], [0.2 * SQRT26]], dtype=torch.float64))
    # the mean over the batch: 0.05 against 0.56, the absent class's push dominating the old value
    assert boundary_loss(probs, t, softmax=False, include_background=False).item() == pytest.approx(0.05)
    assert boundary_loss(probs, t, softmax=False, include_background=False, empty="diagonal").item() \
        == pytest.approx((0.1 + 0.2 * SQRT26) / 2)
    module = BoundaryLoss(include_background=False, softmax=False, reduction="none", empty="diagonal")
    torch.testing.assert_close(module(probs, t), old)
    # in mm with spacing 2 every distance doubles, the diagonal included
    torch.testing.assert_close(boundary_loss(probs, t, spacing=2.0, empty="diagonal", **kw), 2 * old)


def test_a_precomputed_map_keeps_its_own_fill():
    from edgewise.maps import signed_distance

    probs, t = _case()
    kw = {"softmax": False, "include_background": False, "reduction": "none"}
    maps = signed_distance(t, num_classes=2, empty="diagonal")
    # empty= only says how maps computed here fill absent classes
    torch.testing.assert_close(boundary_loss(probs, t, dist_map=maps, **kw),
                               boundary_loss(probs, t, empty="diagonal", **kw))


@pytest.mark.parametrize("make", [
    lambda: BoundaryLoss(empty="none"),
    lambda: SignedDistanceLoss(empty="none"),
    lambda: boundary_loss(*_case(), empty="none"),
])
def test_bad_fill_names_the_allowed_values(make):
    with pytest.raises(ValueError, match=r"expected empty in \('zero', 'diagonal'\), got 'none'"):
        make()


def test_sdf_loss_of_an_absent_class_under_both_fills():
    t = torch.zeros(1, 1, 4, 4, dtype=torch.long)  # class 1 absent: g = 0 (default) or 1
    s = torch.zeros(1, 1, 4, 4, dtype=torch.float64)
    eps = 1e-5
    # s = 0: product term -eps / (G + eps), L1 = mean|g|
    assert signed_distance_loss(s, t).item() == pytest.approx(-1.0)  # G = 0: -eps / eps
    assert signed_distance_loss(s, t, empty="diagonal").item() == pytest.approx(1 - eps / (16 + eps))
    assert SignedDistanceLoss(empty="diagonal")(s, t).item() == pytest.approx(1 - eps / (16 + eps))


def test_compound_map_units_voxel_ignores_the_spacing():
    """A spacing-2 image: the voxel maps are the physical maps / 2, so is the boundary term."""
    probs, t = _case()
    terms = {"boundary": BoundaryLoss(include_background=False, softmax=False)}
    physical = CompoundLoss(terms)(probs, t, spacing=(2.0, 2.0))
    voxel = CompoundLoss(terms, map_units="voxel")(probs, t, spacing=(2.0, 2.0))
    assert physical.item() == pytest.approx(0.1)  # (2 * 0.1 + 0) / 2
    assert voxel.item() == pytest.approx(0.05)
    torch.testing.assert_close(voxel, physical / 2)
    # voxel is the map of no spacing, whatever the per-sample spacing passed
    per_sample = torch.tensor([[2.0, 2.0], [0.5, 3.0]])
    torch.testing.assert_close(CompoundLoss(terms, map_units="voxel")(probs, t, spacing=per_sample),
                               boundary_loss(probs, t, softmax=False, include_background=False))
    # a regional term is unaffected
    dice = {"dice": DiceLoss(softmax=False)}
    torch.testing.assert_close(CompoundLoss(dice, map_units="voxel")(probs, t, spacing=2.0),
                               CompoundLoss(dice)(probs, t, spacing=2.0))


def test_map_units_from_config_and_bad_values():
    cfg = {"terms": [{"name": "boundary", "args": {"include_background": False, "softmax": False}}]}
    assert loss_from_config(cfg).map_units == "physical"  # the Python API: the spacing you pass
    voxel = loss_from_config({**cfg, "map_units": "voxel"})
    probs, t = _case()
    assert voxel(probs, t, spacing=2.0).item() == pytest.approx(0.05)
    with pytest.raises(ValueError, match=r"expected map_units in \('physical', 'voxel'\), got 'mm'"):
        loss_from_config({**cfg, "map_units": "mm"})
    with pytest.raises(ValueError, match=r"expected map_units in \('physical', 'voxel'\), got 'pixel'"):
        CompoundLoss({"dice": DiceLoss()}, map_units="pixel")  # type: ignore[arg-type]


def test_shared_maps_of_one_call_keep_each_terms_fill():
    """Two boundary terms of one CompoundLoss share the transforms, not the absent-class fill."""
    probs, t = _case()
    kw = {"include_background": False, "softmax": False}
    both = CompoundLoss({"zero": BoundaryLoss(**kw), "diagonal": BoundaryLoss(empty="diagonal", **kw)})
    both(probs, t)
    assert both.last_terms["zero"].item() == pytest.approx(0.05)
    assert both.last_terms["diagonal"].item() == pytest.approx((0.1 + 0.2 * SQRT26) / 2)


def test_docs_conventions_example_runs():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "losses.md").read_text()
    section = doc.split("## Map conventions", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1
    exec(compile(blocks[0], "docs/losses.md", "exec"), {})
