"""The CI gate's fixed reference workload: one seeded conv stack, run on torch, ONNX Runtime and OpenVINO.

An artifact's latency is divided by the reference's on the same backend, timed in the same run: a
slower or busier machine slows both, and each backend's own response to load (thread pools, memory
arenas) is matched by its own reference. Feature maps are 2 MiB, past L2 like an SR network's.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch

WORKLOAD = ("4 x (Conv2d 32->32 3x3 + ReLU) on 1x32x128x128, seeded weights, fp32; torch, ONNX Runtime "
            "and OpenVINO (f32 hint)")


def _stack() -> tuple[torch.nn.Module, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    layers: list[torch.nn.Module] = []
    for _ in range(4):
        conv = torch.nn.Conv2d(32, 32, 3, padding=1)
        with torch.no_grad():
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) * 0.05)
            conv.bias.zero_()
        layers += [conv, torch.nn.ReLU()]
    return torch.nn.Sequential(*layers).eval(), torch.rand(1, 32, 128, 128, generator=gen)


class ReferenceWorkload:
    """``min_ms(backend)``: the fastest of ``runs`` calls of the stack on that backend ("onnxruntime",
    "openvino", else torch). ``threads``: ONNX Runtime / OpenVINO threads (torch uses its global setting)."""

    def __init__(self, *, threads: int = 1) -> None:
        self.net, self.x = _stack()
        self.x_np = self.x.numpy()
        self.threads, self.session, self.ov_request = threads, None, None
        self._tmp: tempfile.TemporaryDirectory | None = None

    def _onnx(self) -> Path:
        """The stack as ONNX, exported once into a temp folder that lives as long as this object."""
        if self._tmp is None:
            from srkd.export.onnx import export_module

            self._tmp = tempfile.TemporaryDirectory(prefix="srkd-ref-")
            export_module(self.net, Path(self._tmp.name) / "reference.onnx", example=self.x, label="reference workload")
        return Path(self._tmp.name) / "reference.onnx"

    def _ort(self):
        if self.session is None:
            import onnxruntime as ort

            opts = ort.SessionOptions()
            opts.intra_op_num_threads = self.threads
            self.session = ort.InferenceSession(str(self._onnx()), sess_options=opts, providers=["CPUExecutionProvider"])
        return self.session

    def _ov(self):
        if self.ov_request is None:
            from srkd.backends.openvino.runner import compile_ir

            self.ov_request = compile_ir(self._onnx(), precision="fp32", threads=self.threads).create_infer_request()
        return self.ov_request

    def min_ms(self, backend: str = "torch", *, runs: int = 5) -> float:
        if backend == "onnxruntime":
            session = self._ort()
            call = lambda: session.run(None, {"lr": self.x_np})  # noqa: E731
        elif backend == "openvino":
            request = self._ov()
            call = lambda: request.infer({0: self.x_np})  # noqa: E731
        else:
            call = lambda: self.net(self.x)  # noqa: E731
        with torch.inference_mode():
            call()  # warm-up
            times = []
            for _ in range(runs):
                start = time.perf_counter()
                call()
                times.append((time.perf_counter() - start) * 1e3)
        return float(np.min(times))
