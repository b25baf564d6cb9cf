"""The ONNX files of a bundle: ``model.onnx`` from the student, ``model.fp16.onnx`` and the static QDQ
``model.int8.onnx`` from it (the converters live in ``srkd.export``: OpenVINO and TensorRT build from
these files too)."""
from __future__ import annotations

import numpy as np

from srkd.backends.onnxruntime import FP16_FILE, INT8_FILE, ONNX_FILE
from srkd.backends.onnxruntime.runner import OrtRunner
from srkd.bundle.records import Quantization
from srkd.export.calib import calibration_patches, find_calib_source
from srkd.export.context import BuildContext, Made
from srkd.export.fp16 import convert_fp16
from srkd.export.int8 import build_int8
from srkd.export.onnx import export_onnx
from srkd.export.quantize import Int8Settings


def _ort(ctx: BuildContext, file: str, precision: str):
    return lambda: OrtRunner(ctx.path(file), spec=ctx.spec, precision=precision, threads=ctx.opts.threads)


def make_fp32(ctx: BuildContext) -> Made:
    """``model.onnx``: the student exported with dynamic batch/height/width (see srkd.export.onnx)."""
    opts = ctx.opts
    info = export_onnx(ctx.model, ctx.path(ONNX_FILE), opset=opts.opset, dynamo=opts.dynamo, metadata=ctx.meta,
                       simplify=opts.simplify)
    return Made(open=_ort(ctx, ONNX_FILE, "fp32"), io={k: info[k] for k in ("input", "output")},
                toolchain={"opset": info["opset"], "exporter": info["exporter"], "simplified": info["simplified"]})


def make_fp16(ctx: BuildContext) -> Made:
    """``model.fp16.onnx``: fp16 weights and compute, float32 input and output."""
    onnx_made = ctx.made[ONNX_FILE]
    conversion = convert_fp16(ctx.path(ONNX_FILE), ctx.path(FP16_FILE))
    return Made(open=_ort(ctx, FP16_FILE, "fp16"), io=onnx_made.io, toolchain=onnx_made.toolchain,
                conversion=conversion)


def make_int8(ctx: BuildContext) -> Made:
    """``model.int8.onnx``: the first int8 recipe that passes parity (see srkd.export.int8)."""
    opts, spec = ctx.opts, ctx.spec
    settings = opts.int8_recipe()
    source = find_calib_source(opts.calib, meta=ctx.meta, student=ctx.checkpoint)
    pools: dict[tuple[int, int], np.ndarray] = {}

    def patches(recipe: Int8Settings) -> np.ndarray:
        key = (recipe.images, recipe.patch)
        if key not in pools:
            pools[key] = calibration_patches(source, count=recipe.images, patch=recipe.patch, scale=spec.scale,
                                             parity_photos=ctx.hr_images, multiple_of=spec.size_req.multiple_of)
        return pools[key]

    outcome = build_int8(ctx.path(ONNX_FILE), ctx.path(INT8_FILE), reference=ctx.reference, hr_images=ctx.hr_images,
                         scale=spec.scale, patches=patches, settings=settings, auto_remedy=opts.int8_remedies,
                         open_candidate=lambda p: OrtRunner(p, spec=spec, precision="int8", threads=opts.threads))
    quantization = Quantization.from_dict({**outcome.info, "calibration": source.to_dict(),
                                           "attempts": [a.to_dict() for a in outcome.attempts]})
    onnx_made = ctx.made[ONNX_FILE]
    return Made(open=_ort(ctx, INT8_FILE, "int8"), io=onnx_made.io, toolchain=onnx_made.toolchain,
                parity=outcome.parity, quantization=quantization)
