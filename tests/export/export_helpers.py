"""Helpers for the export tests: tiny EDSR students and deliberately broken ONNX files."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from srkd.models import build_model
from srkd.models.checkpoint import save_model

TINY = {"scale": 4, "n_feats": 8, "n_blocks": 2}


def make_student(path: Path, *, seed: int = 0) -> Path:
    """A tiny EDSR x4 student with seeded random weights, saved as srkd safetensors."""
    torch.manual_seed(seed)
    save_model(path, build_model("edsr", TINY), provenance={"method": "test"})
    return path


def perturb_onnx(path: Path, *, delta: float = 0.05) -> None:
    """Add ``delta`` to every value of the largest initializer (a conv weight), in place."""
    model = onnx.load(str(path))
    init = max(model.graph.initializer, key=lambda t: int(np.prod(t.dims)))
    arr = numpy_helper.to_array(init).astype(np.float32) + np.float32(delta)
    init.CopyFrom(numpy_helper.from_array(arr, init.name))
    onnx.save(model, str(path))
