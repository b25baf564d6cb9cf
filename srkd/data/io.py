"""Image read/write at the edges of the API (uint8/uint16 HWC RGB on disk side, float NCHW inside)."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import torch

from srkd.errors import ImageReadError
from srkd.fsutil import atomic_path

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def read_image(path: str | os.PathLike, *, rgb: bool = True) -> np.ndarray:
    """Read an image as HxWx3 RGB (``rgb=True``: grey becomes 3 equal channels, alpha dropped) or as stored.

    8-bit and 16-bit files keep their dtype. Raises ImageReadError with the file name.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"{path}: no such image file")
    data = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None:
        raise ImageReadError(f"{path}: not a readable image (expected one of {', '.join(IMAGE_EXTS)})")
    if img.dtype not in (np.uint8, np.uint16):
        raise ImageReadError(f"{path}: unsupported sample type {img.dtype} (expected 8- or 16-bit)")
    if img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)
    elif img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    if rgb:
        if img.ndim == 2:
            img = np.repeat(img[:, :, None], 3, axis=2)
        elif img.shape[2] == 4:
            img = img[:, :, :3]
    return np.ascontiguousarray(img)


def write_image(path: str | os.PathLike, img: np.ndarray, *, overwrite: bool = True) -> None:
    """Write an HxW / HxWx3 RGB / HxWx4 RGBA uint8 or uint16 image atomically."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path}: exists (pass overwrite to replace it)")
    if img.ndim == 3 and img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_RGBA2BGRA)
    ok, buf = cv2.imencode(path.suffix.lower() or ".png", img)
    if not ok:
        raise ImageReadError(f"{path}: cannot encode an image with extension {path.suffix!r}")
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.tobytes())


def list_images(folder: str | os.PathLike, *, recursive: bool = False) -> list[Path]:
    """Image files in ``folder`` (sorted), by extension."""
    folder = Path(folder)
    pattern = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in pattern if p.is_file() and p.suffix.lower() in IMAGE_EXTS and not p.name.startswith("."))


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """HxWxC uint8/uint16 -> 1xCxHxW float32 in [0, 1]."""
    peak = 65535.0 if img.dtype == np.uint16 else 255.0
    if img.ndim == 2:
        img = img[:, :, None]
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float().div_(peak).unsqueeze(0)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """1xCxHxW (or CxHxW) float in [0, 1] -> HxWxC uint8, clamped and rounded."""
    if x.ndim == 4:
        x = x[0]
    return x.detach().float().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()


def modcrop(img: np.ndarray, scale: int) -> np.ndarray:
    """Crop H and W down to multiples of ``scale``."""
    h, w = img.shape[:2]
    return img[: h - h % scale, : w - w % scale]
