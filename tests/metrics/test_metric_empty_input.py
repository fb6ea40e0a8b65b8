"""Metrics refuse empty inputs (batch size 0, a zero-size spatial axis) with one ValueError.

Before, batch 0 gave a silently empty ``(0, C)`` result and a zero-size spatial axis a
Dice of 1 and a Hausdorff distance of 0. Parametrised over ``METRIC_NAMES`` and over every
function in ``edgewise.metrics.__all__`` taking ``(pred, target)``, so new metrics are covered.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

import edgewise.metrics as metrics
from edgewise.metrics import METRIC_NAMES, SegmentationMetrics

FUNCTIONS = sorted(
    name for name in metrics.__all__
    if inspect.isfunction(getattr(metrics, name))
    and list(inspect.signature(getattr(metrics, name)).parameters)[:2] == ["pred", "target"]
)

EMPTY = [((0, 2, 8, 8), "batch"), ((0, 2, 4, 5, 6), "batch"), ((2, 2, 0, 8), "spatial axis 0"),
         ((2, 2, 8, 0), "spatial axis 1"), ((2, 0, 8, 8), "channel")]


def _call(name: str, p, t):
    fn = getattr(metrics, name)
    # required arguments besides pred and target (NSD and boundary F1: the tolerance)
    extra = {n: 1.0 for n, par in inspect.signature(fn).parameters.items()
             if n not in ("pred", "target") and par.default is inspect.Parameter.empty}
    return fn(p, t, **extra)


def test_functions_found():
    assert {"dice", "iou", "hausdorff_distance", "average_surface_distance", "surface_dice",
            "boundary_f1", "perimeter_error", "surface_distances"} <= set(FUNCTIONS)


@pytest.mark.parametrize("name", FUNCTIONS)
@pytest.mark.parametrize(("shape", "axis"), EMPTY)
@pytest.mark.parametrize("as_numpy", [False, True])
def test_function_empty_input(name, shape, axis, as_numpy):
    p = np.zeros(shape, dtype=bool) if as_numpy else torch.zeros(shape, dtype=torch.bool)
    with pytest.raises(ValueError, match=rf"pred and target with at least one element along every "
                                         rf"axis, .*size 0 along: {axis}\)"):
        _call(name, p, p)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_function_single_sample_still_works(name):
    p = torch.zeros(1, 2, 6, 6, dtype=torch.bool)
    p[:, 0], p[:, 1, 2:4, 2:4] = True, True
    p[:, 0, 2:4, 2:4] = False
    assert _call(name, p, p) is not None


@pytest.mark.parametrize("name", METRIC_NAMES)
def test_collection_empty_batch(name):
    m = SegmentationMetrics((name,), num_classes=3)
    labels = torch.zeros(0, 1, 8, 8, dtype=torch.long)
    with pytest.raises(ValueError, match="size 0 along: batch"):
        m.update(labels, labels, case_ids=[])
    assert m.case_ids == []  # nothing was stored
