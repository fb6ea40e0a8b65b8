"""ENet (Paszke et al., "ENet: A Deep Neural Network Architecture for Real-Time Semantic
Segmentation", arXiv:1606.02147, 2016), the network of the boundary-loss ACDC runs.

Layout (Table 1 of the paper, default channels ``(16, 64, 128)``):

* initial block: 3x3 stride-2 conv (``c0 - in_channels`` filters) concatenated with a
  2x2 max-pool of the input -> ``c0`` channels at 1/2;
* stage 1: down-sampling bottleneck to ``c1`` (1/4) + 4 regular bottlenecks;
* stage 2: down-sampling bottleneck to ``c2`` (1/8), then regular, dilated 2,
  asymmetric 5, dilated 4, regular, dilated 8, asymmetric 5, dilated 16;
* stage 3: stage 2 without the down-sampling;
* stage 4: up-sampling bottleneck to ``c1`` (max-unpooling with stage 2's indices) + 2
  regular; stage 5: up-sampling to ``c0`` + 1 regular;
* full-resolution transposed conv to the classes.

Bottlenecks: 1x1 projection (2x2 stride 2 when down-sampling) to ``channels //
projection_ratio``, the main conv (3x3, dilated 3x3, or 5x1 then 1x5), 1x1 expansion,
spatial dropout, added to the shortcut (max-pool + zero channel padding when
down-sampling); BatchNorm + PReLU after each conv.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from edgewise.models.unet import check_divisible

__all__ = ["ENet"]


def _bn_prelu(ch: int) -> list[nn.Module]:
    return [nn.BatchNorm2d(ch), nn.PReLU(ch)]


class _Initial(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        if cout <= cin:
            raise ValueError(f"ENet's first stage needs more channels ({cout}) than the input has ({cin})")
        self.conv = nn.Conv2d(cin, cout - cin, 3, stride=2, padding=1, bias=False)
        self.pool = nn.MaxPool2d(2)
        self.post = nn.Sequential(*_bn_prelu(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.post(torch.cat([self.conv(x), self.pool(x)], dim=1))


class _Bottleneck(nn.Module):
    """Regular, dilated, asymmetric or down-sampling bottleneck."""

    def __init__(
        self,
        cin: int,
        cout: int,
        *,
        ratio: int,
        dropout: float,
        dilation: int = 1,
        asymmetric: bool = False,
        downsample: bool = False,
    ) -> None:
        super().__init__()
        mid = max(cin // ratio, 1)
        self.downsample = downsample
        self.cin, self.cout = cin, cout
        if downsample:
            proj = nn.Conv2d(cin, mid, 2, stride=2, bias=False)
        else:
            proj = nn.Conv2d(cin, mid, 1, bias=False)
        if asymmetric:
            main: list[nn.Module] = [
                nn.Conv2d(mid, mid, (5, 1), padding=(2, 0), bias=False),
                nn.Conv2d(mid, mid, (1, 5), padding=(0, 2), bias=False),
            ]
        else:
            main = [nn.Conv2d(mid, mid, 3, padding=dilation, dilation=dilation, bias=False)]
        self.branch = nn.Sequential(
            proj,
            *_bn_prelu(mid),
            *main,
            *_bn_prelu(mid),
            nn.Conv2d(mid, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
            nn.Dropout2d(dropout) if dropout > 0 else nn.Identity(),
        )
        self.act = nn.PReLU(cout)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        indices = None
        shortcut = x
        if self.downsample:
            shortcut, indices = F.max_pool2d(x, 2, return_indices=True)
        if self.cout != self.cin:
            shortcut = F.pad(shortcut, (0, 0, 0, 0, 0, self.cout - self.cin))
        return self.act(shortcut + self.branch(x)), indices


class _Upsampling(nn.Module):
    def __init__(self, cin: int, cout: int, *, ratio: int, dropout: float) -> None:
        super().__init__()
        mid = max(cin // ratio, 1)
        self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.branch = nn.Sequential(
            nn.Conv2d(cin, mid, 1, bias=False),
            *_bn_prelu(mid),
            nn.ConvTranspose2d(mid, mid, 3, stride=2, padding=1, output_padding=1, bias=False),
            *_bn_prelu(mid),
            nn.Conv2d(mid, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
            nn.Dropout2d(dropout) if dropout > 0 else nn.Identity(),
        )
        self.act = nn.PReLU(cout)

    def forward(self, x: torch.Tensor, indices: torch.Tensor, size: torch.Size) -> torch.Tensor:
        main = F.max_unpool2d(self.shortcut(x), indices, (2, 2), output_size=size)
        return self.act(main + self.branch(x))


class ENet(nn.Module):
    """ENet for 2D segmentation; returns raw logits at the input's size.

    Args:
        in_channels: image channels (must be below ``channels[0]``).
        out_channels: classes.
        channels: ``(c0, c1, c2)`` widths of the initial block, stage 1 and stages 2-3
            (paper: ``(16, 64, 128)``).
        projection_ratio: bottleneck reduction (paper: 4).
        dropout: ``(stage 1, stages 2-5)`` spatial dropout (paper: ``(0.01, 0.1)``).
        pad: pad inputs to a multiple of 8 instead of raising.

    Shape:
        - Input: ``(B, in_channels, H, W)`` with ``H`` and ``W`` divisible by 8.
        - Output: ``(B, out_channels, H, W)``

    Example:
        >>> net = ENet(1, 4)
        >>> net.eval()(torch.zeros(1, 1, 64, 64)).shape
        torch.Size([1, 4, 64, 64])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        channels: Sequence[int] = (16, 64, 128),
        projection_ratio: int = 4,
        dropout: Sequence[float] = (0.01, 0.1),
        pad: bool = False,
    ) -> None:
        super().__init__()
        if len(channels) != 3:
            raise ValueError(f"expected channels (c0, c1, c2), got {tuple(channels)}")
        if len(dropout) != 2:
            raise ValueError(f"expected dropout (stage1, stages2to5), got {tuple(dropout)}")
        c0, c1, c2 = (int(c) for c in channels)
        p1, p2 = (float(p) for p in dropout)
        r = int(projection_ratio)
        self.pad = pad
        self.initial = _Initial(in_channels, c0)
        self.down1 = _Bottleneck(c0, c1, ratio=r, dropout=p1, downsample=True)
        self.stage1 = nn.ModuleList(_Bottleneck(c1, c1, ratio=r, dropout=p1) for _ in range(4))
        self.down2 = _Bottleneck(c1, c2, ratio=r, dropout=p2, downsample=True)

        def stage() -> nn.ModuleList:
            spec = [(1, False), (2, False), (1, True), (4, False), (1, False), (8, False), (1, True), (16, False)]
            return nn.ModuleList(
                _Bottleneck(c2, c2, ratio=r, dropout=p2, dilation=d, asymmetric=a) for d, a in spec
            )

        self.stage2 = stage()
        self.stage3 = stage()
        self.up4 = _Upsampling(c2, c1, ratio=r, dropout=p2)
        self.stage4 = nn.ModuleList(_Bottleneck(c1, c1, ratio=r, dropout=p2) for _ in range(2))
        self.up5 = _Upsampling(c1, c0, ratio=r, dropout=p2)
        self.stage5 = _Bottleneck(c0, c0, ratio=r, dropout=p2)
        self.head = nn.ConvTranspose2d(c0, out_channels, 2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4:
            raise ValueError(f"expected input of shape (B, C, H, W), got {tuple(x.shape)}")
        spatial = tuple(x.shape[2:])
        if self.pad:
            x = F.pad(x, (0, (-spatial[1]) % 8, 0, (-spatial[0]) % 8))
        else:
            check_divisible(spatial, 8, "ENet")
        x = self.initial(x)
        size1 = x.shape
        x, idx1 = self.down1(x)
        for b in self.stage1:
            x, _ = b(x)
        size2 = x.shape
        x, idx2 = self.down2(x)
        for b in [*self.stage2, *self.stage3]:
            x, _ = b(x)
        x = self.up4(x, idx2, size2)
        for b in self.stage4:
            x, _ = b(x)
        x = self.up5(x, idx1, size1)
        x, _ = self.stage5(x)
        x = self.head(x)
        if self.pad:
            x = x[..., : spatial[0], : spatial[1]]
        return x
