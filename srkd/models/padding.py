"""Pad NCHW tensors to a size requirement inside a model, and crop the output back."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from srkd.models.spec import SizeReq


def pad_bottom_right(x: torch.Tensor, ph: int, pw: int) -> torch.Tensor:
    """Pad ``ph`` rows and ``pw`` columns: reflect as far as the image allows, replicate beyond."""
    if not ph and not pw:
        return x
    h, w = x.shape[2:]
    rh, rw = min(ph, h - 1), min(pw, w - 1)
    if rh or rw:
        x = F.pad(x, (0, rw, 0, rh), mode="reflect")
    if ph > rh or pw > rw:
        x = F.pad(x, (0, pw - rw, 0, ph - rh), mode="replicate")
    return x


def pad_to_req(x: torch.Tensor, req: SizeReq) -> torch.Tensor:
    """Pad bottom/right so both sides are >= ``req.minimum`` and multiples of ``req.multiple_of``."""
    h, w = x.shape[2:]
    th, tw = max(h, req.minimum), max(w, req.minimum)
    th += (-th) % req.multiple_of
    tw += (-tw) % req.multiple_of
    return pad_bottom_right(x, th - h, tw - w)


def forward_padded(fn, x: torch.Tensor, *, req: SizeReq, scale: int) -> torch.Tensor:
    """``fn(x)`` for an input below ``req``: pad bottom/right as inference does, run, crop to ``scale`` x."""
    h, w = x.shape[2:]
    padded = pad_to_req(x, req)
    if padded.shape[2:] == x.shape[2:]:
        return fn(x)
    return fn(padded)[:, :, : h * scale, : w * scale]
