"""TensorRT backend: a serialized engine run with ``execute_async_v3`` on torch CUDA buffers.

EXPERIMENTAL: written against the documented TensorRT 10/11 Python API, not yet run on a GPU.
Activation refuses an engine built for another GPU architecture or TensorRT version, naming the
command that rebuilds it. The engine runs on its own CUDA stream (not the legacy default stream) on
the GPU it was opened for (``device="cuda:1"``; default: the current one); every TensorRT call that
reports failure by its return value is checked.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from srkd.backends.runner import Runner
from srkd.errors import BackendUnavailableError, SrkdError
from srkd.models.spec import ModelSpec


class TrtRunner(Runner):
    backend = "tensorrt"

    def __init__(self, path: str | os.PathLike, *, spec: ModelSpec, precision: str, built_with: Mapping[str, Any],
                 device: Any = None, rebuild: str = "srkd export STUDENT --out BUNDLE --trt PRECISION --overwrite") -> None:
        """``built_with``: the TensorRT version and compute capability the engine was built with (its
        manifest toolchain); activation refuses another GPU architecture or TensorRT version."""
        super().__init__(spec=spec, precision=precision)
        self.path, self.built_with, self.rebuild = Path(path), built_with, rebuild
        self.engine = self.context = self.stream = None
        self.gpu_index = _index(device)
        self.device = f"cuda:{self.gpu_index}" if self.gpu_index is not None else "cuda"

    def activate_impl(self) -> None:
        import torch

        from srkd.backends.tensorrt import build
        from srkd.backends.tensorrt.info import check_engine_compat

        trt, capability = build.require_tensorrt(what="a TensorRT engine")  # capability of the current GPU
        if self.gpu_index is not None:
            capability = tuple(torch.cuda.get_device_capability(self.gpu_index))
        check_engine_compat(file=self.path.name, toolchain=self.built_with, trt_version=str(trt.__version__),
                            capability=capability, rebuild=self.rebuild)
        if self.gpu_index is None:
            self.gpu_index = torch.cuda.current_device()
        self.device = f"cuda:{self.gpu_index}"
        self.trt = trt
        with torch.cuda.device(self.gpu_index):
            self.runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
            self.engine = self.runtime.deserialize_cuda_engine(self.path.read_bytes())
            if self.engine is None:
                raise BackendUnavailableError(f"{self.path}: TensorRT {trt.__version__} could not load the engine. "
                                              f"Rebuild it: {self.rebuild}")
            self.context = self.engine.create_execution_context()
            if self.context is None:
                raise BackendUnavailableError(f"{self.path}: TensorRT could not create an execution context "
                                              "(out of GPU memory?)")
            self.stream = torch.cuda.Stream(device=self.gpu_index)
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        mode = trt.TensorIOMode.INPUT
        self.input_name = next(n for n in names if self.engine.get_tensor_mode(n) == mode)
        self.output_name = next(n for n in names if self.engine.get_tensor_mode(n) != mode)
        for name in (self.input_name, self.output_name):
            dtype = self.engine.get_tensor_dtype(name)
            if dtype != trt.DataType.FLOAT:
                raise SrkdError(f"{self.path.name}: engine tensor {name!r} is {dtype}, expected float32 "
                                f"(srkd engines take and give float32). Rebuild it: {self.rebuild}")
        self.profile = self.engine.get_tensor_profile_shape(self.input_name, 0)  # (min, opt, max)

    def deactivate_impl(self) -> None:
        self.context = self.engine = self.stream = None

    def toolchain(self) -> dict:
        import torch

        return {"tensorrt": str(self.trt.__version__),
                "compute_capability": list(torch.cuda.get_device_capability(self.gpu_index)),
                "gpu": torch.cuda.get_device_name(self.gpu_index)}

    def _check_profile(self, shape: tuple[int, ...]) -> None:
        lo, _, hi = (tuple(s) for s in self.profile)
        if any(s < a or s > b for s, a, b in zip(shape, lo, hi)):
            raise SrkdError(f"{self.path.name}: input {shape} is outside the engine's profile {lo}..{hi}; "
                            "tile the image (srkd upscale --tile) or rebuild with --trt-profile")

    def infer_impl(self, batch: np.ndarray) -> np.ndarray:
        import torch

        self._check_profile(batch.shape)
        device = torch.device("cuda", self.gpu_index)
        with torch.cuda.device(device), torch.cuda.stream(self.stream):
            x = torch.from_numpy(batch).to(device)
            if not self.context.set_input_shape(self.input_name, tuple(batch.shape)):
                raise SrkdError(f"{self.path.name}: TensorRT refused input shape {tuple(batch.shape)}")
            out_shape = tuple(self.context.get_tensor_shape(self.output_name))
            y = torch.empty(out_shape, dtype=torch.float32, device=device)
            self.context.set_tensor_address(self.input_name, x.data_ptr())
            self.context.set_tensor_address(self.output_name, y.data_ptr())
            if not self.context.execute_async_v3(self.stream.cuda_stream):
                raise SrkdError(f"{self.path.name}: TensorRT execution failed for input {tuple(batch.shape)}")
            self.stream.synchronize()
            return y.cpu().numpy()


def _index(device: Any) -> int | None:
    """The GPU index of ``device`` (``cuda:1`` -> 1; ``cuda`` or None -> None: the current GPU)."""
    if device is None:
        return None
    import torch

    dev = torch.device(device)
    if dev.type != "cuda":
        raise SrkdError(f"TensorRT engines run on a CUDA GPU, not on {dev}")
    return dev.index
