"""The Python API: ``srkd.load(model).upscale(image)``.

>>> up = srkd.load("edsr-x4")                    # or a bundle folder, or a student .safetensors/.pth
>>> big = up.upscale(img)                        # HxWx3 / HxW / HxWx4, uint8 or uint16 -> same kind
"""
from __future__ import annotations

import os

import numpy as np

from srkd.errors import ConfigError
from srkd.export.runners.base import Runner
from srkd.models.spec import ModelSpec
from srkd.serve.loader import open_model
from srkd.serve.tiler import TileSettings, infer_tiled


class Upscaler:
    """An active Runner plus tiling; ``upscale`` maps numpy images to numpy images of the same kind."""

    def __init__(self, runner: Runner, *, tiles: TileSettings = TileSettings(), label: str = "") -> None:
        self.runner = runner.activate()
        self.tiles = tiles
        self.label = label or runner.spec.arch

    @property
    def spec(self) -> ModelSpec:
        return self.runner.spec

    @property
    def scale(self) -> int:
        """The model's upscaling factor."""
        return self.spec.scale

    @property
    def name(self) -> str:
        """What runs the model, e.g. ``torch:fp32``."""
        return self.runner.name

    def infer(self, x: np.ndarray) -> np.ndarray:
        """Float32 NCHW [0, 1] in, float32 NCHW out (unclipped), tiled as configured."""
        return infer_tiled(self.runner.infer, x, scale=self.scale, settings=self.tiles, size_req=self.spec.size_req)

    def upscale(self, image: np.ndarray) -> np.ndarray:
        """Upscale an HxWx3 RGB, HxWx4 RGBA, HxWx1 or HxW grey image by ``scale``.

        uint8 and uint16 come back in the same dtype (rounded); float arrays are read as [0, 1] and
        come back as float32 clipped to [0, 1]. Alpha is resized with bicubic interpolation.
        """
        if not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or image.size == 0:
            raise ConfigError(f"expected an HxW or HxWxC image array, got {getattr(image, 'shape', type(image))}")
        channels = 1 if image.ndim == 2 else image.shape[2]
        if channels not in (1, 3, 4):
            raise ConfigError(f"expected 1, 3 or 4 channels, got {channels}")
        peak = _peak(image.dtype)
        img = image.astype(np.float32) / peak
        alpha = img[:, :, 3] if channels == 4 else None
        rgb = img.reshape(img.shape[0], img.shape[1], -1)[:, :, : min(channels, 3)]
        need = self.spec.in_channels
        if rgb.shape[2] == 1 and need == 3:
            rgb = np.repeat(rgb, 3, axis=2)
        elif rgb.shape[2] != need:
            raise ConfigError(f"the model takes {need}-channel input, the image has {rgb.shape[2]} colour channel(s)")
        y = self.infer(np.ascontiguousarray(rgb.transpose(2, 0, 1)[None]))[0].transpose(1, 2, 0)
        if channels == 1 and y.shape[2] == 3:
            y = y.mean(axis=2, keepdims=True)
        if alpha is not None:
            import cv2

            a = cv2.resize(alpha, (y.shape[1], y.shape[0]), interpolation=cv2.INTER_CUBIC)
            y = np.concatenate([y, a[:, :, None]], axis=2)
        if image.ndim == 2:
            y = y[:, :, 0]
        return _to_dtype(y, image.dtype, peak)

    def close(self) -> None:
        """Release the backend's session/engine."""
        self.runner.deactivate()

    def __enter__(self) -> "Upscaler":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Upscaler({self.label!r}, x{self.scale}, {self.name}, tile={self.tiles.tile})"


def _peak(dtype: np.dtype) -> float:
    if dtype == np.uint8:
        return 255.0
    if dtype == np.uint16:
        return 65535.0
    if np.issubdtype(dtype, np.floating):
        return 1.0
    raise ConfigError(f"unsupported image dtype {dtype}; expected uint8, uint16 or float in [0, 1]")


def _to_dtype(y: np.ndarray, dtype: np.dtype, peak: float) -> np.ndarray:
    """Clip/scale/round in place: large outputs should not be copied more than once."""
    if not y.flags.writeable or y.dtype != np.float32:
        y = y.astype(np.float32)
    y = np.clip(y, 0.0, 1.0, out=y)
    if np.issubdtype(dtype, np.floating):
        return np.ascontiguousarray(y, dtype=np.float32)
    y *= peak
    return np.ascontiguousarray(np.rint(y, out=y), dtype=dtype)


def load(
    model: str | os.PathLike | None = None, *, backend: str = "auto", device: str = "auto",
    tile: int | None = None, tile_overlap: int = 32, precision: str = "fp32",
) -> Upscaler:
    """Load ``model`` (bundle folder, student file, shipped name; default the shipped model) for upscaling.

    ``backend``: auto | torch | onnxruntime; ``device``: auto | cpu | cuda; ``tile``: tile side in
    input pixels (None runs whole images), with ``tile_overlap`` pixels of cross-faded overlap.
    """
    if model is None:
        from srkd.zoo import DEFAULT_MODEL

        model = DEFAULT_MODEL
    tiles = TileSettings(tile=tile or None, overlap=tile_overlap)
    runner = open_model(model, backend=backend, device=device, precision=precision)
    return Upscaler(runner, tiles=tiles, label=str(model))
