"""What native architectures share: the value range they compute on and the feature-access contract.

A subclass provides ``stem(x)`` (the head on the range-scaled input), ``blocks`` (the ordered body
blocks) and ``forward_from(k, feats, stem, x=x)``; ``forward_features`` and ``forward`` follow from
those. ``x`` is the network's own input ([0, 1]), for tails that use it (Compact adds its upsampled
copy); the others ignore it.
"""
from __future__ import annotations

import torch
from torch import nn


class SRNet(nn.Module):
    """Base of srkd's native networks: [0, 1] in and out, ``img_range`` inside."""

    arch = "srnet"
    range_fixed = False  # True: the network runs on one value range, whatever img_range says
    img_range: float
    scale: int
    hparams: dict

    @property
    def value_range(self) -> tuple[float, float]:
        """The value range the wrapped network computes on (the API always takes [0, 1])."""
        return (0.0, float(self.img_range))

    @property
    def blocks(self) -> list[nn.Module]:
        raise NotImplementedError(f"{type(self).__name__} must list its body blocks")

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement stem(x)")

    def forward_from(self, k: int, feats: list[torch.Tensor], stem: torch.Tensor, *, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement forward_from")

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Return the head output and the output of every body block, in order."""
        stem = self.stem(x)
        feats, h = [], stem
        for block in self.blocks:
            h = block(h)
            feats.append(h)
        return stem, feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_from(0, [], self.stem(x), x=x)


class ResidualBodyNet(SRNet):
    """EDSR/RCAN shape: ``head``, ``body`` = blocks + closing conv, long skip from the stem, ``tail``."""

    @property
    def blocks(self) -> list[nn.Module]:
        """The ordered body blocks (without the body's closing conv)."""
        return list(self.body)[:-1]

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        """The head applied to the mean-shifted, range-scaled input."""
        return self.head((x - self.mean.to(x.dtype)) * self.img_range)

    def forward_from(self, k: int, feats: list[torch.Tensor], stem: torch.Tensor, *, x: torch.Tensor) -> torch.Tensor:
        """Run blocks k+1..n from ``feats[k-1]`` (or ``stem`` when k == 0), the long skip and the tail
        (``x`` is not needed)."""
        h = feats[k - 1] if k > 0 else stem
        for block in self.blocks[k:]:
            h = block(h)
        h = self.body[-1](h) + stem
        return self.tail(h) / self.img_range + self.mean.to(h.dtype)


class DistillationNet(SRNet):
    """IMDN/RFDN shape: ``fea_conv``, blocks whose outputs are all concatenated, ``c``, ``LR_conv``, upsampler.

    Subclasses set ``block_prefix`` (the official key of block i is ``<prefix><i>``, from 1) and call
    ``_build`` with their block factory.
    """

    block_prefix = "B"

    def _build(self, *, make_block, scale: int, n_feats: int, n_blocks: int, in_channels: int,
               out_channels: int, img_range: float) -> None:
        self.hparams = dict(scale=scale, n_feats=n_feats, n_blocks=n_blocks, in_channels=in_channels,
                            out_channels=out_channels, img_range=img_range)
        self.scale, self.img_range = scale, img_range
        self.fea_conv = _same_conv(in_channels, n_feats)
        for i in range(1, n_blocks + 1):
            self.add_module(f"{self.block_prefix}{i}", make_block(n_feats))
        self.c = nn.Sequential(_same_conv(n_feats * n_blocks, n_feats, 1), nn.LeakyReLU(0.05, inplace=True))
        self.LR_conv = _same_conv(n_feats, n_feats)
        self.upsampler = nn.Sequential(_same_conv(n_feats, out_channels * scale * scale), nn.PixelShuffle(scale))

    @property
    def blocks(self) -> list[nn.Module]:
        """The blocks in order."""
        return [getattr(self, f"{self.block_prefix}{i}") for i in range(1, self.hparams["n_blocks"] + 1)]

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        """The head: shallow features of the range-scaled input."""
        return self.fea_conv(x * self.img_range)

    def forward_from(self, k: int, feats: list[torch.Tensor], stem: torch.Tensor, *, x: torch.Tensor) -> torch.Tensor:
        """Run blocks k+1..n after ``feats`` (all block outputs so far), fuse them all, and upsample
        (``x`` is not needed)."""
        feats = list(feats[:k])
        h = feats[-1] if k > 0 else stem
        for block in self.blocks[k:]:
            h = block(h)
            feats.append(h)
        lr = self.LR_conv(self.c(torch.cat(feats, dim=1))) + stem
        return self.upsampler(lr) / self.img_range


def _same_conv(c_in: int, c_out: int, k: int = 3) -> nn.Conv2d:
    """A same-padded convolution with bias (the official ``conv_layer`` of IMDN/RFDN)."""
    return nn.Conv2d(c_in, c_out, k, padding=(k - 1) // 2)
