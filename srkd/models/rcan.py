"""RCAN (Zhang et al. 2018): residual groups of channel-attention blocks, with the official key layout.

Keys as in the official code (EDSR-PyTorch style): ``head.0``; ``body.g.body.b.body.{0,2}`` (RCAB convs),
``body.g.body.b.body.3.conv_du.{0,2}`` (channel attention), ``body.g.body.B`` (group's closing conv),
``body.G`` (body's closing conv); ``tail.0.*`` (upsampler), ``tail.1``. The official MeanShift layers
(``sub_mean``/``add_mean``) are not parameters here: their mean and range become hyperparameters.
"""
from __future__ import annotations

import torch
from torch import nn

from srkd.models.base import ResidualBodyNet
from srkd.models.edsr import DIV2K_MEAN, Upsampler, _conv


class CALayer(nn.Module):
    """Channel attention: global average pool -> 1x1 squeeze -> ReLU -> 1x1 excite -> sigmoid gate."""

    def __init__(self, channels: int, *, reduction: int = 16) -> None:
        super().__init__()
        self.conv_du = nn.Sequential(
            nn.Conv2d(channels, channels // reduction, 1), nn.ReLU(inplace=True),
            nn.Conv2d(channels // reduction, channels, 1), nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.conv_du(x.mean(dim=(2, 3), keepdim=True))


class RCAB(nn.Module):
    """Residual channel-attention block: conv-ReLU-conv-CA with a scaled residual."""

    def __init__(self, n_feats: int, *, reduction: int, res_scale: float) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv(n_feats, n_feats), nn.ReLU(inplace=True), _conv(n_feats, n_feats),
                                  CALayer(n_feats, reduction=reduction))
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) * self.res_scale + x


class ResidualGroup(nn.Module):
    """``n_resblocks`` RCABs and a closing conv, with a short skip around them."""

    def __init__(self, n_feats: int, *, n_resblocks: int, reduction: int, res_scale: float) -> None:
        super().__init__()
        blocks = [RCAB(n_feats, reduction=reduction, res_scale=res_scale) for _ in range(n_resblocks)]
        self.body = nn.Sequential(*blocks, _conv(n_feats, n_feats))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + x


class RCAN(ResidualBodyNet):
    """RCAN; takes and returns RGB in [0, 1]. Defaults are the paper's 10 groups x 20 blocks x 64 features;
    the KD papers' compressed student is ``n_resgroups=10, n_resblocks=6``.

    ``img_range`` 255 reproduces the official network, which runs on [0, 255] values minus the data mean.
    """

    arch = "rcan"

    def __init__(
        self, *, scale: int = 4, n_resgroups: int = 10, n_resblocks: int = 20, n_feats: int = 64,
        reduction: int = 16, res_scale: float = 1.0, in_channels: int = 3, out_channels: int = 3,
        img_range: float = 255.0, rgb_mean: tuple[float, float, float] = DIV2K_MEAN,
    ) -> None:
        super().__init__()
        self.hparams = dict(
            scale=scale, n_resgroups=n_resgroups, n_resblocks=n_resblocks, n_feats=n_feats, reduction=reduction,
            res_scale=res_scale, in_channels=in_channels, out_channels=out_channels, img_range=img_range,
            rgb_mean=list(rgb_mean),
        )
        self.scale = scale
        self.img_range = img_range
        self.register_buffer("mean", torch.tensor(rgb_mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.head = nn.Sequential(_conv(in_channels, n_feats))
        groups = [ResidualGroup(n_feats, n_resblocks=n_resblocks, reduction=reduction, res_scale=res_scale)
                  for _ in range(n_resgroups)]
        self.body = nn.Sequential(*groups, _conv(n_feats, n_feats))
        self.tail = nn.Sequential(Upsampler(scale, n_feats), _conv(n_feats, out_channels))
