"""Image read/write at the edges of the API (uint8/uint16 HWC RGB on disk side, float NCHW inside)."""
from __future__ import annotations

import io
import logging
import os
import re
import warnings
from pathlib import Path

import cv2
import numpy as np
import torch

from srkd.data.quiet import captured_stderr, quiet_opencv
from srkd.errors import ImageReadError, one_line
from srkd.fsutil import atomic_path

log = logging.getLogger(__name__)
quiet_opencv()

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


DEFAULT_MAX_PIXELS = 40_000_000  # the pixel count above which a file is refused from its header alone


def read_image(path: str | os.PathLike, *, rgb: bool = True, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read an image as HxWx3 RGB (``rgb=True``: grey becomes 3 equal channels, alpha dropped) or as stored.

    8-bit and 16-bit files keep their dtype. The header is read first, and a file of more than
    ``max_pixels`` pixels (a decompression bomb) is refused before any pixel is decoded. Raises
    ImageReadError with the file name (and the decoder's own reason, never printed beside it).
    """
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"{path}: no such image file")
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as exc:
        raise ImageReadError(f"{path}: cannot read ({exc.strerror or type(exc).__name__})") from None
    if not data.size:
        raise ImageReadError(f"{path}: empty file (0 bytes); expected one of {', '.join(IMAGE_EXTS)}")
    _check_header(path, data, max_pixels=max_pixels)
    with captured_stderr() as said:
        img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if img is None:
        why = f" ({one_line(_plain(said[-1]), limit=120)})" if said else ""
        raise ImageReadError(f"{path}: not a readable image{why}; expected an intact {', '.join(IMAGE_EXTS)} file")
    if said:
        log.debug("%s: decoder said: %s", path, " | ".join(said))
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


def _plain(line: str) -> str:
    """A decoder's message without OpenCV's log prefix (``[ WARN:0@0.4] global grfmt_png.cpp:793 func ``)."""
    return re.sub(r"^\[[^\]]*\]\s*(global\s+)?\S+:\d+\s+\S+\s+", "", line)


def _check_header(path: Path, data: np.ndarray, *, max_pixels: int | None) -> None:
    """The size from the header (Pillow reads only that) within ``max_pixels``; files Pillow cannot
    identify go on to OpenCV, which reads a few formats more."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data.tobytes())) as im:
                w, h = im.size
    except UnidentifiedImageError:
        return
    except Image.DecompressionBombError as exc:  # over Pillow's own limit, so far over ours
        found = re.search(r"\((\d+) pixels\)", str(exc))
        count = f"{int(found.group(1)):,} pixels" if found else "the pixel count"
        raise ImageReadError(f"{path}: {count} is over the limit of {max_pixels or 0:,}; refused (a decompression "
                             "bomb, or an image far larger than srkd's inputs)") from None
    except Exception as exc:  # noqa: BLE001 - Pillow's format plugins raise many types on a damaged header
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ImageReadError(f"{path}: not a readable image (damaged header: {one_line(first, limit=120)}); expected "
                             f"an intact {', '.join(IMAGE_EXTS)} file") from None
    if max_pixels and w * h > max_pixels:
        raise ImageReadError(f"{path}: {w}x{h} = {w * h:,} pixels is over the limit of {max_pixels:,}; refused "
                             "(a decompression bomb, or an image far larger than srkd's inputs)")


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
