"""SPAN (Wan et al. 2024, swift parameter-free attention network; NTIRE 2024 efficient-SR winner).

Public key layout: ``conv_1`` (the head), ``block_1..n`` (SPABs with ``c1_r``, ``c2_r``, ``c3_r``),
``conv_cat`` (1x1 fusion of [head, conv_2(last block), first block, SiLU(last block's c1_r)]),
``conv_2`` and ``upsampler.0`` (3x3 conv + pixel shuffle). Each of ``conv_1``, ``c*_r`` and
``conv_2`` is a re-parameterisable 3x3 conv (srkd.models.repconv): with ``branches`` (training) the
keys are ``sk`` and ``conv.{0,1,2}``, folded (inference, ``folded()``) ``eval_conv``. A SPAB's
attention has no parameters: ``(c3 + x) * (sigmoid(c3) - 0.5)``.

With ``norm`` the head sees ``(x - rgb_mean) * img_range`` (the release: DIV2K mean, 255) and the
output is used as it comes, already on [0, 1]; without it the head sees ``x`` and the state dict holds
the release's ``no_norm`` marker buffer. srkd's students default to ``norm=False``: with the release's
normalisation the [0, 1] output is a small difference of features hundreds large, which bf16 and int8
cannot carry (a SPAN trained here: torch bf16 37 dB and int8 20 dB against fp32, so ``srkd export
--cpu`` refuses it), while without it every CPU artifact passes (bf16 58 dB, int8 49 dB). Public
files say which they are (``no_norm``) and are read as they are.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from srkd.models.base import SRNet
from srkd.models.edsr import DIV2K_MEAN
from srkd.models.repconv import BranchConv, FoldedConv


def _conv(c_in: int, c_out: int, *, branches: bool) -> nn.Module:
    return BranchConv(c_in, c_out) if branches else FoldedConv(c_in, c_out)


class SPAB(nn.Module):
    """Three re-parameterisable 3x3 convs with SiLU between them, and the parameter-free attention."""

    def __init__(self, channels: int, *, branches: bool) -> None:
        super().__init__()
        self.c1_r = _conv(channels, channels, branches=branches)
        self.c2_r = _conv(channels, channels, branches=branches)
        self.c3_r = _conv(channels, channels, branches=branches)

    def inner(self, x: torch.Tensor) -> torch.Tensor:
        """SiLU of the first conv: what SPAN's tail takes from its last block. (The public code returns the
        first conv's output, but its in-place SiLU has already overwritten that tensor.)"""
        return F.silu(self.c1_r(x))

    def forward_inner(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(block output, ``inner(x)``)."""
        act1 = self.inner(x)
        out3 = self.c3_r(F.silu(self.c2_r(act1)))
        return (out3 + x) * (torch.sigmoid(out3) - 0.5), act1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_inner(x)[0]


class SPAN(SRNet):
    """SPAN; takes RGB in [0, 1] and returns it. ``feature_channels`` 48 and 6 blocks are the paper's
    network (with ``norm=True``: its normalisation, see the module docstring)."""

    arch = "span"

    def __init__(
        self, *, scale: int = 4, feature_channels: int = 48, n_blocks: int = 6, in_channels: int = 3,
        out_channels: int = 3, norm: bool = False, img_range: float = 255.0,
        rgb_mean: tuple[float, float, float] = DIV2K_MEAN, branches: bool = True,
    ) -> None:
        super().__init__()
        if norm and in_channels != len(rgb_mean):
            raise ValueError(f"norm subtracts a {len(rgb_mean)}-channel mean; in_channels is {in_channels}")
        self.hparams = dict(scale=scale, feature_channels=feature_channels, n_blocks=n_blocks,
                            in_channels=in_channels, out_channels=out_channels, norm=norm, img_range=img_range,
                            rgb_mean=list(rgb_mean), branches=branches)
        self.scale, self.img_range, self.norm = scale, img_range, norm
        self.register_buffer("mean", torch.tensor(rgb_mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        if not norm:
            self.register_buffer("no_norm", torch.zeros(1))
        fc = feature_channels
        self.conv_1 = _conv(in_channels, fc, branches=branches)
        for i in range(1, n_blocks + 1):
            self.add_module(f"block_{i}", SPAB(fc, branches=branches))
        self.conv_cat = nn.Conv2d(fc * 4, fc, 1)
        self.conv_2 = _conv(fc, fc, branches=branches)
        self.upsampler = nn.Sequential(nn.Conv2d(fc, out_channels * scale * scale, 3, padding=1),
                                       nn.PixelShuffle(scale))

    @property
    def value_range(self) -> tuple[float, float]:
        """The value range the head computes on."""
        return (0.0, float(self.img_range)) if self.norm else (0.0, 1.0)

    @property
    def range_fixed(self) -> bool:
        """Without ``norm`` the network runs on [0, 1] whatever ``img_range`` says."""
        return not self.norm

    @property
    def blocks(self) -> list[nn.Module]:
        """The SPABs in order."""
        return [getattr(self, f"block_{i}") for i in range(1, self.hparams["n_blocks"] + 1)]

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        """``conv_1`` on the (normalised) input."""
        if self.norm:
            x = (x - self.mean.to(x.dtype)) * self.img_range
        return self.conv_1(x)

    def forward_from(self, k: int, feats: list[torch.Tensor], stem: torch.Tensor, *, x: torch.Tensor) -> torch.Tensor:
        """Run blocks k+1..n after ``feats``, fuse [stem, conv_2(last), f_1, the last block's ``inner``]
        and upsample (``x`` is not needed). With k == n the last block's ``inner`` is recomputed on that
        block's input, ``feats[n-2]`` (the stem when there is one block)."""
        blocks = self.blocks
        feats = list(feats[:k])
        h, inner = (feats[-1] if k > 0 else stem), None
        for block in blocks[k:]:
            h, inner = block.forward_inner(h)
            feats.append(h)
        if inner is None:
            inner = blocks[-1].inner(feats[-2] if len(blocks) > 1 else stem)
        fused = self.conv_cat(torch.cat([stem, self.conv_2(h), feats[0], inner], dim=1))
        return self.upsampler(fused)

    def folded(self) -> "SPAN":
        """The same network with every branched conv folded into one 3x3 conv (``branches=False``),
        as ``srkd export`` writes it; the model itself is unchanged."""
        if not self.hparams["branches"]:
            return self
        return self._convert(branches=False, swap=lambda m: m.fold())

    def unfolded(self) -> "SPAN":
        """Branches that fold back to exactly this network (``branches=True``; see
        ``FoldedConv.unfolded``): how a folded-only file is written in the layout spandrel needs."""
        if self.hparams["branches"]:
            return self
        return self._convert(branches=True, swap=lambda m: m.unfolded())

    def _convert(self, *, branches: bool, swap) -> "SPAN":
        out = copy.deepcopy(self)
        kind = FoldedConv if branches else BranchConv
        for name, module in list(out.named_modules()):
            for child_name, child in list(module.named_children()):
                if isinstance(child, kind):
                    setattr(module, child_name, swap(child))
        out.hparams["branches"] = branches
        return out.train(self.training)
