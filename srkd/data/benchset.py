"""Benchmark folders: ``DIR/HR/*.png`` and optionally ``DIR/LR_bicubic/X<s>/<name>x<s>.png``."""
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


def iter_pairs(data: str | os.PathLike, *, scale: int, limit: int | None = None) -> Iterator[Pair]:
    """LR/HR pairs in name order; LR from ``LR_bicubic/X<s>`` when present, else MATLAB imresize."""
    hr_dir = hr_folder(data)
    lr_dir = Path(data) / "LR_bicubic" / f"X{scale}"
    for path in list_images(hr_dir)[:limit]:
        hr = modcrop(read_image(path), scale)
        lr_path = lr_dir / f"{path.stem}x{scale}{path.suffix}"
        if lr_path.is_file():
            lr, source = read_image(lr_path), "file"
            if lr.shape[0] * scale != hr.shape[0] or lr.shape[1] * scale != hr.shape[1]:
                raise DataError(f"{lr_path}: size {lr.shape[1]}x{lr.shape[0]} does not match HR {path.name} / {scale}")
        else:
            lr, source = imresize(hr, scale=1 / scale), "imresize"
        yield Pair(path.stem, lr, hr, source)
