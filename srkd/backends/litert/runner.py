"""LiteRT backend: a ``.tflite`` run by the ``ai-edge-litert`` interpreter on the CPU (XNNPACK).

litert-torch converts only fixed shapes for these networks (see ``srkd.backends.litert.convert``) and
XNNPACK cannot resize such a graph, so the runner takes inputs of exactly its side (``fixed_side``,
read from the file) and runs a batch one image at a time; ``srkd upscale``/``srkd.load`` tile to that
side, parity pads or crops to it and latency is timed at it. The interpreter's C-level notice
("Created TensorFlow Lite XNNPACK delegate") goes to the log, not the terminal.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from srkd.backends.probe import captured_stderr
from srkd.backends.runner import Runner
from srkd.backends.spec import OpenRequest, open_on_cpu
from srkd.errors import BackendUnavailableError, CheckpointError, ConfigError
from srkd.models.spec import ModelSpec

PRECISIONS = ("fp32", "fp16", "int8")
INSTALL = "pip install 'srkd[litert]'"
RUNS_IN = {"fp32": "fp32 (XNNPACK)", "fp16": "fp16 weights, fp32 arithmetic (XNNPACK)",
           "int8": "int8 weights, activations quantized at run time (XNNPACK dynamic range)"}


def require_litert() -> Any:
    """The LiteRT ``Interpreter`` class, or BackendUnavailableError naming the extra."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise BackendUnavailableError(f"LiteRT is not installed ({INSTALL})") from None
    return Interpreter


def litert_version() -> str:
    from importlib.metadata import version

    return version("ai-edge-litert")


def open_request(request: OpenRequest) -> "LiteRtRunner":
    """The Runner of a bundle's LiteRT artifact (the registry's ``open``)."""
    return open_on_cpu(request, LiteRtRunner, "LiteRT")


class LiteRtRunner(Runner):
    backend = "litert"

    def __init__(self, path: str | os.PathLike, *, spec: ModelSpec, precision: str = "fp32",
                 threads: int | None = None) -> None:
        super().__init__(spec=spec, precision=precision)
        if precision not in PRECISIONS:
            raise ConfigError(f"LiteRT precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        self.path, self.threads = Path(path), threads
        self.interpreter: Any = None
        self._in = self._out = 0

    def activate_impl(self) -> None:
        from srkd.host import physical_cores

        interpreter_class = require_litert()
        try:
            with captured_stderr("litert"):
                interpreter = interpreter_class(model_path=str(self.path), num_threads=self.threads or physical_cores())
                interpreter.allocate_tensors()
        except ValueError as exc:
            raise CheckpointError(f"{self.path}: LiteRT cannot load it ({str(exc).splitlines()[0]})") from None
        [inp], [out] = interpreter.get_input_details(), interpreter.get_output_details()
        shape = [int(d) for d in inp["shape"]]
        if len(shape) != 4 or shape[1] != self.spec.in_channels or shape[2] != shape[3]:
            raise CheckpointError(f"{self.path}: expected a 1x{self.spec.in_channels}xNxN NCHW input, got {shape}")
        self.interpreter, self._in, self._out = interpreter, inp["index"], out["index"]
        self.fixed_side = shape[2]

    def deactivate_impl(self) -> None:
        self.interpreter = None

    def runs_in(self) -> str:
        return RUNS_IN[self.precision]

    def toolchain(self) -> dict[str, Any]:
        return {"ai_edge_litert": litert_version(), "delegate": "XNNPACK", "threads": self.thread_info()["threads"],
                "fixed_side": self.fixed_side}

    def thread_info(self) -> dict[str, int]:
        from srkd.host import physical_cores

        return {"threads": self.threads or physical_cores()}

    def infer_impl(self, batch: np.ndarray) -> np.ndarray:
        outs = []
        for image in batch:
            self.interpreter.set_tensor(self._in, np.ascontiguousarray(image[None]))
            self.interpreter.invoke()
            outs.append(np.array(self.interpreter.get_tensor(self._out)[0], dtype=np.float32, copy=True))
        return np.stack(outs)


def io_names(path: str | os.PathLike) -> tuple[str, str]:
    """The input and output tensor names of a ``.tflite``."""
    interpreter = require_litert()(model_path=str(path))
    return interpreter.get_input_details()[0]["name"], interpreter.get_output_details()[0]["name"]

