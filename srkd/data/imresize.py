"""MATLAB-compatible ``imresize(..., 'bicubic')`` (antialiased), for numpy and torch.

Bit-exact with MATLAB on uint8: each pass is computed in float64 and, for uint8
input, rounded (half away from zero) and saturated between the two passes, the
dimension with the smaller scale factor first (height first on ties).
"""
from __future__ import annotations

import functools
import math

import numpy as np
import torch


def _cubic(x: np.ndarray) -> np.ndarray:
    ax = np.abs(x)
    ax2, ax3 = ax**2, ax**3
    return (1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1) + (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2))


@functools.lru_cache(maxsize=256)
def resize_matrix(in_len: int, out_len: int, scale: float, antialias: bool = True) -> np.ndarray:
    """The (out_len, in_len) float64 matrix MATLAB's ``contributions`` describes (symmetric padding folded in)."""
    kernel_width = 4.0
    if scale < 1 and antialias:
        kernel = lambda t: scale * _cubic(scale * t)  # noqa: E731
        kernel_width /= scale
    else:
        kernel = _cubic
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - kernel_width / 2)
    taps = int(math.ceil(kernel_width)) + 2
    ind = left[:, None] + np.arange(taps)[None, :]
    weights = kernel(u[:, None] - ind)
    weights = weights / weights.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
    src = mirror[np.mod(ind.astype(np.int64) - 1, len(mirror))]
    mat = np.zeros((out_len, in_len), dtype=np.float64)
    for j in range(taps):  # MATLAB drops all-zero columns; they add nothing here either
        np.add.at(mat, (np.arange(out_len), src[:, j]), weights[:, j])
    return mat


def _out_len(in_len: int, scale: float) -> int:
    return int(math.ceil(in_len * scale - 1e-9))


def _round_u8(a: np.ndarray) -> np.ndarray:
    return np.clip(np.floor(a + 0.5), 0, 255)


def imresize(img: np.ndarray, *, scale: float) -> np.ndarray:
    """Resize an HxW or HxWxC image by ``scale`` like MATLAB; uint8 in -> uint8 out, float in -> float64 out."""
    is_u8 = img.dtype == np.uint8
    a = img.astype(np.float64)
    h, w = a.shape[:2]
    mh = resize_matrix(h, _out_len(h, scale), scale)
    mw = resize_matrix(w, _out_len(w, scale), scale)
    a = np.tensordot(mh, a, axes=(1, 0))  # height first (equal scales)
    if is_u8:
        a = _round_u8(a)
    a = np.moveaxis(np.tensordot(mw, a, axes=(1, 1)), 0, 1)
    if is_u8:
        return _round_u8(a).astype(np.uint8)
    return a


def imresize_torch(x: torch.Tensor, *, scale: float) -> torch.Tensor:
    """MATLAB bicubic on a float NCHW tensor (no rounding between passes); differentiable."""
    h, w = x.shape[-2:]
    mh = torch.from_numpy(resize_matrix(h, _out_len(h, scale), scale)).to(x.device, x.dtype)
    mw = torch.from_numpy(resize_matrix(w, _out_len(w, scale), scale)).to(x.device, x.dtype)
    return torch.einsum("oh,nchw,pw->ncop", mh, x, mw)
