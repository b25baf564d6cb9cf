"""HR-folder training data: images decoded once, LR made by MATLAB imresize, aligned random patches."""
from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from srkd.data.imresize import imresize
from srkd.data.io import list_images, modcrop, read_image
from srkd.errors import DataError

log = logging.getLogger(__name__)


def _load_pair(path: Path, scale: int) -> tuple[np.ndarray, np.ndarray]:
    hr = modcrop(read_image(path), scale)
    return imresize(hr, scale=1 / scale), hr


class HRFolderDataset:
    """All images under one or more folders, held decoded in memory as (LR, HR) uint8 pairs.

    ``sample`` cuts a batch of aligned patches (LR ``patch`` px, HR ``scale*patch`` px) with random
    flips and 90-degree rotations, from a numpy Generator so a run is reproducible.
    """

    def __init__(self, folders: list[str | os.PathLike], *, scale: int, patch: int, workers: int = 2,
                 progress: bool = False) -> None:
        paths: list[Path] = []
        for folder in folders:
            folder = Path(folder)
            if not folder.is_dir():
                raise DataError(f"{folder}: no such data folder")
            paths += list_images(folder, recursive=True)
        if not paths:
            raise DataError(f"{', '.join(map(str, folders))}: no training images found (png/jpg/bmp/tif/webp)")
        self.scale, self.patch = scale, patch
        with ThreadPoolExecutor(max_workers=workers) as pool:
            pairs = list(tqdm(pool.map(lambda p: _load_pair(p, scale), paths), total=len(paths),
                              desc="decode", leave=False, disable=not progress or len(paths) < 50))
        self.pairs = [(lr, hr) for lr, hr in pairs if min(lr.shape[:2]) >= patch]
        if not self.pairs:
            raise DataError(f"{', '.join(map(str, folders))}: every image is smaller than the patch ({patch} px LR x{scale})")
        if len(self.pairs) < len(pairs):
            log.warning("skipped %d images smaller than the LR patch of %d px", len(pairs) - len(self.pairs), patch)
        self.paths = paths
        weights = np.array([lr.shape[0] * lr.shape[1] for lr, _ in self.pairs], dtype=np.float64)
        self.weights = weights / weights.sum()  # sample images by area so every pixel is equally likely

    def __len__(self) -> int:
        return len(self.pairs)

    def sample(self, rng: np.random.Generator, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch (lr, hr) of float32 NCHW tensors in [0, 1]."""
        p, s = self.patch, self.scale
        lrs = np.empty((batch, p, p, 3), np.uint8)
        hrs = np.empty((batch, p * s, p * s, 3), np.uint8)
        for i, idx in enumerate(rng.choice(len(self.pairs), size=batch, p=self.weights)):
            lr, hr = self.pairs[idx]
            y = int(rng.integers(0, lr.shape[0] - p + 1))
            x = int(rng.integers(0, lr.shape[1] - p + 1))
            a, b = lr[y : y + p, x : x + p], hr[y * s : (y + p) * s, x * s : (x + p) * s]
            flip_h, flip_v, transpose = rng.random(3) < 0.5
            if flip_h:
                a, b = a[:, ::-1], b[:, ::-1]
            if flip_v:
                a, b = a[::-1], b[::-1]
            if transpose:
                a, b = a.transpose(1, 0, 2), b.transpose(1, 0, 2)
            lrs[i], hrs[i] = a, b
        to_t = lambda a: torch.from_numpy(a).permute(0, 3, 1, 2).float().div_(255.0)  # noqa: E731
        return to_t(lrs), to_t(hrs)
