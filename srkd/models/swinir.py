"""SwinIR for classical SR (Liang et al. 2021), with the official key layout.

``upsampler="pixelshuffle"`` is the classical (medium, embed_dim 180) configuration:
``conv_before_upsample.0``, ``upsample.{0,2..}``, ``conv_last``. ``"pixelshuffledirect"`` is the
lightweight one (embed_dim 60): a single ``upsample.0`` conv + pixel shuffle. The input is
reflect-padded to a multiple of ``window_size`` and the output cropped back.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from srkd.models.edsr import DIV2K_MEAN
from srkd.models.padding import pad_to_req
from srkd.models.spec import SizeReq
from srkd.models.swin_blocks import RSTB, resi_conv

UPSAMPLERS = ("pixelshuffle", "pixelshuffledirect")


def _upsample(scale: int, n_feat: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    if scale & (scale - 1) == 0:
        for _ in range(int(math.log2(scale))):
            layers += [nn.Conv2d(n_feat, 4 * n_feat, 3, padding=1), nn.PixelShuffle(2)]
    elif scale == 3:
        layers += [nn.Conv2d(n_feat, 9 * n_feat, 3, padding=1), nn.PixelShuffle(3)]
    else:
        raise ValueError(f"SwinIR's pixelshuffle upsampler supports scale 2^n or 3, got {scale}")
    return nn.Sequential(*layers)


class SwinIR(nn.Module):
    """SwinIR (classical SR); takes and returns RGB in [0, 1]. Defaults are the medium x4 model."""

    arch = "swinir"

    def __init__(
        self, *, scale: int = 4, embed_dim: int = 180, depths: tuple[int, ...] = (6, 6, 6, 6, 6, 6),
        num_heads: tuple[int, ...] = (6, 6, 6, 6, 6, 6), window_size: int = 8, mlp_ratio: float = 2.0,
        qkv_bias: bool = True, patch_norm: bool = True, img_size: int = 64, upsampler: str = "pixelshuffle",
        resi_connection: str = "1conv", num_feat: int = 64, in_channels: int = 3, out_channels: int = 3,
        img_range: float = 1.0,
    ) -> None:
        super().__init__()
        if upsampler not in UPSAMPLERS:
            raise ValueError(f"upsampler must be one of {', '.join(UPSAMPLERS)}, got {upsampler!r}")
        if len(depths) != len(num_heads):
            raise ValueError(f"depths ({len(depths)} stages) and num_heads ({len(num_heads)}) differ in length")
        self.hparams = dict(
            scale=scale, embed_dim=embed_dim, depths=list(depths), num_heads=list(num_heads), window_size=window_size,
            mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, patch_norm=patch_norm, img_size=img_size, upsampler=upsampler,
            resi_connection=resi_connection, num_feat=num_feat, in_channels=in_channels, out_channels=out_channels,
            img_range=img_range,
        )
        self.scale, self.window_size, self.img_range, self.upsampler_kind = scale, window_size, img_range, upsampler
        self.size_req = SizeReq(minimum=1, multiple_of=window_size)
        mean = DIV2K_MEAN if in_channels == 3 else (0.0,) * in_channels
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.conv_first = nn.Conv2d(in_channels, embed_dim, 3, padding=1)
        self.patch_embed = nn.Module()
        self.patch_embed.norm = nn.LayerNorm(embed_dim) if patch_norm else nn.Identity()
        self.layers = nn.ModuleList(
            RSTB(embed_dim, depth=d, num_heads=h, window_size=window_size, resolution=img_size, mlp_ratio=mlp_ratio,
                 qkv_bias=qkv_bias, resi_connection=resi_connection)
            for d, h in zip(depths, num_heads)
        )
        self.norm = nn.LayerNorm(embed_dim)
        self.conv_after_body = resi_conv(embed_dim, resi_connection)
        if upsampler == "pixelshuffle":
            self.conv_before_upsample = nn.Sequential(nn.Conv2d(embed_dim, num_feat, 3, padding=1),
                                                      nn.LeakyReLU(inplace=True))
            self.upsample = _upsample(scale, num_feat)
            self.conv_last = nn.Conv2d(num_feat, out_channels, 3, padding=1)
        else:
            self.upsample = nn.Sequential(nn.Conv2d(embed_dim, out_channels * scale**2, 3, padding=1),
                                          nn.PixelShuffle(scale))
        self.apply(_init_weights)

    @property
    def value_range(self) -> tuple[float, float]:
        """The value range the wrapped network computes on."""
        return (0.0, float(self.img_range))

    @property
    def blocks(self) -> list[nn.Module]:
        """The RSTBs in order; each maps NCHW features to NCHW features."""
        return list(self.layers)

    @staticmethod
    def _token_norm(norm: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        """``conv_first`` on the padded, mean-shifted, range-scaled input (NCHW)."""
        x = pad_to_req(x, self.size_req)
        return self.conv_first((x - self.mean.to(x.dtype)) * self.img_range)

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Return the head output and every RSTB's output (NCHW), on the window-padded grid."""
        stem = self.stem(x)
        feats, h = [], self._token_norm(self.patch_embed.norm, stem)
        for block in self.blocks:
            h = block(h)
            feats.append(h)
        return stem, feats

    def forward_from(self, k: int, feats: list[torch.Tensor], stem: torch.Tensor, *, x: torch.Tensor) -> torch.Tensor:
        """Run RSTBs k+1..n, the final norm, the long skip from ``stem`` and the upsampler (``x`` is not needed).

        Works on the padded grid: for inputs that are not multiples of ``window_size`` the result is
        the padded output; :meth:`forward` crops it back.
        """
        h = feats[k - 1] if k > 0 else self._token_norm(self.patch_embed.norm, stem)
        for block in self.blocks[k:]:
            h = block(h)
        h = self.conv_after_body(self._token_norm(self.norm, h)) + stem
        if self.upsampler_kind == "pixelshuffle":
            h = self.conv_last(self.upsample(self.conv_before_upsample(h)))
        else:
            h = self.upsample(h)
        return h / self.img_range + self.mean.to(h.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2:]
        return self.forward_from(0, [], self.stem(x), x=x)[:, :, : h * self.scale, : w * self.scale]


def _init_weights(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)
