"""Loss parameters outside their meaning (#25, second round): each was a silently wrong loss
(negative weights turn a term's errors into rewards), now a ValueError naming it."""

from __future__ import annotations

import pytest
import torch

from edgewise.losses import BoundaryLoss, CompoundLoss, DiceLoss, FocalLoss, TverskyLoss

X = torch.randn(2, 2, 8, 8, generator=torch.Generator().manual_seed(0))
Y = (torch.arange(64).view(8, 8) % 3 == 0).long().expand(2, 8, 8)


@pytest.mark.parametrize("kwargs", [dict(alpha=1.5), dict(alpha=-0.5), dict(alpha=1.5, sigmoid=True)])
def test_focal_alpha_outside_zero_one_is_refused(kwargs):
    """1.5 gave the background the weight 1 - 1.5 < 0: the loss rewarded its errors."""
    x = X[:, :1] if kwargs.get("sigmoid") else X
    y = Y[:, None] if kwargs.get("sigmoid") else Y
    with pytest.raises(ValueError, match=r"expected a float alpha in \[0, 1\]"):
        FocalLoss(**kwargs)(x, y)


def test_focal_alpha_per_class_must_be_non_negative():
    with pytest.raises(ValueError, match=r"one finite weight >= 0 per class, got \[1.0, -1.0\]"):
        FocalLoss(alpha=[1.0, -1.0])(X, Y)
    assert FocalLoss(alpha=[0.3, 0.7])(X, Y) > 0  # still accepted, as are floats in [0, 1]
    assert FocalLoss(alpha=0.25)(X, Y) > 0


@pytest.mark.parametrize(("alpha", "beta", "name"), [(-1.0, 0.5, "alpha"), (0.5, -1.0, "beta"),
                                                     (float("nan"), 0.5, "alpha")])
def test_tversky_weights_below_zero_are_refused(alpha, beta, name):
    """alpha = beta = -1 gave a loss of 2.27, outside [0, 1]."""
    with pytest.raises(ValueError, match=rf"expected {name} to be a finite number >= 0"):
        TverskyLoss(alpha=alpha, beta=beta)(X, Y)


def test_a_negative_term_weight_is_refused():
    """A weight of -1 trained the network to make its term worse, silently."""
    with pytest.raises(ValueError, match=r"expected term weights >= 0, got \[1.0, -1.0\] at epoch 0"):
        CompoundLoss({"dice": DiceLoss(), "bl": BoundaryLoss()}, weights=[1.0, -1.0])
    assert CompoundLoss({"dice": DiceLoss(), "bl": BoundaryLoss()}, weights=[1.0, 0.0])(X, Y) > 0


def test_a_spacing_whose_distances_overflow_is_refused():
    """spacing=(1e30, 1e30) gave a nan loss: the maps' squared distances overflowed float32."""
    with pytest.raises(ValueError, match=r"expected a spacing that keeps distances in float32, got "
                                         r"\[\[1e\+30, 1e\+30\]\]"):
        BoundaryLoss()(X, Y, spacing=(1e30, 1e30))
    assert torch.isfinite(BoundaryLoss()(X, Y, spacing=(1e6, 1e6)))
