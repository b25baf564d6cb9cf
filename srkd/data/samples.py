"""Real photos shipped inside scikit-image's wheel: srkd's default data when nothing else is given."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from srkd.data.io import write_image

# Split used by the demo: photos to train on, and held-out ones to validate and upscale.
TRAIN = ("astronaut", "rocket", "hubble_deep_field", "immunohistochemistry", "retina", "brick", "grass",
         "gravel", "moon", "page", "text", "coins")
HELD_OUT = ("chelsea", "coffee", "camera")


def sample_photo(name: str) -> np.ndarray:
    """One of scikit-image's bundled photos as HxWx3 uint8 RGB (grey repeated to 3 channels)."""
    from skimage import data

    img = np.asarray(getattr(data, name)())
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    return np.ascontiguousarray(img[:, :, :3])


def write_sample_photos(folder: str | os.PathLike, names: tuple[str, ...], *, max_side: int | None = None) -> list[Path]:
    """Write the named photos as PNG into ``folder`` (center-cropped to ``max_side``); returns the paths."""
    folder = Path(folder)
    paths = []
    for name in names:
        img = sample_photo(name)
        if max_side:
            h, w = img.shape[:2]
            y, x = max(0, (h - max_side) // 2), max(0, (w - max_side) // 2)
            img = img[y : y + max_side, x : x + max_side]
        path = folder / f"{name}.png"
        if not path.exists():
            write_image(path, img)
        paths.append(path)
    return paths
