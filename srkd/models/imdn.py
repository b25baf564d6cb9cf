"""IMDN (Hui et al., ACM MM 2019): information multi-distillation blocks, with the official key layout.

Keys as in the official release: ``fea_conv``, ``IMDB1..n.{c1..c5, cca.conv_du}``, ``c.0``, ``LR_conv``,
``upsampler.0``. The released network runs on [0, 1] input without a mean shift.
"""
from __future__ import annotations

import torch
from torch import nn

from srkd.models.base import DistillationNet


def conv(c_in: int, c_out: int, k: int = 3) -> nn.Conv2d:
    """A same-padded convolution with bias (the official ``conv_layer``)."""
    return nn.Conv2d(c_in, c_out, k, padding=(k - 1) // 2)


def std_per_channel(x: torch.Tensor) -> torch.Tensor:
    """Population standard deviation over H and W, shape N x C x 1 x 1 (the "contrast" of CCA)."""
    mean = x.mean(dim=(2, 3), keepdim=True)
    return (x - mean).pow(2).mean(dim=(2, 3), keepdim=True).sqrt()


class CCALayer(nn.Module):
    """Contrast-aware channel attention: (std + mean) -> 1x1 squeeze/excite -> sigmoid gate."""

    def __init__(self, channels: int, *, reduction: int = 16) -> None:
        super().__init__()
        squeezed = max(1, channels // reduction)
        self.conv_du = nn.Sequential(
            nn.Conv2d(channels, squeezed, 1), nn.ReLU(inplace=True), nn.Conv2d(squeezed, channels, 1), nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = std_per_channel(x) + x.mean(dim=(2, 3), keepdim=True)
        return x * self.conv_du(y)


class IMDB(nn.Module):
    """Information multi-distillation block: three split steps keep a quarter of the channels each."""

    def __init__(self, channels: int, *, distill_rate: float = 0.25) -> None:
        super().__init__()
        self.distilled = int(channels * distill_rate)
        self.remaining = channels - self.distilled
        self.c1 = conv(channels, channels)
        self.c2 = conv(self.remaining, channels)
        self.c3 = conv(self.remaining, channels)
        self.c4 = conv(self.remaining, self.distilled)
        self.act = nn.LeakyReLU(0.05, inplace=True)
        self.c5 = conv(self.distilled * 4, channels, 1)
        self.cca = CCALayer(self.distilled * 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        split = (self.distilled, self.remaining)
        d1, r1 = torch.split(self.act(self.c1(x)), split, dim=1)
        d2, r2 = torch.split(self.act(self.c2(r1)), split, dim=1)
        d3, r3 = torch.split(self.act(self.c3(r2)), split, dim=1)
        out = torch.cat([d1, d2, d3, self.c4(r3)], dim=1)
        return self.c5(self.cca(out)) + x


class IMDN(DistillationNet):
    """IMDN; takes and returns RGB in [0, 1] (``img_range`` 255 for weights trained on [0, 255])."""

    arch = "imdn"
    block_prefix = "IMDB"

    def __init__(
        self, *, scale: int = 4, n_feats: int = 64, n_blocks: int = 6, in_channels: int = 3,
        out_channels: int = 3, img_range: float = 1.0,
    ) -> None:
        super().__init__()
        self._build(make_block=IMDB, scale=scale, n_feats=n_feats, n_blocks=n_blocks, in_channels=in_channels,
                    out_channels=out_channels, img_range=img_range)
