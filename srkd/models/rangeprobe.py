"""Guess the value range a network was trained on by trying each on a real photo.

A foreign state dict rarely says whether its network ran on [0, 1] or [0, 255]. Run the model on a
MATLAB-bicubic-downscaled crop of a real photo (scikit-image's astronaut) once per candidate range and
keep the range whose output is clearly closest to the original. When no candidate is clearly better
(an untrained network, say), there is no verdict and the caller keeps its default.
"""
from __future__ import annotations

import functools
import logging

import numpy as np
import torch
from torch import nn

from srkd.data.imresize import imresize
from srkd.data.io import to_tensor, to_uint8
from srkd.metrics import psnr

log = logging.getLogger(__name__)

CANDIDATES = (1.0, 255.0)
LR_SIDE = 32
MARGIN_DB = 1.0  # the winner must beat the runner-up by this much
PLAUSIBLE_DB = 3.0  # ... and come within this much of plain bicubic, or nothing was learned


@functools.lru_cache(maxsize=8)
def _probe_pair(scale: int) -> tuple[np.ndarray, np.ndarray]:
    from skimage import data

    side = LR_SIDE * scale
    hr = np.ascontiguousarray(data.astronaut()[40 : 40 + side, 180 : 180 + side])
    return imresize(hr, scale=1 / scale), hr


def set_img_range(model: nn.Module, value: float) -> None:
    """Point a native model with an ``img_range`` hyperparameter at another input range."""
    model.img_range = float(value)
    model.hparams["img_range"] = float(value)


@torch.inference_mode()
def probe_range(model: nn.Module, *, scale: int) -> float | None:
    """The ``img_range`` under which ``model`` reproduces a real photo clearly best, or None.

    ``model`` must expose ``img_range`` (native srkd models) or be wrapped the same way; it is left
    as it was found.
    """
    if scale * LR_SIDE > 256 or getattr(model, "hparams", {}).get("in_channels", 3) != 3:
        return None
    lr, hr = _probe_pair(scale)
    original = model.img_range
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    x = to_tensor(lr).to(device)
    scores = {}
    try:
        for value in CANDIDATES:
            model.img_range = value
            out = model(x).float()
            scores[value] = -1.0 if not torch.isfinite(out).all() else psnr(to_uint8(out), hr, crop_border=scale)
    finally:
        model.img_range = original
    bicubic = psnr(imresize(lr, scale=scale), hr, crop_border=scale)
    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
    (best, best_db), (_, second_db) = ranked[0], ranked[1]
    log.info("range probe: %s (bicubic %.2f dB)", {k: round(v, 2) for k, v in scores.items()}, bicubic)
    if best_db - second_db >= MARGIN_DB and best_db >= bicubic - PLAUSIBLE_DB:
        return best
    return None
