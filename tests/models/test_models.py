"""UNet / ENet / build_model: shapes, sizes, gradients, determinism, errors."""

from __future__ import annotations

import pytest
import torch

from edgewise.models import ENet, UNet, build_model


def _params(m):
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize(
    "name, kw, shape, out",
    [
        ("unet", dict(base_channels=8, depth=2), (2, 1, 16, 24), 3),
        ("unet", dict(base_channels=4, depth=2, spatial_dims=3, norm="instance"), (1, 2, 8, 8, 12), 4),
        ("unet", dict(base_channels=8, depth=3, residual=True, upsample="interp", norm="group"), (1, 3, 16, 16), 2),
        ("enet", dict(channels=(8, 16, 32)), (2, 1, 32, 24), 4),
        ("monai_unet", dict(base_channels=4, depth=2), (1, 1, 16, 16), 2),
    ],
)
def test_output_shape_and_gradient(name, kw, shape, out):
    kw = dict(kw)
    nd = kw.pop("spatial_dims", 2)
    net = build_model(name, in_channels=shape[1], out_channels=out, spatial_dims=nd, **kw)
    x = torch.randn(*shape, requires_grad=True)
    y = net(x)
    assert y.shape == (shape[0], out, *shape[2:])
    y.square().mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters() if p.requires_grad)


def test_parameter_counts():
    # classic UNet (64 base, 4 poolings, 1024 at the bottom): ~31M parameters
    assert 30e6 < _params(UNet(1, 2, base_channels=64, depth=4)) < 32e6
    # ENet paper: 0.37M parameters
    assert 0.33e6 < _params(ENet(3, 12)) < 0.40e6
    small = _params(UNet(1, 2, spatial_dims=3, base_channels=8, depth=3))
    assert 0.2e6 < small < 1.5e6


def test_eval_mode_is_deterministic():
    torch.manual_seed(0)
    for net in (UNet(1, 2, base_channels=4, depth=2, dropout=0.5), ENet(1, 2, channels=(8, 16, 32))):
        net.eval()
        x = torch.randn(2, 1, 16, 16)
        with torch.no_grad():
            assert torch.equal(net(x), net(x))


def test_bad_sizes_raise_or_pad():
    with pytest.raises(ValueError, match="divisible by 8"):
        UNet(1, 2, base_channels=4, depth=3)(torch.zeros(1, 1, 20, 16))
    with pytest.raises(ValueError, match="divisible by 8"):
        ENet(1, 2, channels=(8, 16, 32))(torch.zeros(1, 1, 16, 12))
    with pytest.raises(ValueError, match="spatial dims"):
        UNet(1, 2, base_channels=4, depth=2)(torch.zeros(1, 1, 8, 8, 8))
    padded = UNet(1, 2, base_channels=4, depth=3, pad=True)
    assert padded(torch.zeros(1, 1, 21, 13)).shape == (1, 2, 21, 13)
    assert ENet(1, 2, channels=(8, 16, 32), pad=True).eval()(torch.zeros(1, 1, 21, 13)).shape == (1, 2, 21, 13)


def test_pad_is_zero_padding_at_the_end_then_crop():
    torch.manual_seed(0)
    padded = UNet(1, 2, base_channels=4, depth=2, pad=True).eval()
    plain = UNet(1, 2, base_channels=4, depth=2).eval()
    plain.load_state_dict(padded.state_dict())
    x = torch.randn(1, 1, 13, 10)
    ref = plain(torch.nn.functional.pad(x, (0, 2, 0, 3)))[..., :13, :10]
    torch.testing.assert_close(padded(x), ref)


def test_build_model_errors():
    with pytest.raises(ValueError, match="expected model name"):
        build_model("resnet", in_channels=1, out_channels=2)
    with pytest.raises(ValueError, match="2D only"):
        build_model("enet", in_channels=1, out_channels=2, spatial_dims=3)
    with pytest.raises(ValueError, match="spatial_dims"):
        UNet(1, 2, spatial_dims=1)
    with pytest.raises(ValueError, match="more channels"):
        ENet(16, 2)
