"""Swin Transformer pieces for SwinIR: (shifted) window attention, Swin blocks and RSTBs.

Key names follow the official SwinIR code, including its persistent buffers
(``attn.relative_position_index`` and, in shifted blocks, ``attn_mask`` for the training patch size).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def window_partition(x: torch.Tensor, ws: int) -> torch.Tensor:
    """B x H x W x C -> (B * H/ws * W/ws) x ws x ws x C."""
    b, h, w, c = x.shape
    x = x.reshape(b, h // ws, ws, w // ws, ws, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, ws, ws, c)


def window_reverse(windows: torch.Tensor, ws: int, h: int, w: int) -> torch.Tensor:
    """The inverse of :func:`window_partition`."""
    b = windows.shape[0] // ((h // ws) * (w // ws))
    x = windows.reshape(b, h // ws, w // ws, ws, ws, -1)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, -1)


def relative_position_index(ws: int) -> torch.Tensor:
    """For each pair of positions in a window, the row of the relative-position bias table (ws^2 x ws^2)."""
    coords = torch.stack(torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing="ij")).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (ws - 1)
    return rel[:, :, 0] * (2 * ws - 1) + rel[:, :, 1]


def shift_mask(h: int, w: int, ws: int, shift: int) -> torch.Tensor:
    """Additive attention mask (nW x ws^2 x ws^2, 0 or -100) that keeps shifted windows from mixing regions."""
    img = torch.zeros(1, h, w, 1)
    cuts = (slice(0, -ws), slice(-ws, -shift), slice(-shift, None))
    label = 0
    for hs in cuts:
        for wsl in cuts:
            img[:, hs, wsl, :] = label
            label += 1
    windows = window_partition(img, ws).view(-1, ws * ws)
    diff = windows.unsqueeze(1) - windows.unsqueeze(2)
    return diff.masked_fill(diff != 0, -100.0).masked_fill(diff == 0, 0.0)


class WindowAttention(nn.Module):
    """Multi-head self-attention inside windows, with a learned relative-position bias."""

    def __init__(self, dim: int, *, window_size: int, num_heads: int, qkv_bias: bool = True) -> None:
        super().__init__()
        self.window_size, self.num_heads = window_size, num_heads
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window_size - 1) ** 2, num_heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        self.register_buffer("relative_position_index", relative_position_index(window_size))
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        b_, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b_, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        bias = bias.view(n, n, -1).permute(2, 0, 1).unsqueeze(0).to(q.dtype)  # 1 x heads x N x N
        if mask is not None:
            nw = mask.shape[0]
            bias = (bias.unsqueeze(0) + mask.to(q.dtype)[None, :, None]).expand(b_ // nw, -1, -1, -1, -1)
            bias = bias.reshape(b_, self.num_heads, n, n)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        return self.proj(out.transpose(1, 2).reshape(b_, n, c))


class Mlp(nn.Module):
    """fc1 -> GELU -> fc2."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class SwinBlock(nn.Module):
    """Pre-norm (shifted-)window attention and MLP, each with a residual; tokens are B x HW x C."""

    def __init__(self, dim: int, *, resolution: int, num_heads: int, window_size: int, shift: int,
                 mlp_ratio: float, qkv_bias: bool) -> None:
        super().__init__()
        if resolution <= window_size:  # the official rule: one window covers the patch, nothing to shift
            window_size, shift = resolution, 0
        self.window_size, self.shift = window_size, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window_size=window_size, num_heads=num_heads, qkv_bias=qkv_bias)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.resolution = (resolution, resolution)
        if shift > 0:
            self.register_buffer("attn_mask", shift_mask(resolution, resolution, window_size, shift))
        else:
            self.attn_mask = None

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        h, w = size
        b, _, c = x.shape
        ws, s = self.window_size, self.shift
        y = self.norm1(x).reshape(b, h, w, c)
        if s:
            y = torch.roll(y, shifts=(-s, -s), dims=(1, 2))
        mask = None
        if s:
            mask = self.attn_mask if tuple(size) == self.resolution else shift_mask(h, w, ws, s).to(x.device)
        y = self.attn(window_partition(y, ws).reshape(-1, ws * ws, c), mask)
        y = window_reverse(y.reshape(-1, ws, ws, c), ws, h, w)
        if s:
            y = torch.roll(y, shifts=(s, s), dims=(1, 2))
        x = x + y.reshape(b, h * w, c)
        return x + self.mlp(self.norm2(x))


def resi_conv(dim: int, kind: str) -> nn.Module:
    """The conv closing an RSTB / the body: ``1conv`` (3x3) or ``3conv`` (3x3 -> 1x1 -> 3x3 bottleneck)."""
    if kind == "1conv":
        return nn.Conv2d(dim, dim, 3, padding=1)
    if kind == "3conv":
        return nn.Sequential(
            nn.Conv2d(dim, dim // 4, 3, padding=1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(dim // 4, dim // 4, 1), nn.LeakyReLU(0.2, inplace=True), nn.Conv2d(dim // 4, dim, 3, padding=1),
        )
    raise ValueError(f"resi_connection must be '1conv' or '3conv', got {kind!r}")


class BasicLayer(nn.Module):
    """``depth`` Swin blocks, alternating plain and half-window-shifted windows."""

    def __init__(self, dim: int, *, depth: int, **kw) -> None:
        super().__init__()
        ws = kw["window_size"]
        self.blocks = nn.ModuleList(SwinBlock(dim, shift=0 if i % 2 == 0 else ws // 2, **kw) for i in range(depth))

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        for blk in self.blocks:
            x = blk(x, size)
        return x


class RSTB(nn.Module):
    """Residual Swin Transformer block on NCHW features: Swin blocks, a conv, and a skip."""

    def __init__(self, dim: int, *, depth: int, resi_connection: str, **kw) -> None:
        super().__init__()
        self.residual_group = BasicLayer(dim, depth=depth, **kw)
        self.conv = resi_conv(dim, resi_connection)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        t = self.residual_group(x.flatten(2).transpose(1, 2), (h, w))
        return self.conv(t.transpose(1, 2).reshape(b, c, h, w)) + x
