"""Evaluation folders, in the layouts people have.

- benchmark layout (EDSR / SwinIR test sets): ``DIR/HR/*.png`` + ``DIR/LR_bicubic/X<s>/<name>x<s>.png``;
- HR only: ``DIR/HR/*.png`` or images directly in ``DIR`` (LR made with MATLAB-compatible bicubic);
- paired folders: HR in ``DIR`` and LR in another folder (``lr_dir``), matched by ``<name>x<s>`` or ``<name>``.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Iterator

import numpy as np

from srkd.data.imresize import imresize
from srkd.data.io import list_images, modcrop, read_image
from srkd.errors import DataError


@dataclasses.dataclass(frozen=True)
class Pair:
    name: str
    lr: np.ndarray  # HxWx3 uint8
    hr: np.ndarray  # (s*H)x(s*W)x3 uint8, modcropped
    lr_source: str  # "file" or "imresize"


def hr_folder(data: str | os.PathLike) -> Path:
    data = Path(data)
    if not data.is_dir():
        raise DataError(f"{data}: no such data folder")
    hr = data / "HR" if (data / "HR").is_dir() else data
    if not list_images(hr):
        raise DataError(f"{data}: no images found (expected DIR/HR/*.png or images directly in DIR)")
    return hr


def _lr_file(stem: str, scale: int, by_stem: dict[str, Path]) -> Path | None:
    for name in (f"{stem}x{scale}", f"{stem}_x{scale}", stem):
        if name in by_stem:
            return by_stem[name]
    return None


def iter_pairs(
    data: str | os.PathLike, *, scale: int, limit: int | None = None, lr_dir: str | os.PathLike | None = None,
) -> Iterator[Pair]:
    """LR/HR pairs in name order.

    LR comes from ``lr_dir`` when given (every HR image must have its LR there), else from
    ``DIR/LR_bicubic/X<s>`` when that holds the image, else from MATLAB-compatible bicubic.
    """
    hr_dir = hr_folder(data)
    paired = lr_dir is not None
    folder = Path(lr_dir) if paired else Path(data) / "LR_bicubic" / f"X{scale}"
    if paired and not folder.is_dir():
        raise DataError(f"{folder}: no such LR folder")
    by_stem = {p.stem: p for p in list_images(folder)} if folder.is_dir() else {}
    for path in list_images(hr_dir)[:limit]:
        hr = modcrop(read_image(path), scale)
        lr_path = _lr_file(path.stem, scale, by_stem)
        if paired and lr_path is None:
            raise DataError(f"{folder}: no LR image for {path.name} (expected {path.stem}x{scale}.* or {path.stem}.*)")
        if lr_path is not None:
            lr, source = read_image(lr_path), "file"
            if lr.shape[0] * scale != hr.shape[0] or lr.shape[1] * scale != hr.shape[1]:
                raise DataError(f"{lr_path}: size {lr.shape[1]}x{lr.shape[0]} does not match HR {path.name} / {scale}")
        else:
            lr, source = imresize(hr, scale=1 / scale), "imresize"
        yield Pair(path.stem, lr, hr, source)
