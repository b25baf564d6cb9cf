"""Static INT8 quantization of an fp32 ONNX model: QDQ format, onnxruntime.quantization.

Weights are int8, per output channel, symmetric. Activations are int8 and symmetric (zero point 0)
by default, which is what TensorRT's explicit quantization needs, so one ``model.int8.onnx`` serves
ONNX Runtime on CPU and a TensorRT int8 engine; ``symmetric=False`` gives asymmetric uint8
activations (CPU only). ``keep_fp32="ends"`` leaves the first and last convolutions and the
upsampler (the convs feeding DepthToSpace, and DepthToSpace itself) in float.
``quantize_bias=False`` keeps convolution biases in float: ONNX Runtime's default stores them as INT32
behind a DequantizeLinear, which TensorRT's ONNX parser rejects (it dequantizes INT8/FP8/INT4 only), so
the model a TensorRT int8 engine is built from has float biases (ONNX Runtime still fuses its convs).
"""
from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from srkd.errors import BackendUnavailableError, ConfigError

log = logging.getLogger(__name__)

CALIBRATIONS = ("minmax", "entropy", "percentile")
KEEP_FP32 = ("none", "ends")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Int8Settings:
    """One quantization recipe. ``images``: calibration patches; ``patch``: their LR side in px."""

    calibration: str = "minmax"
    images: int = 32
    patch: int = 64
    per_channel: bool = True
    symmetric: bool = True
    keep_fp32: str = "none"
    quantize_bias: bool = True
    percentile: float = 99.999
    batch: int = 8

    def __post_init__(self) -> None:
        if self.calibration not in CALIBRATIONS:
            raise ConfigError(f"int8 calibration {self.calibration!r}: expected one of {', '.join(CALIBRATIONS)}")
        if self.keep_fp32 not in KEEP_FP32:
            raise ConfigError(f"int8 keep_fp32 {self.keep_fp32!r}: expected one of {', '.join(KEEP_FP32)}")
        if self.images < 1 or self.patch < 1:
            raise ConfigError(f"int8 calibration needs images >= 1 and patch >= 1, got {self.images}, {self.patch}")

    def label(self) -> str:
        """Short text for tables, e.g. ``minmax, 32 patches, all convs int8``."""
        cal = f"percentile {self.percentile:g}" if self.calibration == "percentile" else self.calibration
        keep = "first/last conv + upsampler fp32" if self.keep_fp32 == "ends" else "all convs int8"
        acts = "int8 sym" if self.symmetric else "uint8 asym"
        per = "" if self.per_channel else ", per-tensor weights"
        bias = "" if self.quantize_bias else ", float biases"
        return f"{cal}, {self.images} patches of {self.patch} px, activations {acts}{per}{bias}, {keep}"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def fp32_ends(model: onnx.ModelProto) -> list[str]:
    """Names of the nodes ``keep_fp32="ends"`` leaves in float: the first and last Conv, every Conv
    whose output feeds a DepthToSpace (sub-pixel upsampler) and the DepthToSpace nodes."""
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    d2s = [n for n in model.graph.node if n.op_type == "DepthToSpace"]
    d2s_inputs = {n.input[0] for n in d2s}
    keep = [convs[0], convs[-1]] if convs else []
    keep += [n for n in convs if set(n.output) & d2s_inputs] + d2s
    names, seen = [], set()
    for node in keep:
        if node.name and node.name not in seen:
            seen.add(node.name)
            names.append(node.name)
    return names


def _named(model: onnx.ModelProto) -> onnx.ModelProto:
    """Give every node a unique name (exclusion lists refer to nodes by name)."""
    used: set[str] = set()
    for i, node in enumerate(model.graph.node):
        if not node.name or node.name in used:
            node.name = f"{node.op_type}_{i}"
        used.add(node.name)
    return model


class _NoPreprocessAdvice(logging.Filter):
    """Drops onnxruntime's root-logger advice to pre-process first (measured: no effect on these
    convolutional graphs, in accuracy or speed)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing" not in str(record.msg)


class _Patches:
    """onnxruntime CalibrationDataReader over an N x C x H x W array, ``batch`` patches per call."""

    def __init__(self, name: str, patches: np.ndarray, batch: int) -> None:
        self.items = [{name: np.ascontiguousarray(patches[i : i + batch])} for i in range(0, len(patches), batch)]
        self.pos = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.pos >= len(self.items):
            return None
        self.pos += 1
        return self.items[self.pos - 1]

    def rewind(self) -> None:
        self.pos = 0


def quantize_int8(
    fp32_path: str | os.PathLike, out_path: str | os.PathLike, *, patches: np.ndarray, settings: Int8Settings,
) -> dict[str, Any]:
    """Write the QDQ int8 model of ``fp32_path`` to ``out_path``, calibrated on ``patches``
    (float32 NCHW LR patches in [0, 1]); returns what the manifest records (settings, nodes kept fp32)."""
    try:
        from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    except ImportError:
        raise BackendUnavailableError("int8 export needs onnxruntime (pip install 'srkd[cpu]')") from None
    model = _named(onnx.load(str(fp32_path)))
    keep = fp32_ends(model) if settings.keep_fp32 == "ends" else []
    method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
              "percentile": CalibrationMethod.Percentile}[settings.calibration]
    extra: dict[str, Any] = {"ActivationSymmetric": settings.symmetric, "WeightSymmetric": True,
                             "CalibTensorRangeSymmetric": settings.symmetric, "QuantizeBias": settings.quantize_bias}
    if settings.calibration == "percentile":
        extra["CalibPercentile"] = settings.percentile
    with tempfile.TemporaryDirectory(prefix="srkd-int8-") as tmp:
        named = Path(tmp) / "named.onnx"
        onnx.save(model, str(named))
        reader = _Patches(model.graph.input[0].name, patches[: settings.images], settings.batch)
        advice = _NoPreprocessAdvice()
        logging.getLogger().addFilter(advice)
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # the histogram calibrators print progress
                quantize_static(
                    str(named), str(out_path), reader, quant_format=QuantFormat.QDQ, per_channel=settings.per_channel,
                    activation_type=QuantType.QInt8 if settings.symmetric else QuantType.QUInt8,
                    weight_type=QuantType.QInt8, nodes_to_exclude=keep, calibrate_method=method, extra_options=extra,
                )
        finally:
            logging.getLogger().removeFilter(advice)
    log.info("%s: int8 QDQ (%s)%s", out_path, settings.label(), f", fp32 nodes: {', '.join(keep)}" if keep else "")
    return {"settings": settings.to_dict(), "fp32_nodes": keep, "format": "QDQ",
            "weights": "int8 per-channel symmetric" if settings.per_channel else "int8 per-tensor symmetric",
            "activations": "int8 symmetric" if settings.symmetric else "uint8 asymmetric",
            "biases": "int32" if settings.quantize_bias else "float"}
