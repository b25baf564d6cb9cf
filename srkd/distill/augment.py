"""AugKD's unpaired augmentations: zoom-in tiles, invertible label-consistency transforms, zoom-out.

An invertible transform F is four per-sample flags applied in the order
(invert, hflip, vflip, transpose); its inverse applies the same (self-inverse) steps in the
reverse order. (Re-applying them in forward order, as AugKD's released code does, leaves a
180-degree rotation whenever a flip and the transpose are both drawn.)
"""
from __future__ import annotations

import torch

from srkd.data.imresize import imresize_torch

OPS = ("invert", "hflip", "vflip", "transpose")


def zoom_in_tiles(hr: torch.Tensor, *, scale: int, cells: list[int]) -> torch.Tensor:
    """Cut the HR patch (s*h x s*h) into an s x s grid of h x h tiles; return the chosen ``cells``
    (row-major indices in [0, s*s)), stacked along the batch: (len(cells)*B, C, h, h)."""
    n, c, hh, ww = hr.shape
    if hh % scale or ww % scale:
        raise ValueError(f"HR patch {hh}x{ww} is not divisible by scale {scale}")
    th, tw = hh // scale, ww // scale
    tiles = []
    for cell in cells:
        if not 0 <= cell < scale * scale:
            raise ValueError(f"cell {cell} is outside the {scale}x{scale} grid")
        r, q = divmod(cell, scale)
        tiles.append(hr[:, :, r * th : (r + 1) * th, q * tw : (q + 1) * tw])
    return torch.cat(tiles, dim=0) if tiles else hr.new_empty(0, c, th, tw)


def draw_flags(n: int, *, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """(n, 4) booleans: for each sample, whether each op of OPS is applied (each with probability p)."""
    return torch.rand(n, len(OPS), generator=generator) < p


def _select(mask: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.where(mask.to(a.device).view(-1, 1, 1, 1), a, b)


def _step(x: torch.Tensor, op: str, mask: torch.Tensor) -> torch.Tensor:
    if op == "invert":
        return _select(mask, 1.0 - x, x)
    if op == "hflip":
        return _select(mask, x.flip(-1), x)
    if op == "vflip":
        return _select(mask, x.flip(-2), x)
    if x.shape[-1] != x.shape[-2]:
        raise ValueError(f"transpose needs square samples, got {tuple(x.shape[-2:])}")
    return _select(mask, x.transpose(-1, -2), x)


def apply_forward(x: torch.Tensor, flags: torch.Tensor) -> torch.Tensor:
    """F(x): the flagged ops in the order invert, hflip, vflip, transpose."""
    for i, op in enumerate(OPS):
        x = _step(x, op, flags[:, i])
    return x


def apply_inverse(y: torch.Tensor, flags: torch.Tensor) -> torch.Tensor:
    """F^-1(y): the same ops in reverse order (each op is its own inverse)."""
    for i, op in reversed(list(enumerate(OPS))):
        y = _step(y, op, flags[:, i])
    return y


def zoom_out(lq: torch.Tensor, *, scale: int) -> torch.Tensor:
    """``matlab_bicubic(lq, 1/s)``: the LR patch shrunk once more, so the LR patch is its label."""
    h, w = lq.shape[-2:]
    if h % scale or w % scale:
        raise ValueError(f"LR patch {h}x{w} is not divisible by scale {scale}: zoom-out needs patch % scale == 0")
    return imresize_torch(lq, scale=1.0 / scale)
