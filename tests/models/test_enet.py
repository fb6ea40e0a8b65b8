"""ENet (``edgewise.models.enet``): the paper's parameter count, determinism in eval mode, sizes
that must divide by 8 or be padded."""

from __future__ import annotations

import pytest
import torch

from edgewise.models import ENet

from ._helpers import _params


def test_parameter_counts():
    # ENet paper: 0.37M parameters
    assert 0.33e6 < _params(ENet(3, 12)) < 0.40e6


def test_eval_mode_is_deterministic():
    torch.manual_seed(0)
    net = ENet(1, 2, channels=(8, 16, 32))
    net.eval()
    x = torch.randn(2, 1, 16, 16)
    with torch.no_grad():
        assert torch.equal(net(x), net(x))


def test_bad_sizes_raise_or_pad():
    with pytest.raises(ValueError, match="divisible by 8"):
        ENet(1, 2, channels=(8, 16, 32))(torch.zeros(1, 1, 16, 12))
    assert ENet(1, 2, channels=(8, 16, 32), pad=True).eval()(torch.zeros(1, 1, 21, 13)).shape == (1, 2, 21, 13)
