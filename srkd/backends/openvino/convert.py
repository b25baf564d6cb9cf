"""ONNX -> OpenVINO IR (``.xml`` graph + ``.bin`` weights), weights kept in fp32, and the IR artifacts.

The IR keeps the ONNX's dynamic batch/height/width and its ``srkd`` metadata (under
``rt_info/srkd``). A QDQ int8 ONNX converts to an IR whose FakeQuantize nodes the CPU plugin runs
in int8. ``compress_to_fp16`` is off: precision is chosen at compile time, never baked in silently.
The converter's usage telemetry is switched off (see ``_no_telemetry``).
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from srkd.backends.openvino.runner import require_openvino

if TYPE_CHECKING:
    from srkd.export.context import BuildContext, Made

log = logging.getLogger(__name__)


def ir_bin(xml: str | os.PathLike) -> Path:
    """The weights file that goes with an IR graph file."""
    return Path(xml).with_suffix(".bin")


@contextlib.contextmanager
def _no_telemetry() -> Iterator[None]:
    """OpenVINO's converter sends usage telemetry from a thread that forks a process unless it runs "in
    CI"; srkd never phones home for its users, and that fork can deadlock a process busy in BLAS."""
    old = os.environ.get("CI")
    os.environ["CI"] = "true"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("CI", None)
        else:
            os.environ["CI"] = old


def convert_to_ir(onnx_path: str | os.PathLike, xml_path: str | os.PathLike, *, metadata: str | None = None) -> dict[str, Any]:
    """Convert ``onnx_path`` to ``xml_path`` (+ its ``.bin``); returns what the manifest records."""
    ov = require_openvino()
    with _no_telemetry():
        model = ov.convert_model(str(onnx_path))
    if metadata is not None:
        model.set_rt_info(metadata, ["srkd"])
    ov.save_model(model, str(xml_path), compress_to_fp16=False)
    shape = model.inputs[0].get_partial_shape()
    info = {"source": Path(onnx_path).name, "openvino": ov.__version__, "weights": ir_bin(xml_path).name,
            "input_shape": str(shape), "dynamic": shape.is_dynamic}
    log.info("%s: OpenVINO IR from %s (input %s)", xml_path, onnx_path, shape)
    return info


def make_ir(ctx: BuildContext, *, source: str, xml: str, precision: str) -> Made | None:
    """The IR ``xml`` converted from ``source`` (once per file) and run in ``precision``; None, recorded in
    ``ctx.skipped``, for bf16 on a CPU without bf16 units."""
    from srkd.backends.onnxruntime import ONNX_FILE
    from srkd.backends.openvino import runner as ov_runtime
    from srkd.bundle.manifest import Skipped
    from srkd.export.context import Made

    conversion = ctx.once(("openvino", xml), lambda: convert_to_ir(ctx.path(source), ctx.path(xml),
                                                                    metadata=json.dumps(ctx.meta)))
    if precision == "bf16" and not ov_runtime.bf16_supported():
        why = f"this CPU has no bf16 in OpenVINO (capabilities: {', '.join(ov_runtime.cpu_capabilities())})"
        ctx.skipped.append(Skipped(artifact=f"openvino:bf16 ({xml})", why=why))
        log.warning("openvino:bf16 not built: %s", why)
        return None
    return Made(open=lambda: ov_runtime.OpenVinoRunner(ctx.path(xml), spec=ctx.spec, precision=precision,
                                                       threads=ctx.opts.threads),
                io=ctx.made[ONNX_FILE].io, conversion=conversion, companions=(ir_bin(xml).name,))
