"""Overlap tiling: cut a large image into equal windows, run them, and cross-fade them back together.

An axis of ``length`` pixels is split into ``n = ceil(length / tile)`` equal cores; each window is
its core plus ``overlap`` pixels of context on both sides (shifted inwards at the image border, so
every window of one image has the same shape and they can run as one batch). A window's border
pixels see padding instead of the neighbouring image content and are the least accurate, so where
two windows overlap the outer quarter of the overlap on each side is taken from the window that
holds it in its interior and the middle half is cross-faded with a cosine ramp; the weights add up
to one, so flat regions stay flat and no seam is left. The extra work is about
``((tile + 2 * overlap) / tile) ** 2``. Arrays are float32 NCHW; any callable mapping such an array
to its upscaled version (``Runner.infer``) can be tiled.
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
    """Tile core side and the context added on each side, in input (LR) pixels; ``tile=None``: whole images."""

    tile: int | None = None
    overlap: int = 16

    def __post_init__(self) -> None:
        if self.tile is not None and self.tile < 1:
            raise ConfigError(f"tile size must be a positive number of pixels (or None), got {self.tile}")
        if self.overlap < 0:
            raise ConfigError(f"tile overlap must be >= 0, got {self.overlap}")


def fixed_tiles(side: int, *, overlap: int, tile: int | None) -> TileSettings:
    """Tiles for a model that takes ``side`` x ``side`` inputs only: every window is that side (padded when the
    image is smaller, with ``Runner.size_req``'s minimum), so the core is at most ``side - 2 * overlap``; the
    overlap is cut to a quarter of the side when it would leave less than half of it."""
    overlap = min(overlap, side // 4)
    core = side - 2 * overlap
    return TileSettings(tile=min(tile, core) if tile else core, overlap=overlap)


def fit_tile(tile: int, *, size_req: SizeReq) -> int:
    """``tile`` raised to the model's minimum and rounded up to its ``multiple_of``."""
    tile = max(tile, size_req.minimum)
    return math.ceil(tile / size_req.multiple_of) * size_req.multiple_of


def pad_to_size_req(x: np.ndarray, *, size_req: SizeReq) -> np.ndarray:
    """Pad the bottom/right of an NCHW array (reflect, or replicate for 1-pixel sides) to meet ``size_req``."""
    h, w = x.shape[2:]
    ph = fit_tile(h, size_req=size_req) - h
    pw = fit_tile(w, size_req=size_req) - w
    if ph == 0 and pw == 0:
        return x
    # np.pad's reflect needs a side longer than 1 and repeats the reflection for long pads: both fine
    mode = "reflect" if min(h, w) > 1 else "edge"
    return np.pad(x, ((0, 0), (0, 0), (0, ph), (0, pw)), mode=mode)


def infer_padded(fn: InferFn, x: np.ndarray, *, scale: int, size_req: SizeReq = SizeReq()) -> np.ndarray:
    """Run ``fn`` on ``x`` padded to ``size_req`` and crop the output back to ``scale`` x the input size."""
    h, w = x.shape[2:]
    y = fn(np.ascontiguousarray(pad_to_size_req(x, size_req=size_req), dtype=np.float32))
    return crop_output(y, h=h, w=w, scale=scale, shape=x.shape)


def crop_output(y: np.ndarray, *, h: int, w: int, scale: int, shape: tuple = ()) -> np.ndarray:
    """``y`` cropped to ``h * scale`` x ``w * scale``; ValueError when the model returned less."""
    if y.ndim != 4 or y.shape[2] < h * scale or y.shape[3] < w * scale:
        raise ValueError(f"model output {y.shape} is not x{scale} of its input {shape or (h, w)}")
    return y[:, :, : h * scale, : w * scale]


def axis_windows(length: int, *, tile: int | None, overlap: int,
                 size_req: SizeReq = SizeReq()) -> tuple[list[int], int]:
    """Window starts along one axis and the window side (``[0], length`` when one window covers it)."""
    if tile is None or length <= tile:
        return [0], length
    n = math.ceil(length / tile)
    core = math.ceil(length / n)
    win = fit_tile(core + 2 * overlap, size_req=size_req)
    if win >= length:
        return [0], length
    starts = sorted({min(max(i * core - overlap, 0), length - win) for i in range(n)})
    return starts, win


def _ramp(n: int) -> np.ndarray:
    """Rising weights over an overlap of ``n`` pixels: 0 on the first quarter, cosine, 1 on the last."""
    u = (np.arange(n, dtype=np.float64) + 0.5) / n
    v = np.clip((u - 0.25) * 2.0, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * v)


def axis_weights(starts: list[int], *, win: int, length: int, scale: int) -> list[np.ndarray]:
    """1-D output weights of each window along one axis, normalised so they sum to one at every pixel."""
    n = min(win, length) * scale
    weights, total = [], np.zeros(length * scale, dtype=np.float64)
    for i, s in enumerate(starts):
        w = np.ones(n, dtype=np.float64)
        if i > 0:
            left = (starts[i - 1] + win - s) * scale
            if left > 0:
                w[:left] *= _ramp(left)
        if i + 1 < len(starts):
            right = (s + win - starts[i + 1]) * scale
            if right > 0:
                w[n - right:] *= _ramp(right)[::-1]
        w = np.maximum(w, 1e-12)  # never zero, so every pixel has some weight
        total[s * scale: s * scale + n] += w
        weights.append(w)
    return [(w / total[s * scale: s * scale + n]).astype(np.float32) for s, w in zip(starts, weights)]


@dataclasses.dataclass(frozen=True, kw_only=True)
class TileGrid:
    """The windows of one image: cut them out with ``patch``, put the outputs back with ``place``."""

    height: int
    width: int
    scale: int
    ys: list[int]
    xs: list[int]
    win: tuple[int, int]
    wy: list[np.ndarray]
    wx: list[np.ndarray]
    size_req: SizeReq

    @classmethod
    def plan(cls, height: int, width: int, *, scale: int, settings: TileSettings,
             size_req: SizeReq = SizeReq()) -> "TileGrid":
        ys, wh = axis_windows(height, tile=settings.tile, overlap=settings.overlap, size_req=size_req)
        xs, ww = axis_windows(width, tile=settings.tile, overlap=settings.overlap, size_req=size_req)
        return cls(height=height, width=width, scale=scale, ys=ys, xs=xs, win=(wh, ww),
                   wy=axis_weights(ys, win=wh, length=height, scale=scale),
                   wx=axis_weights(xs, win=ww, length=width, scale=scale), size_req=size_req)

    def __len__(self) -> int:
        return len(self.ys) * len(self.xs)

    @property
    def patch_shape(self) -> tuple[int, int]:
        """Height and width of every patch handed to the model (windows padded to the size requirement)."""
        return fit_tile(self.win[0], size_req=self.size_req), fit_tile(self.win[1], size_req=self.size_req)

    def patch(self, x: np.ndarray, k: int) -> np.ndarray:
        """Window ``k`` (row-major) of the NCHW array ``x``, padded to ``patch_shape``."""
        y0, x0 = self.ys[k // len(self.xs)], self.xs[k % len(self.xs)]
        return pad_to_size_req(x[:, :, y0: y0 + self.win[0], x0: x0 + self.win[1]], size_req=self.size_req)

    def place(self, out: np.ndarray | None, k: int, y: np.ndarray) -> np.ndarray:
        """Add window ``k``'s output ``y`` (1xCxhxw, may be modified) into ``out``; returns ``out``."""
        y = crop_output(y, h=self.win[0], w=self.win[1], scale=self.scale)
        if len(self) == 1:
            return y
        if out is None:
            out = np.zeros((y.shape[0], y.shape[1], self.height * self.scale, self.width * self.scale), np.float32)
        i, j = divmod(k, len(self.xs))
        if not y.flags.writeable or y.dtype != np.float32:
            y = y.astype(np.float32)
        y *= np.outer(self.wy[i], self.wx[j])
        oy, ox = self.ys[i] * self.scale, self.xs[j] * self.scale
        out[:, :, oy: oy + y.shape[2], ox: ox + y.shape[3]] += y
        return out


def infer_tiled(
    fn: InferFn, x: np.ndarray, *, scale: int, settings: TileSettings = TileSettings(),
    size_req: SizeReq = SizeReq(), batch: int = 1,
) -> np.ndarray:
    """Upscale an NCHW float32 array with ``fn``, window by window (``batch`` at a time) when it exceeds the tile.

    Windows meet ``size_req`` (minimum, multiple_of) by padding; the output is exactly ``scale`` x
    the input size.
    """
    if x.ndim != 4:
        raise ValueError(f"expected an NCHW array, got shape {x.shape}")
    grid = TileGrid.plan(x.shape[2], x.shape[3], scale=scale, settings=settings, size_req=size_req)
    if len(grid) == 1:
        return infer_padded(fn, x, scale=scale, size_req=size_req)
    log.debug("tiling %dx%d into %d windows of %s", x.shape[2], x.shape[3], len(grid), grid.win)
    outs = []
    for n in range(x.shape[0]):
        out = None
        for k0 in range(0, len(grid), batch):
            ks = range(k0, min(k0 + batch, len(grid)))
            y = fn(np.ascontiguousarray(np.concatenate([grid.patch(x[n: n + 1], k) for k in ks]), dtype=np.float32))
            for i, k in enumerate(ks):
                out = grid.place(out, k, y[i: i + 1])
        outs.append(out)
    return np.concatenate(outs) if len(outs) > 1 else outs[0]
