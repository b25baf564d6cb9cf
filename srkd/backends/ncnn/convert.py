"""The student -> ncnn ``.param`` + ``.bin`` with pnnx, and the ncnn artifacts.

pnnx (PyPI ``pnnx``) is a self-contained binary with its own libtorch: it reads a TorchScript file
traced here with the installed torch, so it works beside any torch and imports none. It is given two
input shapes (``inputshape`` and ``inputshape2``), which makes the sizes in the graph symbolic: the
files take any height and width (the pixel-shuffle tail becomes ncnn's PixelShuffle, RFDN's resize
an Interp sized by a reference blob). Its ONNX front end was tried too and lost RFDN's bilinear
resize, so the traced module is what it reads. ``fp16=0`` keeps fp32 weights; ``fp16=1`` stores them
as fp16 (half the ``.bin``). Everything pnnx writes besides the two files stays in a temp folder.
"""
from __future__ import annotations

import logging
import math
import os
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from srkd.backends.ncnn.param import INPUT_BLOB, OUTPUT_BLOB, read_param, rename_blobs, single_io
from srkd.errors import BackendUnavailableError, ConversionError
from srkd.fsutil import atomic_save, atomic_write_text

if TYPE_CHECKING:
    from torch import nn

    from srkd.export.context import BuildContext, Made, Preflight
    from srkd.models.spec import ModelSpec

log = logging.getLogger(__name__)
INSTALL = "pip install 'srkd[ncnn]'"


def pnnx_binary() -> Path:
    """The pnnx executable shipped in the ``pnnx`` wheel, or BackendUnavailableError naming the extra."""
    try:
        import pnnx
    except ImportError:
        raise BackendUnavailableError(f"ncnn conversion needs pnnx, which is not installed ({INSTALL})") from None
    path = Path(pnnx.EXEC_PATH)
    if not path.is_file():
        raise BackendUnavailableError(f"{path}: the pnnx wheel has no executable for this platform")
    return path


def preflight(request: Preflight) -> None:
    """Refuse ``srkd export --ncnn`` before any work when pnnx or ncnn is missing."""
    from srkd.backends.ncnn.runner import require_ncnn

    pnnx_binary()
    require_ncnn()


def pnnx_version() -> str:
    from importlib.metadata import version

    return version("pnnx")


def _trace_shapes(spec: ModelSpec) -> tuple[tuple[int, int], tuple[int, int]]:
    """Two legal LR (height, width) pairs whose four sides all differ: pnnx tells the symbolic height from
    the width by how they change between the two, and an equal pair bakes a wrong size into the graph
    (seen: inputshape2 that changed only the height gave 96x128 outputs for 48x48 inputs)."""
    req = spec.size_req
    step = math.lcm(8, req.multiple_of)
    base = max(32, req.minimum)
    base += (-base) % step
    return (base + step, base + 2 * step), (base + 3 * step, base + 5 * step)


def convert_to_ncnn(model: nn.Module, spec: ModelSpec, param: str | os.PathLike, *, fp16: bool) -> dict[str, Any]:
    """Write ``param`` and its ``.bin`` (same stem) for ``model``; returns what the manifest records.

    ConversionError when pnnx fails or leaves operators ncnn cannot run (SwinIR's 5-D window
    reshapes, for one)."""
    import torch

    exe, param = pnnx_binary(), Path(param)
    (h1, w1), (h2, w2) = _trace_shapes(spec)
    with tempfile.TemporaryDirectory(prefix="srkd-pnnx-") as tmp:
        work = Path(tmp)
        example = torch.rand(1, spec.in_channels, h1, w1, generator=torch.Generator().manual_seed(0))
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)  # the shape arithmetic pnnx re-derives
            torch.jit.trace(model.eval(), example, check_trace=False).save(str(work / "model.pt"))
        outputs = {k: str(work / v) for k, v in (("pnnxparam", "m.pnnx.param"), ("pnnxbin", "m.pnnx.bin"),
                                                  ("pnnxpy", "m_pnnx.py"), ("pnnxonnx", "m.pnnx.onnx"),
                                                  ("ncnnparam", "m.ncnn.param"), ("ncnnbin", "m.ncnn.bin"),
                                                  ("ncnnpy", "m_ncnn.py"))}
        cmd = [str(exe), str(work / "model.pt"), f"inputshape=[1,{spec.in_channels},{h1},{w1}]f32",
               f"inputshape2=[1,{spec.in_channels},{h2},{w2}]f32", "device=cpu", f"fp16={int(fp16)}",
               *(f"{k}={v}" for k, v in outputs.items())]
        done = subprocess.run(cmd, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              errors="replace", check=False)
        log.debug("pnnx output:\n%s", done.stdout)
        ncnn_param = Path(outputs["ncnnparam"])
        if done.returncode != 0 or not ncnn_param.is_file():
            last = (done.stdout.strip().splitlines() or ["no output"])[-1]
            raise ConversionError(f"{param}: pnnx failed on {spec.arch} (exit {done.returncode}): {last}")
        graph = read_param(ncnn_param)
        if graph.foreign_types:
            raise ConversionError(f"{param}: pnnx left operators ncnn cannot run for {spec.arch}: "
                                  f"{', '.join(graph.foreign_types)}")
        old_in, old_out = single_io(graph, path=ncnn_param)
        graph = rename_blobs(graph, {old_in: INPUT_BLOB, old_out: OUTPUT_BLOB})
        atomic_save(ncnn_bin(param), lambda tmp_bin: shutil.copyfile(outputs["ncnnbin"], tmp_bin))
        atomic_write_text(param, graph.text())
    layers = sorted({layer.type for layer in graph.layers})
    log.info("%s: ncnn graph from %s via pnnx (%d layers: %s)", param, spec.arch, len(graph.layers), ", ".join(layers))
    return {"converter": "pnnx (TorchScript)", "pnnx": pnnx_version(), "weights": ncnn_bin(param).name,
            "weight_storage": "fp16" if fp16 else "fp32", "traced_shapes": [[h1, w1], [h2, w2]], "dynamic": True,
            "blobs": {"input": INPUT_BLOB, "output": OUTPUT_BLOB, "renamed_from": [old_in, old_out]},
            "layer_types": layers}


def ncnn_bin(param: str | os.PathLike) -> Path:
    """The weights file that goes with a ``.param`` (same stem, as Real-ESRGAN-ncnn-vulkan and Upscayl expect)."""
    return Path(param).with_suffix(".bin")


def make_ncnn(ctx: BuildContext, *, param: str, precision: str) -> Made:
    """The ncnn artifact ``param`` (+ ``.bin``): fp32 weights run in fp32, or fp16 weights run with fp16 storage."""
    from srkd.backends.ncnn.runner import NcnnRunner
    from srkd.backends.onnxruntime import ONNX_FILE
    from srkd.export.context import Made

    conversion = convert_to_ncnn(ctx.model, ctx.spec, ctx.path(param), fp16=precision == "fp16")
    io = {"input": {**ctx.made[ONNX_FILE].io["input"], "name": INPUT_BLOB},
          "output": {**ctx.made[ONNX_FILE].io["output"], "name": OUTPUT_BLOB}}
    return Made(open=lambda: NcnnRunner(ctx.path(param), spec=ctx.spec, precision=precision, threads=ctx.opts.threads),
                io=io, conversion=conversion, companions=(ncnn_bin(param).name,))
