"""Classic UNet (Ronneberger et al., MICCAI 2015), 2D or 3D.

Chosen over ``monai.networks.nets.UNet`` as the default because it is the architecture
of the boundary-loss papers (double 3x3 conv + norm + ReLU per level, max-pool down,
transposed conv up, skip concatenation) and is faster on CPU at equal width (no
strided-conv residual units). MONAI's UNet is available as ``build_model("monai_unet")``.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["UNet", "check_divisible"]

Norm = Literal["batch", "instance", "group", "none"]


def _conv(nd: int):
    return nn.Conv2d if nd == 2 else nn.Conv3d


def _norm(nd: int, kind: Norm, ch: int) -> nn.Module:
    if kind == "batch":
        return (nn.BatchNorm2d if nd == 2 else nn.BatchNorm3d)(ch)
    if kind == "instance":
        return (nn.InstanceNorm2d if nd == 2 else nn.InstanceNorm3d)(ch, affine=True)
    if kind == "group":
        return nn.GroupNorm(min(8, ch), ch)
    return nn.Identity()


class _Block(nn.Module):
    """Two (conv 3 + norm + ReLU); optionally residual (1x1 projection shortcut)."""

    def __init__(self, nd: int, cin: int, cout: int, norm: Norm, residual: bool, dropout: float) -> None:
        super().__init__()
        conv = _conv(nd)
        bias = norm == "none"
        self.body = nn.Sequential(
            conv(cin, cout, 3, padding=1, bias=bias),
            _norm(nd, norm, cout),
            nn.ReLU(inplace=True),
            (nn.Dropout2d if nd == 2 else nn.Dropout3d)(dropout) if dropout > 0 else nn.Identity(),
            conv(cout, cout, 3, padding=1, bias=bias),
            _norm(nd, norm, cout),
        )
        self.skip = (conv(cin, cout, 1, bias=False) if cin != cout else nn.Identity()) if residual else None
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        if self.skip is not None:
            y = y + self.skip(x)
        return self.act(y)


def check_divisible(shape: tuple[int, ...], factor: int, model: str) -> None:
    bad = [s for s in shape if s % factor]
    if bad:
        raise ValueError(
            f"{model} expects spatial sizes divisible by {factor}, got {tuple(shape)}; "
            f"resize/crop the input or build the model with pad=True"
        )


class UNet(nn.Module):
    """UNet for 2D or 3D segmentation; returns raw logits.

    Level ``i`` has ``min(base_channels * 2**i, max_channels)`` channels, ``depth`` max-pool
    steps; the output has the input's spatial size. Inputs must have every spatial size
    divisible by ``2**depth``; with ``pad=True`` other sizes are zero-padded at the end
    of each axis and the logits cropped back.

    Args:
        in_channels: image channels.
        out_channels: classes (logit channels).
        spatial_dims: 2 or 3.
        base_channels: channels of the first level (64 in the boundary-loss papers).
        depth: number of down-sampling steps.
        max_channels: cap on the channels per level.
        norm: ``"batch"``, ``"instance"``, ``"group"`` or ``"none"``.
        residual: residual double-conv blocks.
        upsample: ``"transpose"`` (transposed conv) or ``"interp"`` ((bi/tri)linear +
            1x1 conv).
        dropout: dropout inside blocks (0: none).
        pad: pad inputs to a multiple of ``2**depth`` instead of raising.

    Shape:
        - Input: ``(B, in_channels, *spatial)``
        - Output: ``(B, out_channels, *spatial)``

    Example:
        >>> net = UNet(1, 3, spatial_dims=2, base_channels=8, depth=2)
        >>> net(torch.zeros(2, 1, 32, 32)).shape
        torch.Size([2, 3, 32, 32])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        spatial_dims: int = 2,
        *,
        base_channels: int = 32,
        depth: int = 4,
        max_channels: int = 1024,
        norm: Norm = "batch",
        residual: bool = False,
        upsample: Literal["transpose", "interp"] = "transpose",
        dropout: float = 0.0,
        pad: bool = False,
    ) -> None:
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"expected spatial_dims 2 or 3, got {spatial_dims}")
        if depth < 1 or base_channels < 1 or in_channels < 1 or out_channels < 1:
            raise ValueError(
                f"expected positive depth/base_channels/in_channels/out_channels, got "
                f"{depth}/{base_channels}/{in_channels}/{out_channels}"
            )
        if norm not in ("batch", "instance", "group", "none"):
            raise ValueError(f"expected norm in ('batch', 'instance', 'group', 'none'), got {norm!r}")
        if upsample not in ("transpose", "interp"):
            raise ValueError(f"expected upsample in ('transpose', 'interp'), got {upsample!r}")
        nd = spatial_dims
        self.spatial_dims = nd
        self.depth = depth
        self.pad = pad
        chans = [min(base_channels * 2**i, max_channels) for i in range(depth + 1)]
        self.down = nn.ModuleList()
        cin = in_channels
        for c in chans:
            self.down.append(_Block(nd, cin, c, norm, residual, dropout))
            cin = c
        self.pool = (nn.MaxPool2d if nd == 2 else nn.MaxPool3d)(2)
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        for i in range(depth - 1, -1, -1):
            if upsample == "transpose":
                tconv = nn.ConvTranspose2d if nd == 2 else nn.ConvTranspose3d
                self.up.append(tconv(chans[i + 1], chans[i], 2, stride=2))
            else:
                self.up.append(
                    nn.Sequential(
                        nn.Upsample(scale_factor=2, mode="bilinear" if nd == 2 else "trilinear", align_corners=False),
                        _conv(nd)(chans[i + 1], chans[i], 1),
                    )
                )
            self.dec.append(_Block(nd, 2 * chans[i], chans[i], norm, residual, dropout))
        self.head = _conv(nd)(chans[0], out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != self.spatial_dims + 2:
            raise ValueError(
                f"expected input of shape (B, C, *spatial) with {self.spatial_dims} spatial dims, got {tuple(x.shape)}"
            )
        spatial = tuple(x.shape[2:])
        f = 2**self.depth
        if self.pad:
            pads: list[int] = []
            for s in reversed(spatial):
                pads += [0, (-s) % f]
            x = F.pad(x, pads)
        else:
            check_divisible(spatial, f, f"UNet(depth={self.depth})")
        skips = []
        for i, block in enumerate(self.down):
            x = block(x)
            if i < self.depth:
                skips.append(x)
                x = self.pool(x)
        for up, dec in zip(self.up, self.dec):
            x = dec(torch.cat([skips.pop(), up(x)], dim=1))
        x = self.head(x)
        if self.pad:
            x = x[(slice(None), slice(None)) + tuple(slice(0, s) for s in spatial)]
        return x
