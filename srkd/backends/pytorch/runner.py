"""PyTorch backend: fp32 (the reference) or bf16/fp16 autocast, on CPU or CUDA.

fp32 on a GPU runs with TF32 off (``srkd.device.exact_fp32``): it is compared against the CPU's fp32
at the 60 dB bound, which TF32 convolutions do not promise.
"""
from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch import nn

from srkd.backends.runner import Runner
from srkd.device import exact_fp32
from srkd.models.spec import ModelSpec


class TorchRunner(Runner):
    backend = "torch"

    def __init__(self, model: nn.Module, *, spec: ModelSpec, precision: str = "fp32",
                 device: str | torch.device = "cpu", channels_last: bool = False, threads: int | None = None) -> None:
        super().__init__(spec=spec, precision=precision)
        if precision not in ("fp32", "bf16", "fp16"):
            raise ValueError(f"torch runner precision must be fp32, bf16 or fp16, got {precision}")
        self.model, self.device, self.channels_last, self.threads = model, torch.device(device), channels_last, threads

    def activate_impl(self) -> None:
        if self.threads:  # torch's pool is per process: the last runner activated sets it
            torch.set_num_threads(self.threads)
        self.model = self.model.to(self.device).eval()
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)

    def runs_in(self) -> str:
        compute = "fp32" if self.precision == "fp32" else f"{self.precision} autocast"
        return f"{compute}, {'channels_last' if self.channels_last else 'NCHW'}"

    def toolchain(self) -> dict:
        return {"torch": torch.__version__, "device": str(self.device)}

    def _autocast(self):
        if self.precision == "fp32":
            return exact_fp32() if self.device.type == "cuda" else contextlib.nullcontext()
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    @torch.inference_mode()
    def infer_impl(self, batch: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(batch).to(self.device)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with self._autocast():
            y = self.model(x)
        return y.float().cpu().numpy()
