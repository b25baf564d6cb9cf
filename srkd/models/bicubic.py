"""``bicubic``: MATLAB-compatible bicubic upscaling as a parameter-free reference model."""
from __future__ import annotations

import torch
from torch import nn

from srkd.data.imresize import imresize_torch


class Bicubic(nn.Module):
    """Upscales with MATLAB's antialiased bicubic; the baseline every SR table starts from."""

    arch = "bicubic"

    def __init__(self, *, scale: int = 4, in_channels: int = 3, out_channels: int = 3) -> None:
        super().__init__()
        if in_channels != out_channels:
            raise ValueError(f"bicubic keeps the channel count: expected in_channels == out_channels, "
                             f"got {in_channels} and {out_channels}")
        self.hparams = dict(scale=scale, in_channels=in_channels, out_channels=out_channels)
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return imresize_torch(x, scale=float(self.scale))
