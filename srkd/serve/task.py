"""One image's way through the model: from pixels to the planes the model runs, and back to pixels.

``prepare`` turns an HxW / HxWx3 / HxWx4 uint8, uint16 or float image into float32 NCHW planes in
[0, 1]: the colour (grey repeated to three channels for an RGB model) and, with ``alpha="model"``,
the alpha channel as a second plane of its own (repeated to the model's channels, so it batches with
the colour tiles). ``finish`` takes the model's outputs back to an image of the input's kind: grey
stays grey (mean of the output channels), alpha is the model's output plane or a bicubic resize,
``outscale`` resizes the result to another final scale, and the dtype is the input's.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import cv2
import numpy as np

from srkd.errors import ConfigError

ALPHA_MODES = ("bicubic", "model")


@dataclasses.dataclass(frozen=True, kw_only=True)
class ImageOptions:
    """``alpha``: ``bicubic`` (resize the alpha channel) or ``model`` (its own pass through the model).

    ``outscale``: the final scale when it differs from the model's (the output is resized after the model).
    """

    alpha: str = "bicubic"
    outscale: float | None = None

    def __post_init__(self) -> None:
        if self.alpha not in ALPHA_MODES:
            raise ConfigError(f"unknown alpha mode {self.alpha!r}; expected one of {', '.join(ALPHA_MODES)}")
        if self.outscale is not None and not (0 < self.outscale <= 64):
            raise ConfigError(f"outscale must be in (0, 64], got {self.outscale}")


@dataclasses.dataclass(kw_only=True, eq=False)
class ImageTask:
    """The planes one image sends through the model, and what ``finish`` needs to rebuild it."""

    planes: list[np.ndarray]  # 1xCxHxW float32 in [0, 1]
    dtype: np.dtype
    grey: bool
    alpha: np.ndarray | None  # HxW float32, resized with bicubic in ``finish``
    alpha_planes: int  # 1 when the last plane is the alpha channel
    key: Any = None  # the caller's id for the image
    meta: Any = None  # whatever the caller carries along (decoded metadata, the job)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the input."""
        return int(self.planes[0].shape[3]), int(self.planes[0].shape[2])


def peak(dtype: np.dtype) -> float:
    """The value of white: 255, 65535, or 1.0 for float images."""
    if dtype == np.uint8:
        return 255.0
    if dtype == np.uint16:
        return 65535.0
    if np.issubdtype(dtype, np.floating):
        return 1.0
    raise ConfigError(f"unsupported image dtype {dtype}; expected uint8, uint16 or float in [0, 1]")


def _plane(chw: np.ndarray, channels: int) -> np.ndarray:
    if chw.shape[0] == 1 and channels == 3:
        chw = np.repeat(chw, 3, axis=0)
    return np.ascontiguousarray(chw[None], dtype=np.float32)


def prepare(image: np.ndarray, *, in_channels: int, options: ImageOptions = ImageOptions(), key: Any = None,
            meta: Any = None) -> ImageTask:
    """Planes for an HxW / HxWx1 / HxWx3 / HxWx4 image (see the module docstring)."""
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or image.size == 0:
        raise ConfigError(f"expected an HxW or HxWxC image array, got {getattr(image, 'shape', type(image))}")
    channels = 1 if image.ndim == 2 else image.shape[2]
    if channels not in (1, 3, 4):
        raise ConfigError(f"expected 1, 3 or 4 channels, got {channels}")
    scale = 1.0 / peak(image.dtype)
    hwc = image.reshape(image.shape[0], image.shape[1], -1)
    colour = hwc[:, :, : min(channels, 3)].transpose(2, 0, 1).astype(np.float32)
    colour *= scale
    if colour.shape[0] != in_channels and not (colour.shape[0] == 1 and in_channels == 3):
        raise ConfigError(f"the model takes {in_channels}-channel input, "
                          f"the image has {colour.shape[0]} colour channel(s)")
    planes, alpha = [_plane(colour, in_channels)], None
    if channels == 4:
        a = hwc[:, :, 3].astype(np.float32) * scale
        if options.alpha == "model":
            planes.append(_plane(a[None], in_channels) if in_channels == 3 else a[None, None])
        else:
            alpha = a
    return ImageTask(planes=planes, dtype=image.dtype, grey=channels == 1, alpha=alpha,
                     alpha_planes=len(planes) - 1, key=key, meta=meta)


def output_size(width: int, height: int, *, scale: int, outscale: float | None) -> tuple[int, int]:
    """(width, height) of the result: ``scale`` x the input, or ``outscale`` x when given."""
    if outscale is None:
        return width * scale, height * scale
    return max(1, math.floor(width * outscale + 0.5)), max(1, math.floor(height * outscale + 0.5))


def _resize(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if (img.shape[1], img.shape[0]) == size:
        return img
    shrink = size[0] < img.shape[1]
    out = cv2.resize(np.ascontiguousarray(img), size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LANCZOS4)
    return out


def finish(task: ImageTask, outputs: list[np.ndarray], *, scale: int,
           options: ImageOptions = ImageOptions()) -> np.ndarray:
    """The upscaled image, same kind (grey/RGB/RGBA) and dtype as the input, from the model's ``outputs``."""
    y = outputs[0][0].transpose(1, 2, 0)  # HxWxC view
    if task.grey:
        y = y.mean(axis=2, dtype=np.float32) if y.shape[2] > 1 else y[:, :, 0]
    elif y.shape[2] == 1:
        y = np.repeat(y, 3, axis=2)
    w, h = task.size
    size = output_size(w, h, scale=scale, outscale=options.outscale)
    y = _resize(y, size)
    if task.alpha_planes:
        a = _resize(outputs[-1][0].mean(axis=0, dtype=np.float32), size)
    elif task.alpha is not None:
        a = cv2.resize(task.alpha, size, interpolation=cv2.INTER_CUBIC)
    else:
        a = None
    if a is not None:
        y = np.concatenate([y, a[:, :, None]], axis=2)
    return to_dtype(y, task.dtype)


def to_dtype(y: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Clip to [0, 1] and scale/round to ``dtype`` (in place where possible: outputs are large)."""
    if not y.flags.writeable or y.dtype != np.float32:
        y = y.astype(np.float32)
    y = np.clip(y, 0.0, 1.0, out=y)
    if np.issubdtype(dtype, np.floating):
        return np.ascontiguousarray(y, dtype=np.float32)
    y *= peak(dtype)
    return np.ascontiguousarray(np.rint(y, out=y), dtype=dtype)
