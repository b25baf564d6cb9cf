"""Calibration inputs for INT8: LR patches cut from real photos.

Where the photos come from, in order: ``--calib DIR``; else the training folders recorded in the
student's provenance (``provenance.data``), when they exist here; else the parity photos. The LR
patches are MATLAB-bicubic downscales of HR crops, the same degradation the student was trained on.
"""
from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from srkd.data.imresize import imresize
from srkd.data.io import list_images, read_image
from srkd.errors import DataError

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, kw_only=True)
class CalibSource:
    """Where calibration photos come from: ``kind`` is calib|provenance|parity; ``paths`` the image files."""

    kind: str
    label: str
    paths: tuple[Path, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "source": self.label, "images_available": len(self.paths)}


def _images_under(folders: Sequence[str | os.PathLike]) -> list[Path]:
    paths: list[Path] = []
    for folder in folders:
        if Path(folder).is_dir():
            paths += list_images(folder, recursive=True)
    return sorted(paths)


def _provenance_folders(meta: dict[str, Any], *, base: Path | None) -> list[Path]:
    data = (meta.get("provenance") or {}).get("data") or []
    found = []
    for item in [data] if isinstance(data, str) else data:
        path = Path(item)
        candidates = [path] if path.is_absolute() else [Path.cwd() / path] + ([base / path] if base else [])
        found += [c for c in candidates if c.is_dir()][:1]
    return found


def find_calib_source(calib: str | os.PathLike | None, *, meta: dict[str, Any], student: Path | None = None) -> CalibSource:
    """Resolve where calibration photos come from (see the module docstring).

    ``calib`` given and empty or missing is a DataError; missing provenance folders fall through to
    the parity photos with a log line saying so.
    """
    if calib is not None:
        paths = _images_under([calib])
        if not paths:
            raise DataError(f"{calib}: no calibration images found (png/jpg/bmp/tif/webp, searched recursively)")
        return CalibSource(kind="calib", label=str(calib), paths=tuple(paths))
    folders = _provenance_folders(meta, base=student.parent if student else None)
    paths = _images_under(folders)
    if paths:
        return CalibSource(kind="provenance", label=", ".join(map(str, folders)), paths=tuple(paths))
    recorded = (meta.get("provenance") or {}).get("data")
    if recorded:
        log.warning("calibration: training data %s recorded in the student is not here; using the parity photos", recorded)
    return CalibSource(kind="parity", label="parity photos")


def _random_crop(img: np.ndarray, side: int, rng: np.random.Generator) -> np.ndarray:
    h, w = img.shape[:2]
    y = int(rng.integers(0, h - side + 1)) if h > side else 0
    x = int(rng.integers(0, w - side + 1)) if w > side else 0
    return img[y : y + side, x : x + side]


def calibration_patches(
    source: CalibSource, *, count: int, patch: int, scale: int, parity_photos: Sequence[np.ndarray] = (),
    multiple_of: int = 1, seed: int = 0,
) -> np.ndarray:
    """``count`` LR patches (float32 Nx3xPxP in [0, 1]) from ``source``, seeded.

    Photos are drawn without replacement while they last (then again), one HR crop of
    ``patch * scale`` px each, downscaled by MATLAB bicubic.
    """
    patch += (-patch) % multiple_of
    rng = np.random.default_rng(seed)
    photos: Sequence[Any] = source.paths if source.kind != "parity" else list(parity_photos)
    if not len(photos):
        raise DataError(f"calibration: no photos in {source.label}")
    order = np.concatenate([rng.permutation(len(photos)) for _ in range(-(-count // len(photos)))])[:count]
    out = np.empty((count, 3, patch, patch), np.float32)
    hr_side = patch * scale
    for i, idx in enumerate(order):
        img = photos[int(idx)]
        img = read_image(img) if isinstance(img, Path) else img  # RGB, grey as 3 channels
        img = (img.astype(np.float64) / 257.0).round().astype(np.uint8) if img.dtype == np.uint16 else img
        if min(img.shape[:2]) < hr_side:  # a small photo: pad by reflection rather than resample it
            pad = [(0, max(0, hr_side - img.shape[0])), (0, max(0, hr_side - img.shape[1])), (0, 0)]
            img = np.pad(img, pad, mode="reflect")
        hr = np.ascontiguousarray(_random_crop(img, hr_side, rng))
        out[i] = imresize(hr, scale=1 / scale).transpose(2, 0, 1).astype(np.float32) / 255.0
    log.info("calibration: %d LR patches of %d px from %s", count, patch, source.label)
    return out
