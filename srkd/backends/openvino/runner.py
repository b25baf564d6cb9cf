"""OpenVINO backend (CPU): an IR (``.xml`` + ``.bin``) compiled with an explicit inference precision.

OpenVINO's CPU plugin picks bf16 by itself on CPUs with bf16 units; srkd never lets it choose:
``precision="fp32"`` compiles with ``INFERENCE_PRECISION_HINT=f32``, ``"bf16"`` with ``bf16`` (and
refuses on a CPU without bf16 support), ``"int8"`` runs a quantized IR (converted from the QDQ ONNX)
with f32 for the layers left unquantized. ``toolchain()`` reads back what the compiled model runs
in, which the manifest records. Dynamic batch/height/width are kept: the plugin specialises per
input shape and caches it.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from srkd.backends.runner import Runner
from srkd.errors import BackendUnavailableError, ConfigError
from srkd.models.spec import ModelSpec

PRECISIONS = ("fp32", "bf16", "int8")
_HINT = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}


def require_openvino() -> Any:
    """The ``openvino`` module, or BackendUnavailableError saying how to get it."""
    try:
        import openvino
    except ImportError:
        raise BackendUnavailableError("OpenVINO is not installed (pip install 'srkd[openvino]')") from None
    return openvino


def cpu_capabilities() -> list[str]:
    """OpenVINO's CPU optimisation capabilities, e.g. ['BF16', 'FP32', 'INT8', ...] ([] without OpenVINO)."""
    try:
        ov = require_openvino()
    except BackendUnavailableError:
        return []
    return [str(c) for c in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")]


def bf16_supported() -> bool:
    """Whether OpenVINO can run bf16 on this CPU (AVX512-BF16 or AMX)."""
    return "BF16" in cpu_capabilities()


def compile_ir(path: str | os.PathLike, *, precision: str, threads: int | None = None) -> Any:
    """An OpenVINO CPU compiled model of the IR (or ONNX) at ``path``: explicit inference precision
    (``precision`` fp32 | bf16 | int8, int8 leaving its unquantized layers in f32), latency mode, one
    stream, ``threads`` intra-op threads (None: OpenVINO's own)."""
    ov = require_openvino()
    config = {"INFERENCE_PRECISION_HINT": _HINT[precision], "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": "1"}
    if threads:
        config["INFERENCE_NUM_THREADS"] = str(threads)
    core = ov.Core()
    return core.compile_model(core.read_model(str(path)), "CPU", config)


class OpenVinoRunner(Runner):
    backend = "openvino"

    def __init__(self, path: str | os.PathLike, *, spec: ModelSpec, precision: str = "fp32",
                 threads: int | None = None) -> None:
        super().__init__(spec=spec, precision=precision)
        if precision not in PRECISIONS:
            raise ConfigError(f"OpenVINO precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        self.path, self.threads = Path(path), threads
        self.compiled = self.request = None

    def activate_impl(self) -> None:
        require_openvino()
        if self.precision == "bf16" and not bf16_supported():
            raise BackendUnavailableError(f"{self.path}: this CPU has no bf16 support in OpenVINO "
                                          f"(capabilities: {', '.join(cpu_capabilities())}); use the fp32 or int8 artifact")
        self.compiled = compile_ir(self.path, precision=self.precision, threads=self.threads)
        self.request = self.compiled.create_infer_request()

    def deactivate_impl(self) -> None:
        self.compiled = self.request = None

    def runs_in(self) -> str:
        """What the compiled model reports it runs in: 'fp32', 'bf16', 'int8 (unquantized layers fp32)'."""
        if self.compiled is None:
            return "unknown (not compiled)"
        hint = self.compiled.get_property("INFERENCE_PRECISION_HINT")
        name = hint.get_type_name() if hasattr(hint, "get_type_name") else str(hint)
        name = {"f32": "fp32", "f16": "fp16"}.get(name, name)
        return f"int8 (unquantized layers {name})" if self.precision == "int8" else name

    def toolchain(self) -> dict[str, Any]:
        ov = require_openvino()
        info: dict[str, Any] = {"openvino": ov.__version__, "device": "CPU"}
        if self.compiled is not None:
            info["inference_precision"] = self.runs_in()
            info["threads"] = int(self.compiled.get_property("INFERENCE_NUM_THREADS"))
        return info

    def thread_info(self) -> dict[str, int]:
        from srkd.host import physical_cores

        return {"threads": self.toolchain().get("threads") or physical_cores()}

    def infer_impl(self, batch: np.ndarray) -> np.ndarray:
        self.request.infer({0: batch})
        return np.array(self.request.get_output_tensor(0).data, dtype=np.float32, copy=True)
