"""ONNX Runtime backend (CPU, or CUDA where onnxruntime-gpu finds a GPU)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from srkd.errors import BackendUnavailableError
from srkd.export.runners.base import Runner
from srkd.models.spec import ModelSpec


class OrtRunner(Runner):
    backend = "onnxruntime"

    def __init__(self, path: str | os.PathLike, *, spec: ModelSpec, precision: str = "fp32",
                 threads: int | None = None, providers: list[str] | None = None) -> None:
        super().__init__(spec=spec, precision=precision)
        self.path, self.threads, self.providers = Path(path), threads, providers
        self.session = None

    def activate_impl(self) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise BackendUnavailableError("onnxruntime is not installed (pip install 'srkd[cpu]')") from None
        opts = ort.SessionOptions()
        if self.threads:
            opts.intra_op_num_threads = self.threads
        opts.log_severity_level = 3
        providers = self.providers or ["CPUExecutionProvider"]
        self.session = ort.InferenceSession(str(self.path), sess_options=opts, providers=providers)
        self.input_name = self.session.get_inputs()[0].name

    def deactivate_impl(self) -> None:
        self.session = None

    def toolchain(self) -> dict:
        import onnxruntime as ort

        return {"onnxruntime": ort.__version__, "providers": self.session.get_providers() if self.session else []}

    def infer_impl(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: batch})[0]
