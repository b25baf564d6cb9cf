"""Decode an image file for upscaling: depth kept, EXIF orientation applied, ICC/EXIF kept, odd modes converted.

``srkd.data.io.read_image`` serves training and metrics (RGB, no metadata); a batch runner meets
everything a real folder holds, so this reader:

- keeps 8-bit and 16-bit samples (16-bit colour PNG/TIFF through OpenCV, which keeps the depth);
- keeps grey as HxW and alpha as a fourth channel; converts palette, 1-bit, grey+alpha, YCbCr and
  CMYK (through its ICC profile to sRGB when it has one) and says so in ``notes``;
- applies the EXIF orientation to the pixels and returns the EXIF with the orientation reset;
- takes the first frame of a multi-frame file, with a warning;
- refuses an image over ``max_pixels`` from its header, before decoding a byte of pixel data;
- turns empty, truncated, corrupt and non-image files into ImageReadError naming the file.
"""
from __future__ import annotations

import dataclasses
import io
import logging
import os
import re
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from srkd.data.quiet import captured_stderr, quiet_opencv
from srkd.errors import ImageReadError

log = logging.getLogger(__name__)
quiet_opencv()

DEFAULT_MAX_PIXELS = 40_000_000
ORIENTATION = 0x0112
# srkd checks the pixel count itself (max_pixels); Pillow's own warning would only repeat it
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Decoded:
    """Pixels as displayed (HxW grey, HxWx3 RGB, HxWx4 RGBA; uint8 or uint16) and the metadata to carry."""

    pixels: np.ndarray
    icc: bytes | None = None
    exif: bytes | None = None  # Pillow's "Exif\0\0"-prefixed block, orientation reset to 1
    notes: tuple[str, ...] = ()

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return int(self.pixels.shape[1]), int(self.pixels.shape[0])

    @property
    def grey(self) -> bool:
        return self.pixels.ndim == 2

    @property
    def has_alpha(self) -> bool:
        return self.pixels.ndim == 3 and self.pixels.shape[2] == 4


