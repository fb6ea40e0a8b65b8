"""Empty inputs and non-finite weights give one clear ValueError, never nan, 0 or a crash.

Parametrised over the loss registry, so a loss added to ``LOSSES`` is covered here too.
"""

from __future__ import annotations

import math

import pytest
import torch

from edgewise.losses import (
    LOSSES,
    CompoundLoss,
    CrossEntropyLoss,
    DiceLoss,
    FromCallable,
    build_loss,
    loss_from_config,
)

NAMES = sorted(LOSSES)


def _index(b: int, *spatial: int) -> torch.Tensor:
    t = torch.zeros(b, 1, *spatial, dtype=torch.long)
    if t.numel():
        t[..., 1:3, 1:3] = 1
    return t


# (input shape, index-target shape, what the message names)
EMPTY = [
    ((0, 3, 16, 16), (0, 16, 16), "batch"),
    ((0, 2, 6, 7, 8), (0, 6, 7, 8), "batch"),
    ((2, 3, 0, 16), (2, 0, 16), "spatial axis 0"),
    ((2, 3, 16, 0), (2, 16, 0), "spatial axis 1"),
]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(("shape", "tshape", "axis"), EMPTY)
def test_empty_input_raises_value_error(name, shape, tshape, axis):
    x = torch.randn(*shape, requires_grad=True)
    t = _index(tshape[0], *tshape[1:])
    loss = build_loss(name)
    msg = rf"at least one element along every axis, got shape \({shape[0]}, .*size 0 along: {axis}"
    with pytest.raises(ValueError, match=msg):
        loss(x, t)
    # one-hot targets and per-sample spacing are refused the same way
    onehot = torch.zeros(shape)
    with pytest.raises(ValueError, match=msg):
        loss(x, onehot, spacing=(1.0,) * (len(shape) - 2))


@pytest.mark.parametrize("name", NAMES)
def test_batch_of_one_still_works(name):
    # the boundary case next to the refused one: B = 1 gives a finite value
    x, t = torch.randn(1, 3, 8, 8), _index(1, 8, 8)
    assert torch.isfinite(build_loss(name)(x, t))


@pytest.mark.parametrize("weights", [[1.0, 0.0], [0.0, 0.0]])
def test_compound_loss_empty_batch(weights):
    # with weight 0 no term runs, so CompoundLoss itself must refuse the empty batch
    loss = CompoundLoss({"ce": CrossEntropyLoss(), "dice": DiceLoss()}, weights=weights)
    with pytest.raises(ValueError, match="size 0 along: batch"):
        loss(torch.randn(0, 3, 16, 16), _index(0, 16, 16))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_compound_loss_rejects_non_finite_weights(bad):
    terms = {"ce": CrossEntropyLoss(), "dice": DiceLoss()}
    with pytest.raises(ValueError, match=r"expected finite term weights, got \[1.0, (nan|inf|-inf)\]"):
        CompoundLoss(terms, weights=[1.0, bad])
    with pytest.raises(ValueError, match="expected finite term weights"):
        loss_from_config({"terms": [{"name": "ce"}, {"name": "dice", "weight": bad}]})


def test_compound_loss_rejects_a_schedule_turning_non_finite():
    # a schedule may be fine at first: the weights are checked at every epoch they are used
    loss = CompoundLoss({"ce": CrossEntropyLoss(), "dice": DiceLoss()},
                        schedule=FromCallable(lambda e: [1.0, math.inf if e else 1.0]))
    x, t = torch.randn(2, 3, 8, 8), _index(2, 8, 8)
    assert torch.isfinite(loss(x, t))
    loss.step()
    with pytest.raises(ValueError, match=r"got \[1.0, inf\] at epoch 1"):
        loss(x, t)
