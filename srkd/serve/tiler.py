"""Overlap tiling: run a network on tiles of a large image and cross-fade them back together.

Each tile is run on its own, so its border pixels see zero padding instead of the neighbouring
image content and are the least accurate. Where two tiles overlap, the outer quarter of the overlap
on each side is taken from the tile that holds it in its interior, and the middle half is
cross-faded with a cosine ramp; the weights of neighbouring tiles add up to one, so flat regions
stay flat and no seam is left. Inputs are float32 NCHW arrays; any callable mapping such an array
to its upscaled version (``Runner.infer``, a lambda around a torch module) can be tiled.
"""
from __future__ import annotations

import dataclasses
import logging
import math
from typing import Callable

import numpy as np

from srkd.errors import ConfigError
from srkd.models.spec import SizeReq

log = logging.getLogger(__name__)

InferFn = Callable[[np.ndarray], np.ndarray]


@dataclasses.dataclass(frozen=True, kw_only=True)
class TileSettings:
    """Tile side and overlap in input (low-resolution) pixels; ``tile=None`` runs whole images."""

    tile: int | None = None
    overlap: int = 32

    def __post_init__(self) -> None:
        if self.tile is not None and self.tile < 1:
            raise ConfigError(f"tile size must be a positive number of pixels (or None), got {self.tile}")
        if self.overlap < 0:
            raise ConfigError(f"tile overlap must be >= 0, got {self.overlap}")
        if self.tile is not None and self.overlap >= self.tile:
            raise ConfigError(f"tile overlap ({self.overlap}) must be smaller than the tile ({self.tile})")


def fit_tile(tile: int, *, size_req: SizeReq) -> int:
    """``tile`` raised to the model's minimum and rounded up to its ``multiple_of``."""
    tile = max(tile, size_req.minimum)
    return math.ceil(tile / size_req.multiple_of) * size_req.multiple_of


def pad_to_size_req(x: np.ndarray, *, size_req: SizeReq) -> np.ndarray:
    """Reflect-pad the bottom/right of an NCHW array so both sides meet ``size_req``."""
    h, w = x.shape[2:]
    ph = fit_tile(h, size_req=size_req) - h
    pw = fit_tile(w, size_req=size_req) - w
    if ph == 0 and pw == 0:
        return x
    mode = "reflect" if min(h, w) > 1 else "edge"  # reflecting a single row would repeat it anyway
    return np.pad(x, ((0, 0), (0, 0), (0, ph), (0, pw)), mode=mode)


def infer_padded(fn: InferFn, x: np.ndarray, *, scale: int, size_req: SizeReq = SizeReq()) -> np.ndarray:
    """Run ``fn`` on ``x`` padded to ``size_req`` and crop the output back to ``scale`` x the input size."""
    h, w = x.shape[2:]
    y = fn(np.ascontiguousarray(pad_to_size_req(x, size_req=size_req), dtype=np.float32))
    if y.ndim != 4 or y.shape[2] < h * scale or y.shape[3] < w * scale:
        raise ValueError(f"model output {y.shape} is not x{scale} of its input {x.shape}")
    return y[:, :, : h * scale, : w * scale]


def tile_starts(length: int, *, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of side ``tile`` covering ``length``; the last one ends at ``length``."""
    if length <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return starts


def _ramp(n: int) -> np.ndarray:
    """Rising weights over an overlap of ``n`` pixels: 0 on the first quarter, cosine, 1 on the last."""
    u = (np.arange(n, dtype=np.float64) + 0.5) / n
    v = np.clip((u - 0.25) * 2.0, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * v)


def axis_weights(starts: list[int], *, tile: int, length: int, scale: int) -> list[np.ndarray]:
    """1-D output weights of each tile along one axis, normalised so they sum to one at every pixel."""
    n = min(tile, length) * scale
    weights, total = [], np.zeros(length * scale, dtype=np.float64)
    for i, s in enumerate(starts):
        w = np.ones(n, dtype=np.float64)
        if i > 0:
            left = (starts[i - 1] + tile - s) * scale
            if left > 0:
                w[:left] *= _ramp(left)
        if i + 1 < len(starts):
            right = (s + tile - starts[i + 1]) * scale
            if right > 0:
                w[n - right:] *= _ramp(right)[::-1]
        w = np.maximum(w, 1e-12)  # never zero, so every pixel has some weight
        total[s * scale: s * scale + n] += w
        weights.append(w)
    return [(w / total[s * scale: s * scale + n]).astype(np.float32) for s, w in zip(starts, weights)]


def infer_tiled(
    fn: InferFn, x: np.ndarray, *, scale: int, settings: TileSettings = TileSettings(),
    size_req: SizeReq = SizeReq(),
) -> np.ndarray:
    """Upscale an NCHW float32 array with ``fn``, tile by tile when it is larger than the tile.

    Tiles meet ``size_req`` (minimum, multiple_of) by reflect padding; the output is cropped back
    to exactly ``scale`` x the input size.
    """
    if x.ndim != 4:
        raise ValueError(f"expected an NCHW array, got shape {x.shape}")
    n, _, h, w = x.shape
    if settings.tile is None or (h <= settings.tile and w <= settings.tile):
        return infer_padded(fn, x, scale=scale, size_req=size_req)
    tile = fit_tile(settings.tile, size_req=size_req)
    overlap = min(settings.overlap, tile - 1)
    ys, xs = tile_starts(h, tile=tile, overlap=overlap), tile_starts(w, tile=tile, overlap=overlap)
    wy = axis_weights(ys, tile=tile, length=h, scale=scale)
    wx = axis_weights(xs, tile=tile, length=w, scale=scale)
    log.debug("tiling %dx%d into %d x %d tiles of %d (overlap %d)", h, w, len(ys), len(xs), tile, overlap)
    out: np.ndarray | None = None
    for y0, wgt_y in zip(ys, wy):
        for x0, wgt_x in zip(xs, wx):
            patch = x[:, :, y0: y0 + tile, x0: x0 + tile]
            y = infer_padded(fn, patch, scale=scale, size_req=size_req)
            if out is None:
                out = np.zeros((n, y.shape[1], h * scale, w * scale), dtype=np.float32)
            oy, ox = y0 * scale, x0 * scale
            out[:, :, oy: oy + y.shape[2], ox: ox + y.shape[3]] += y * np.outer(wgt_y, wgt_x)
    assert out is not None
    return out
