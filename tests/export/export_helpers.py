"""Helpers for the export tests: tiny EDSR students and deliberately broken ONNX files."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
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


def _has_cuda() -> bool:
    return torch.cuda.is_available()


def _has_tensorrt() -> bool:
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return False
    return True


# Tests that need a CUDA GPU (and TensorRT) carry the `gpu` marker and skip, saying why, where they are missing.
needs_gpu = [pytest.mark.gpu, pytest.mark.skipif(not _has_cuda(), reason="needs a CUDA GPU (torch.cuda.is_available() is False)")]
needs_trt = needs_gpu + [pytest.mark.skipif(not _has_tensorrt(), reason="needs the TensorRT Python package "
                                            "(not installable here: its wheels fetch libraries from pypi.nvidia.com)")]


def apply(marks):
    """Decorator applying a list of pytest marks."""
    def wrap(fn):
        for mark in marks:
            fn = mark(fn)
        return fn
    return wrap
