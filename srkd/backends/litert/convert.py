"""The student -> ``.tflite`` with litert-torch, fp16 weights and int8 with ai-edge-quantizer, and the
LiteRT artifacts.

litert-torch lowers ``torch.export`` graphs through JAX to the TFLite converter. With a symbolic height
and width it fails on these networks (the lowering of the broadcast mean subtraction asserts on the
unknown dims), so the graph is converted at one square LR side (``--litert-size``, default 128), which
the manifest records (``io.fixed_side``). The interpreter keeps the NCHW input and output (transposes
sit inside the graph). ``model.fp16.tflite`` stores conv weights in fp16 (float casting, compute in
fp32); ``model.int8.tflite`` is dynamic-range int8 (int8 weights, activations quantized per call), kept
only when its PSNR against HR stays within the int8 rule (else skipped, with the figures, in the manifest's
``export.skipped``: the bundle's other artifacts do not depend on it). litert-torch pulls jax, torchao and
transformers, so srkd keeps it in an extra of its own (``srkd[litert-convert]``, its own environment
in the Makefile); the runtime extra ``srkd[litert]`` is the interpreter alone.
"""
from __future__ import annotations

import contextlib
import logging
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from srkd.backends.probe import captured_stderr
from srkd.errors import BackendUnavailableError, ConfigError, ConversionError
from srkd.fsutil import atomic_save

if TYPE_CHECKING:
    from torch import nn

    from srkd.export.context import BuildContext, Made, Preflight
    from srkd.models.spec import ModelSpec

log = logging.getLogger(__name__)
CONVERT_INSTALL = ("pip install 'srkd[litert-convert]' (it pulls jax, torchao and transformers: use its own "
                   "environment, `make install-litert`)")


def require_converter() -> Any:
    """The ``litert_torch`` module, or BackendUnavailableError naming its extra."""
    try:
        with captured_stderr("litert-torch import", stdout=True), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import litert_torch
    except ImportError:
        raise BackendUnavailableError(f"LiteRT conversion needs litert-torch, which is not installed ({CONVERT_INSTALL})") \
            from None
    return litert_torch


def preflight(request: Preflight) -> None:
    """Refuse ``srkd export --litert`` before any work when the interpreter or the converter is missing, or when
    ``--litert-size`` breaks the student's size requirement."""
    from srkd.backends.litert.runner import require_litert

    side, req = request.opts.litert_side, request.spec.size_req
    if side < req.minimum or side % req.multiple_of:
        raise ConfigError(f"--litert-size {side}: {request.spec.arch} needs a side of at least {req.minimum} "
                          f"and a multiple of {req.multiple_of}")
    require_litert()
    require_converter()


def _version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


@contextlib.contextmanager
def _quiet(label: str):
    """litert-torch prints progress on stdout and JAX/absl on stderr; both go to the log."""
    with captured_stderr(label, stdout=True) as lines, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield lines


def convert_to_tflite(model: nn.Module, spec: ModelSpec, path: str | os.PathLike, *, side: int) -> dict[str, Any]:
    """Write ``path``: ``model`` for 1 x C x ``side`` x ``side`` inputs; returns what the manifest records."""
    import torch

    litert_torch = require_converter()
    example = torch.rand(1, spec.in_channels, side, side, generator=torch.Generator().manual_seed(0))
    try:
        with _quiet("litert-torch convert"):
            edge = litert_torch.convert(model.eval(), (example,))
            atomic_save(path, lambda tmp: edge.export(str(tmp)), suffix=".tflite")
    except Exception as exc:  # noqa: BLE001 - the converter's many error kinds become one line naming the file
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ConversionError(f"{path}: litert-torch could not convert {spec.arch} ({type(exc).__name__}: {first})") \
            from None
    log.info("%s: LiteRT flatbuffer of %s at %dx%d", path, spec.arch, side, side)
    return {"converter": "litert-torch", "litert_torch": _version("litert-torch"), "fixed_side": side,
            "input_shape": [1, spec.in_channels, side, side], "dynamic": False}


