"""Real-ESRGAN's Compact network (SRVGGNetCompact, Wang et al. 2021) with the released key layout.

A plain stack at LR resolution: ``body.0`` a 3x3 conv, ``body.1`` its activation, then ``num_conv``
pairs (``body.2i+2`` conv, ``body.2i+3`` activation), then ``body.{2 num_conv + 2}`` a 3x3 conv to
``out_channels * scale^2`` channels; a pixel shuffle, plus the nearest-upsampled input, so the network
learns a residual. PReLU activations hold one slope per channel (the odd ``body.<i>.weight`` keys).
It computes on [0, 1] like the released weights (realesr-general-x4v3: 64 features, 32 convs;
realesr-animevideov3: 64 features, 16 convs).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from srkd.models.base import SRNet

ACTIVATIONS = ("prelu", "relu", "leakyrelu")


def _act(kind: str, channels: int) -> nn.Module:
    if kind == "prelu":
        return nn.PReLU(num_parameters=channels)
    if kind == "relu":
        return nn.ReLU()
    return nn.LeakyReLU(0.1)  # the release's slope for "leakyrelu"


class Compact(SRNet):
    """SRVGGNetCompact; takes and returns RGB in [0, 1]. Feature access: the stem is the first conv and
    its activation, each body block one (conv, activation) pair."""

    arch = "compact"
    img_range = 1.0
    range_fixed = True  # no input-range setting: the network runs on [0, 1]

    def __init__(self, *, scale: int = 4, num_feat: int = 64, num_conv: int = 16, act: str = "prelu",
                 in_channels: int = 3, out_channels: int = 3) -> None:
        super().__init__()
        if act not in ACTIVATIONS:
            raise ValueError(f"act must be one of {', '.join(ACTIVATIONS)}, got {act!r}")
        if in_channels != out_channels:
            raise ValueError(f"the upsampled input is added to the output, so in_channels ({in_channels}) must "
                             f"equal out_channels ({out_channels})")
        self.hparams = dict(scale=scale, num_feat=num_feat, num_conv=num_conv, act=act, in_channels=in_channels,
                            out_channels=out_channels)
        self.scale = scale
        layers: list[nn.Module] = [nn.Conv2d(in_channels, num_feat, 3, padding=1), _act(act, num_feat)]
        for _ in range(num_conv):
            layers += [nn.Conv2d(num_feat, num_feat, 3, padding=1), _act(act, num_feat)]
        layers.append(nn.Conv2d(num_feat, out_channels * scale * scale, 3, padding=1))
        self.body = nn.ModuleList(layers)
        self.upsampler = nn.PixelShuffle(scale)
        self._init_weights()

    def _init_weights(self) -> None:
        """Every inner conv starts as the identity plus N(0, 0.01^2) noise; the first and last convs He
        for the activation's slope, the last scaled by 0.1; zero biases.

        The identity carries the input through any depth, so bf16 keeps it, and the small inner weights
        let Adam reshape them fast. PyTorch's default conv init shrinks the input's part by ~2.4x per
        layer while its biases stay: a 16-conv stack sat at nearest upsampling (Set5 26.26 dB) for 2,000
        kd steps (and in probes with zero biases, or with He weights x0.6). He init throughout trained
        every depth but learnt slower (64x8 0.36 dB under the default init). With this one, 2,000 kd steps
        gave 64x8 31.08 dB (default init 31.04) and 64x16 31.16 (benchmarks/RESULTS.md, "Why Compact 64x16
        did not train")."""
        slope = {"prelu": 0.25, "relu": 0.0, "leakyrelu": 0.1}[self.hparams["act"]]
        convs = [m for m in self.body if isinstance(m, nn.Conv2d)]
        with torch.no_grad():
            for conv in convs:
                nn.init.zeros_(conv.bias)
            for conv in (convs[0], convs[-1]):
                nn.init.kaiming_normal_(conv.weight, a=slope, nonlinearity="leaky_relu")
            convs[-1].weight.mul_(0.1)
            for conv in convs[1:-1]:
                nn.init.normal_(conv.weight, std=0.01)
                conv.weight.add_(nn.init.dirac_(torch.empty_like(conv.weight)))

    @property
    def blocks(self) -> list[nn.Module]:
        """The (conv, activation) pairs between the first and the last conv, in order."""
        body = self.body
        return [nn.Sequential(body[i], body[i + 1]) for i in range(2, len(body) - 1, 2)]

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        """The first conv and its activation."""
        return self.body[1](self.body[0](x))

    def forward_from(self, k: int, feats: list[torch.Tensor], stem: torch.Tensor, *, x: torch.Tensor) -> torch.Tensor:
        """Run pairs k+1..n after ``feats[k-1]`` (or ``stem``), the last conv, the pixel shuffle, and add
        the nearest-upsampled input ``x``."""
        h = feats[k - 1] if k > 0 else stem
        for block in self.blocks[k:]:
            h = block(h)
        out = self.upsampler(self.body[-1](h))
        return out + F.interpolate(x, scale_factor=self.scale, mode="nearest")
