"""UNet (``edgewise.models.unet``): parameter counts, determinism in eval mode, sizes that must
divide or be padded, padding as zero padding at the end then a crop."""

from __future__ import annotations

import pytest
import torch

from edgewise.models import UNet

from ._helpers import _params


def test_parameter_counts():
    # classic UNet (64 base, 4 poolings, 1024 at the bottom): ~31M parameters
    assert 30e6 < _params(UNet(1, 2, base_channels=64, depth=4)) < 32e6
    small = _params(UNet(1, 2, spatial_dims=3, base_channels=8, depth=3))
    assert 0.2e6 < small < 1.5e6


def test_eval_mode_is_deterministic():
    torch.manual_seed(0)
    net = UNet(1, 2, base_channels=4, depth=2, dropout=0.5)
    net.eval()
    x = torch.randn(2, 1, 16, 16)
    with torch.no_grad():
        assert torch.equal(net(x), net(x))


def test_bad_sizes_raise_or_pad():
    with pytest.raises(ValueError, match="divisible by 8"):
        UNet(1, 2, base_channels=4, depth=3)(torch.zeros(1, 1, 20, 16))
    with pytest.raises(ValueError, match="spatial dims"):
        UNet(1, 2, base_channels=4, depth=2)(torch.zeros(1, 1, 8, 8, 8))
    padded = UNet(1, 2, base_channels=4, depth=3, pad=True)
    assert padded(torch.zeros(1, 1, 21, 13)).shape == (1, 2, 21, 13)


def test_pad_is_zero_padding_at_the_end_then_crop():
    torch.manual_seed(0)
    padded = UNet(1, 2, base_channels=4, depth=2, pad=True).eval()
    plain = UNet(1, 2, base_channels=4, depth=2).eval()
    plain.load_state_dict(padded.state_dict())
    x = torch.randn(1, 1, 13, 10)
    ref = plain(torch.nn.functional.pad(x, (0, 2, 0, 3)))[..., :13, :10]
    torch.testing.assert_close(padded(x), ref)
