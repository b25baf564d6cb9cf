"""ONNX Runtime backend: CPU, CUDA, or the TensorRT execution provider with an engine cache.

``execution_providers("cuda")`` sets ``cudnn_conv_algo_search=HEURISTIC`` (the exhaustive default
benchmarks every conv algorithm for every new input shape, which a tiled upscaler keeps producing).
``execution_providers("tensorrt", cache_dir=...)`` turns on TensorRT's engine and timing caches,
with the optimisation profile from the model's size requirement. The GPU paths are EXPERIMENTAL:
not yet run on a GPU.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from srkd.backends.runner import Runner
from srkd.errors import BackendUnavailableError, ConfigError
from srkd.models.spec import ModelSpec

EP_KINDS = ("cpu", "cuda", "tensorrt")
_EP_NAMES = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}


def _shape_text(name: str, shape: Sequence[int]) -> str:
    return f"{name}:{'x'.join(str(int(s)) for s in shape)}"


def execution_providers(
    kind: str, *, spec: ModelSpec | None = None, input_name: str = "lr", cache_dir: str | os.PathLike | None = None,
    precision: str = "fp32",
) -> list[Any]:
    """The ``providers`` list for an InferenceSession of ``kind`` (cpu | cuda | tensorrt), CPU last."""
    if kind not in EP_KINDS:
        raise ConfigError(f"unknown ONNX Runtime execution provider {kind!r}; expected one of {', '.join(EP_KINDS)}")
    cpu = _EP_NAMES["cpu"]
    cuda = (_EP_NAMES["cuda"], {"cudnn_conv_algo_search": "HEURISTIC"})
    if kind == "cpu":
        return [cpu]
    if kind == "cuda":
        return [cuda, cpu]
    from srkd.backends.tensorrt.info import profile_shapes
    from srkd.models.spec import SizeReq

    profile = profile_shapes(spec.size_req if spec else SizeReq(), channels=spec.in_channels if spec else 3)
    options: dict[str, Any] = {
        "trt_engine_cache_enable": True, "trt_timing_cache_enable": True,
        "trt_engine_cache_path": str(cache_dir or "trt_cache"), "trt_timing_cache_path": str(cache_dir or "trt_cache"),
        "trt_fp16_enable": precision == "fp16", "trt_int8_enable": precision == "int8",
        "trt_profile_min_shapes": _shape_text(input_name, profile.min),
        "trt_profile_opt_shapes": _shape_text(input_name, profile.opt),
        "trt_profile_max_shapes": _shape_text(input_name, profile.max),
    }
    return [(_EP_NAMES["tensorrt"], options), cuda, cpu]


def available_kinds() -> list[str]:
    """The EP kinds this onnxruntime build offers (``[]`` when onnxruntime is not installed)."""
    try:
        import onnxruntime
    except ImportError:
        return []
    names = set(onnxruntime.get_available_providers())
    return [k for k in EP_KINDS if _EP_NAMES[k] in names]


class OrtRunner(Runner):
    backend = "onnxruntime"

    def __init__(self, path: str | os.PathLike, *, spec: ModelSpec, precision: str = "fp32",
                 threads: int | None = None, providers: list[Any] | None = None) -> None:
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