def read_for_upscale(path: str | os.PathLike, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Decoded:
    """Read and decode ``path`` (see the module docstring); ImageReadError names the file and the reason."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageReadError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return decode_image(data, name=str(path), max_pixels=max_pixels)


def _allow_pixels(max_pixels: int | None) -> None:
    """Lift Pillow's decompression-bomb limit only when the caller asked for more (srkd checks the count itself)."""
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and (max_pixels is None or max_pixels > 2 * limit):
        Image.MAX_IMAGE_PIXELS = None if max_pixels is None else max_pixels // 2 + 1


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def decode_image(data: bytes, *, name: str, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Decoded:
    """Decode the bytes of one image file; ``name`` is used in messages."""
    if not data:
        raise ImageReadError(f"{name}: empty file (0 bytes)")
    _allow_pixels(max_pixels)
    try:
        im = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:  # past Pillow's own limit, which is above max_pixels
        found = re.search(r"\((\d+) pixels\)", str(exc))
        count = f"{int(found.group(1)):,} pixels" if found else "too many pixels"
        raise ImageReadError(f"{name}: {count} is over --max-pixels {max_pixels or 0:,}; refused "
                             "(raise --max-pixels to allow it)") from None
    except UnidentifiedImageError:
        kind = _magic(data)
        what = f"corrupt {kind} file (its header cannot be read)" if kind else "not an image (unrecognised format)"
        raise ImageReadError(f"{name}: {what}") from None
    except Exception as exc:  # noqa: BLE001 - Pillow's plugins raise many types on malformed headers
        raise ImageReadError(f"{name}: corrupt {_magic(data) or 'image'} file ({_first_line(exc)})") from None
    w, h = im.size
    if max_pixels and w * h > max_pixels:
        raise ImageReadError(f"{name}: {w}x{h} = {w * h:,} pixels is over --max-pixels {max_pixels:,}; "
                             "refused (raise --max-pixels to allow it)")
    notes: list[str] = []
    frames = getattr(im, "n_frames", 1)
    if frames > 1:
        log.warning("%s: %d frames; upscaling the first only", name, frames)
        notes.append(f"first of {frames} frames only")
    icc = im.info.get("icc_profile") or None
    try:
        if _sixteen_bit_colour(im, data):
            if im.format == "PNG":
                im.load()  # Pillow decodes it (to 8 bits) first: damage is found here in words, not by libpng's print
            pixels = _decode_cv2(data, name)
        else:
            pixels, icc = _decode_pillow(im, icc, notes, name)
    except ImageReadError:
        raise
    except Exception as exc:  # noqa: BLE001 - truncated/corrupt data surfaces as OSError, SyntaxError, ...
        raise ImageReadError(f"{name}: corrupt or truncated image data ({_first_line(exc)})") from None
    exif, orientation = _exif(im, data)
    if orientation not in (1, None):
        pixels = apply_orientation(pixels, orientation)
        notes.append(f"EXIF orientation {orientation} applied")
    return Decoded(pixels=np.ascontiguousarray(pixels), icc=icc, exif=exif, notes=tuple(notes))


_MAGIC = ((b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"),
          (b"GIF8", "GIF"), (b"BM", "BMP"))


def _magic(data: bytes) -> str | None:
    """The format a file's first bytes announce, if any."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    return next((kind for magic, kind in _MAGIC if data.startswith(magic)), None)


def _sixteen_bit_colour(im: Image.Image, data: bytes) -> bool:
    """Pillow reads 16-bit RGB(A) as 8-bit; such files go through OpenCV instead."""
    if im.format == "PNG":
        return len(data) > 25 and data[24] == 16 and data[25] in (2, 4, 6)  # IHDR depth; RGB, grey+alpha, RGBA
    if im.format == "TIFF":
        bits = im.tag_v2.get(258, (8,))
        bits = bits if isinstance(bits, tuple) else (bits,)
        return max(bits) == 16 and im.mode not in ("I;16", "I;16B", "I;16L", "I;16N")
    return False


def _decode_cv2(data: bytes, name: str) -> np.ndarray:
    with captured_stderr() as said:  # libpng prints its complaint; it becomes the reason instead
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        why = f": {said[-1][:120]}" if said else ""
        raise ImageReadError(f"{name}: corrupt or truncated image data (16-bit decoder failed{why})")
    if img.dtype not in (np.uint8, np.uint16):
        raise ImageReadError(f"{name}: unsupported sample type {img.dtype} (expected 8- or 16-bit)")
    if img.ndim == 3 and img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)
    if img.ndim == 3 and img.shape[2] == 3:
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    if img.ndim == 3 and img.shape[2] == 1:
        return img[:, :, 0]
    return img


def _decode_pillow(im: Image.Image, icc: bytes | None, notes: list[str], name: str) -> tuple[np.ndarray, bytes | None]:
    im.seek(0)
    mode = im.mode
    if mode in ("RGB", "RGBA", "L"):
        return np.asarray(im), icc
    if mode.startswith("I;16"):
        return np.asarray(im).astype(np.uint16), icc
    if mode == "CMYK":
        return _cmyk_to_rgb(im, icc, notes), _srgb_profile() if icc else None
    if mode == "I":  # 32-bit integer grey: fine when the values fit 16 bits
        arr = np.asarray(im)
        if arr.size and (arr.min() < 0 or arr.max() > 65535):
            raise ImageReadError(f"{name}: 32-bit integer samples outside 0..65535 are not supported")
        notes.append("32-bit integer grey stored as 16-bit")
        return arr.astype(np.uint16), icc
    if mode == "F":
        raise ImageReadError(f"{name}: 32-bit float samples are not supported (expected 8- or 16-bit)")
    target = {"1": "L", "P": "RGBA" if "transparency" in im.info else "RGB", "PA": "RGBA", "LA": "RGBA",
              "La": "RGBA", "RGBa": "RGBA", "RGBX": "RGB", "YCbCr": "RGB", "HSV": "RGB"}.get(mode)
    if target is None:
        raise ImageReadError(f"{name}: unsupported image mode {mode!r}")
    notes.append(f"{_MODE_WORDS.get(mode, mode)} converted to {target}")
    return np.asarray(im.convert(target)), icc


_MODE_WORDS = {"1": "1-bit", "P": "palette", "PA": "palette+alpha", "LA": "grey+alpha"}


def _srgb_profile() -> bytes:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _cmyk_to_rgb(im: Image.Image, icc: bytes | None, notes: list[str]) -> np.ndarray:
    if icc:
        try:
            from PIL import ImageCms

            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            dst = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
            out = ImageCms.profileToProfile(im, src, dst, outputMode="RGB")
            notes.append("CMYK converted to sRGB through its ICC profile")
            return np.asarray(out)
        except Exception as exc:  # noqa: BLE001 - a broken profile falls back to the plain conversion
            log.warning("CMYK ICC conversion failed (%s); converting without the profile", _first_line(exc))
    notes.append("CMYK converted to RGB")
    return np.asarray(im.convert("RGB"))


def _exif(im: Image.Image, data: bytes) -> tuple[bytes | None, int | None]:
    """The EXIF block with orientation reset to 1, and the orientation the pixels were stored in."""
    if im.format == "PNG" and b"eXIf" not in data and b"Raw profile type exif" not in data:
        return None, None  # Pillow would decode the whole PNG looking for a late eXIf chunk
    try:
        exif = im.getexif()
        if not exif:
            return None, None
        orientation = exif.get(ORIENTATION)
        if orientation is not None:
            exif[ORIENTATION] = 1
        return exif.tobytes(), int(orientation) if orientation in range(1, 9) else None
    except Exception as exc:  # noqa: BLE001 - unreadable EXIF is dropped, the pixels are still good
        log.warning("unreadable EXIF dropped (%s)", _first_line(exc))
        return None, None


def apply_orientation(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Turn pixels stored with EXIF ``orientation`` (1-8) into the upright image (as Pillow's exif_transpose)."""
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
        8: lambda a: np.rot90(a, 1),
    }
    op = ops.get(orientation)
    return np.ascontiguousarray(op(pixels)) if op else pixels
