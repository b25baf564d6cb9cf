"""FP16 ONNX: weights and compute in float16, the graph's input and output kept float32.

Made with onnxconverter-common's float16 converter (``pip install 'srkd[fp16]'``), with
``keep_io_types`` so callers feed and receive float32 exactly as with ``model.onnx``. Meant for GPU
runtimes (ONNX Runtime CUDA, TensorRT's strongly typed fp16 build); ONNX Runtime on CPU runs it too,
which is how its parity is measured here.
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import onnx

from srkd.errors import BackendUnavailableError, SrkdError
from srkd.fsutil import atomic_path

log = logging.getLogger(__name__)

# Values below fp16's smallest normal are clamped to it by the converter instead of flushed to 0.
MIN_POSITIVE = 1e-7
MAX_FINITE = 65504.0


def convert_fp16(fp32_path: str | os.PathLike, out_path: str | os.PathLike) -> dict[str, Any]:
    """Write the fp16 version of ``fp32_path`` to ``out_path`` (atomically); returns what the manifest records."""
    try:
        from onnxconverter_common import float16
    except ImportError:
        raise BackendUnavailableError("--fp16 needs onnxconverter-common (pip install 'srkd[fp16]')") from None
    model = onnx.load(str(fp32_path))
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")  # one warning per clamped weight value
            half = float16.convert_float_to_float16(
                model, min_positive_val=MIN_POSITIVE, max_finite_val=MAX_FINITE, keep_io_types=True,
            )
    except Exception as exc:  # the converter raises assorted types on graphs it cannot handle
        raise SrkdError(f"{out_path}: fp16 conversion failed: {str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__}") from exc
    try:
        onnx.checker.check_model(half)
    except onnx.checker.ValidationError as exc:
        raise SrkdError(f"{out_path}: fp16 graph fails onnx.checker: {str(exc).splitlines()[0]}") from None
    with atomic_path(Path(out_path)) as tmp:
        onnx.save_model(half, str(tmp), save_as_external_data=False)
    casts = sum(n.op_type == "Cast" for n in half.graph.node)
    log.info("%s: fp16 graph (%d casts; input/output float32)", out_path, casts)
    return {"converter": "onnxconverter_common.float16", "keep_io_types": True, "io_dtype": "float32"}
