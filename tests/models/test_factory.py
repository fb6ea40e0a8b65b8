"""build_model (``edgewise.models.factory``): every model by name, output shapes and gradients,
errors. Each network's own sizes and behaviour: test_unet.py, test_enet.py."""

from __future__ import annotations

import pytest
import torch

from edgewise.models import ENet, UNet, build_model


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


def test_build_model_errors():
    with pytest.raises(ValueError, match="expected model name"):
        build_model("resnet", in_channels=1, out_channels=2)
    with pytest.raises(ValueError, match="2D only"):
        build_model("enet", in_channels=1, out_channels=2, spatial_dims=3)
    with pytest.raises(ValueError, match="spatial_dims"):
        UNet(1, 2, spatial_dims=1)
    with pytest.raises(ValueError, match="more channels"):
        ENet(16, 2)
