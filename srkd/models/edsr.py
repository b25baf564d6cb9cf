"""EDSR (Lim et al. 2017) with the official key layout (head / body / tail)."""
from __future__ import annotations

import math

import torch
from torch import nn

from srkd.models.base import ResidualBodyNet

DIV2K_MEAN = (0.4488, 0.4371, 0.4040)


def _conv(c_in: int, c_out: int) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, padding=1)


class ResBlock(nn.Module):
    """conv-ReLU-conv with a scaled residual; keys ``body.0`` and ``body.2`` as in the official code."""

    def __init__(self, n_feats: int, *, res_scale: float) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv(n_feats, n_feats), nn.ReLU(inplace=True), _conv(n_feats, n_feats))
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) * self.res_scale + x


class Upsampler(nn.Sequential):
    """Sub-pixel convolution stages: log2(scale) x (conv, shuffle 2) or one (conv, shuffle 3)."""

    def __init__(self, scale: int, n_feats: int) -> None:
        layers: list[nn.Module] = []
        if scale & (scale - 1) == 0:
            for _ in range(int(math.log2(scale))):
                layers += [_conv(n_feats, 4 * n_feats), nn.PixelShuffle(2)]
        elif scale == 3:
            layers += [_conv(n_feats, 9 * n_feats), nn.PixelShuffle(3)]
        else:
            raise ValueError(f"EDSR supports scale 2, 3, 4 or 8, got {scale}")
        super().__init__(*layers)


class EDSR(ResidualBodyNet):
    """EDSR; takes and returns RGB in [0, 1], shifting by the data mean inside.

    ``img_range`` 255 reproduces the official network, which runs on [0, 255] values.
    """

    arch = "edsr"

    def __init__(
        self,
        *,
        scale: int = 4,
        n_feats: int = 64,
        n_blocks: int = 16,
        res_scale: float = 1.0,
        in_channels: int = 3,
        out_channels: int = 3,
        img_range: float = 255.0,
        rgb_mean: tuple[float, float, float] = DIV2K_MEAN,
    ) -> None:
        super().__init__()
        self.hparams = dict(
            scale=scale, n_feats=n_feats, n_blocks=n_blocks, res_scale=res_scale, in_channels=in_channels,
            out_channels=out_channels, img_range=img_range, rgb_mean=list(rgb_mean),
        )
        self.scale = scale
        self.img_range = img_range
        self.register_buffer("mean", torch.tensor(rgb_mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.head = nn.Sequential(_conv(in_channels, n_feats))
        self.body = nn.Sequential(*[ResBlock(n_feats, res_scale=res_scale) for _ in range(n_blocks)], _conv(n_feats, n_feats))
        self.tail = nn.Sequential(Upsampler(scale, n_feats), _conv(n_feats, out_channels))
