"""RFDN (Liu et al., AIM 2020 efficient-SR winner): residual feature distillation, official key layout.

Keys as in the official release: ``fea_conv``, ``B1..n.{c1_d, c1_r, ..., c4, c5, esa.*}``, ``c.0``,
``LR_conv``, ``upsampler.0``. The released x4 weights (nf=50, 4 blocks) run on [0, 255] input.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from srkd.models.base import DistillationNet

from srkd.models.imdn import conv
from srkd.models.spec import SizeReq

# ESA's stride-2 conv (k3, no pad) then a 7x7/3 max-pool need at least 15 pixels per side.
MIN_SIDE = 15


class ESA(nn.Module):
    """Enhanced spatial attention: a strided, max-pooled branch with a large receptive field gates the input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        f = channels // 4
        self.conv1 = nn.Conv2d(channels, f, 1)
        self.conv_f = nn.Conv2d(f, f, 1)
        self.conv_max = nn.Conv2d(f, f, 3, padding=1)
        self.conv2 = nn.Conv2d(f, f, 3, stride=2, padding=0)
        self.conv3 = nn.Conv2d(f, f, 3, padding=1)
        self.conv3_ = nn.Conv2d(f, f, 3, padding=1)
        self.conv4 = nn.Conv2d(f, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c1_ = self.conv1(x)
        c1 = F.max_pool2d(self.conv2(c1_), kernel_size=7, stride=3)
        c3 = F.relu(self.conv3(F.relu(self.conv_max(c1))))
        c3 = F.interpolate(self.conv3_(c3), size=x.shape[2:], mode="bilinear", align_corners=False)
        return x * torch.sigmoid(self.conv4(c3 + self.conv_f(c1_)))


class RFDB(nn.Module):
    """Residual feature distillation block: 1x1 distillation taps beside 3x3 shallow residual steps."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        dc = channels // 2
        self.c1_d, self.c1_r = conv(channels, dc, 1), conv(channels, channels)
        self.c2_d, self.c2_r = conv(channels, dc, 1), conv(channels, channels)
        self.c3_d, self.c3_r = conv(channels, dc, 1), conv(channels, channels)
        self.c4 = conv(channels, dc)
        self.act = nn.LeakyReLU(0.05, inplace=True)
        self.c5 = conv(dc * 4, channels, 1)
        self.esa = ESA(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d1 = self.act(self.c1_d(x))
        r1 = self.act(self.c1_r(x) + x)
        d2 = self.act(self.c2_d(r1))
        r2 = self.act(self.c2_r(r1) + r1)
        d3 = self.act(self.c3_d(r2))
        r3 = self.act(self.c3_r(r2) + r2)
        r4 = self.act(self.c4(r3))
        return self.esa(self.c5(torch.cat([d1, d2, d3, r4], dim=1)))


class RFDN(DistillationNet):
    """RFDN; takes and returns RGB in [0, 1]; ``img_range`` 255 reproduces the released weights' [0, 255] input."""

    arch = "rfdn"
    block_prefix = "B"

    def __init__(
        self, *, scale: int = 4, n_feats: int = 50, n_blocks: int = 4, in_channels: int = 3,
        out_channels: int = 3, img_range: float = 1.0,
    ) -> None:
        super().__init__()
        self._build(make_block=RFDB, scale=scale, n_feats=n_feats, n_blocks=n_blocks, in_channels=in_channels,
                    out_channels=out_channels, img_range=img_range)
        self.size_req = SizeReq(minimum=MIN_SIDE)
