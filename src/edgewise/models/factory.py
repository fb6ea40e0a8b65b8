"""``build_model``: one entry point for configs (``model: {name: unet, base_channels: 32}``)."""

from __future__ import annotations

from typing import Any

from torch import nn

__all__ = ["build_model", "MODEL_NAMES"]

MODEL_NAMES = ("unet", "enet", "monai_unet")


def build_model(name: str, *, in_channels: int, out_channels: int, spatial_dims: int = 2, **kwargs: Any) -> nn.Module:
    """Build a segmentation network that returns logits ``(B, out_channels, *spatial)``.

    Args:
        name: ``"unet"`` (:class:`~edgewise.models.UNet`: ``base_channels=32``,
            ``depth=4``, ``max_channels=1024``, ``norm="batch"``, ``residual=False``,
            ``upsample="transpose"``, ``dropout=0.0``, ``pad=False``), ``"enet"``
            (:class:`~edgewise.models.ENet`, 2D only: ``channels=(16, 64, 128)``,
            ``projection_ratio=4``, ``dropout=(0.01, 0.1)``, ``pad=False``) or
            ``"monai_unet"`` (``monai.networks.nets.UNet`` with channels
            ``base_channels * 2**i`` for ``i <= depth``, strides 2, ``num_res_units=2``;
            other keyword arguments go to MONAI).
        in_channels: image channels.
        out_channels: classes.
        spatial_dims: 2 or 3.

    Example:
        >>> import torch
        >>> net = build_model("unet", in_channels=1, out_channels=2, base_channels=8, depth=2)
        >>> net(torch.zeros(1, 1, 16, 16)).shape
        torch.Size([1, 2, 16, 16])
    """
    key = name.lower()
    if key == "unet":
        from edgewise.models.unet import UNet

        _check_kwargs(UNet, key, kwargs)
        return UNet(in_channels, out_channels, spatial_dims, **kwargs)
    if key == "enet":
        from edgewise.models.enet import ENet

        if spatial_dims != 2:
            raise ValueError(f"ENet is 2D only, got spatial_dims={spatial_dims}")
        _check_kwargs(ENet, key, kwargs)
        return ENet(in_channels, out_channels, **kwargs)
    if key == "monai_unet":
        from monai.networks.nets import UNet as MonaiUNet

        base = int(kwargs.pop("base_channels", 32))
        depth = int(kwargs.pop("depth", 4))
        kwargs.setdefault("num_res_units", 2)
        return MonaiUNet(
            spatial_dims=spatial_dims,
            in_channels=in_channels,
            out_channels=out_channels,
            channels=tuple(base * 2**i for i in range(depth + 1)),
            strides=(2,) * depth,
            **kwargs,
        )
    raise ValueError(f"expected model name in {MODEL_NAMES}, got {name!r}")


def _check_kwargs(cls: type, name: str, kwargs: dict[str, Any]) -> None:
    """Name an unknown argument (model.args) rather than let ``__init__``'s TypeError do it."""
    import inspect

    fixed = {"self", "in_channels", "out_channels", "spatial_dims"}
    accepted = [n for n in inspect.signature(cls).parameters if n not in fixed]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ValueError(f"unknown argument(s) {unknown} for model {name!r} (model.args); "
                         f"expected some of {accepted}")