def _recipe(precision: str) -> list[dict[str, Any]]:
    """ai-edge-quantizer's recipe: fp16 weights (float casting) or dynamic-range int8, on every op it supports."""
    if precision == "fp16":
        algorithm, weights, compute = "float_casting", {"num_bits": 16, "dtype": "FLOAT"}, "FLOAT"
    else:
        algorithm, weights, compute = "min_max_uniform_quantize", {"num_bits": 8, "symmetric": True,
                                                                   "granularity": "CHANNELWISE", "dtype": "INT"}, "INTEGER"
    return [{"regex": ".*", "operation": "*", "algorithm_key": algorithm,
             "op_config": {"weight_tensor_config": weights, "compute_precision": compute,
                           "explicit_dequantize": precision == "fp16", "skip_checks": False}}]


def quantize_tflite(source: str | os.PathLike, path: str | os.PathLike, *, precision: str) -> dict[str, Any]:
    """Write ``path``: ``source``'s weights in fp16 or int8 (see ``_recipe``); returns what the manifest records."""
    try:
        from ai_edge_quantizer import quantizer
    except ImportError:
        raise BackendUnavailableError(f"LiteRT {precision} needs ai-edge-quantizer ({CONVERT_INSTALL})") from None
    recipe = _recipe(precision)
    try:
        with _quiet("ai-edge-quantizer"):
            result = quantizer.Quantizer(str(source), recipe).quantize()
            atomic_save(path, lambda tmp: Path(tmp).write_bytes(bytes(result.quantized_model)), suffix=".tflite")
    except Exception as exc:  # noqa: BLE001 - as in convert_to_tflite
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ConversionError(f"{path}: ai-edge-quantizer could not make {precision} weights ({first})") from None
    return {"source": Path(source).name, "quantizer": "ai-edge-quantizer", "ai_edge_quantizer": _version("ai-edge-quantizer"),
            "recipe": recipe}


def make_tflite(ctx: BuildContext, *, file: str, precision: str) -> Made | None:
    """The LiteRT artifact ``file`` in ``precision`` (fp32 converted once; fp16/int8 quantized from it). An int8
    file whose parity fails is not kept: None, with the figures in ``ctx.skipped`` (int8 only where it holds)."""
    from srkd.backends.litert import TFLITE_FILE
    from srkd.backends.litert.runner import LiteRtRunner, io_names
    from srkd.backends.onnxruntime import ONNX_FILE
    from srkd.bundle.manifest import Skipped
    from srkd.export.context import Made
    from srkd.export.parity import check_parity

    side = ctx.opts.litert_side
    conversion = ctx.once(("litert", TFLITE_FILE), lambda: convert_to_tflite(ctx.model, ctx.spec, ctx.path(TFLITE_FILE),
                                                                              side=side))
    if precision != "fp32":
        conversion = {**conversion, **quantize_tflite(ctx.path(TFLITE_FILE), ctx.path(file), precision=precision)}

    def runner() -> LiteRtRunner:
        return LiteRtRunner(ctx.path(file), spec=ctx.spec, precision=precision, threads=ctx.opts.threads)

    parity = None
    if precision == "int8":
        with runner() as candidate:
            parity = check_parity(candidate, ctx.reference, images=ctx.hr_images, scale=ctx.spec.scale)
        if not parity.passed:
            ctx.path(file).unlink()
            ctx.skipped.append(Skipped(artifact=f"litert:int8 ({file})", why=f"parity failed: {parity.summary()}"))
            log.warning("litert:int8 not kept: %s", parity.summary())
            return None
    onnx_io = ctx.made[ONNX_FILE].io
    c_in, c_out, scale = ctx.spec.in_channels, ctx.spec.out_channels, ctx.spec.scale
    name_in, name_out = io_names(ctx.path(file))
    io = {"input": {**onnx_io["input"], "name": name_in, "dims": [1, c_in, side, side]},
          "output": {**onnx_io["output"], "name": name_out, "dims": [1, c_out, side * scale, side * scale]},
          "fixed_side": side}
    return Made(open=runner, io=io, conversion=conversion, parity=parity)
