"""One Runner per backend behind one interface (Polygraphy-style).

Subclasses implement ``activate_impl()`` and ``infer_impl(batch) -> batch``; the base class owns
input checks, warm-up, timing and the context-manager protocol.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np

from srkd.errors import SrkdError
from srkd.models.spec import ModelSpec, SizeReq


class Runner:
    """Runs float32 NCHW [0, 1] batches through one backend; ``name`` e.g. ``onnxruntime:fp32``."""

    backend = "abstract"
    device: Any = "cpu"  # where the backend computes: "cpu", "cuda:N" (TorchRunner: a torch.device)
    # the one square LR side a fixed-shape artifact takes (LiteRT), known once active; None: any legal size
    fixed_side: int | None = None

    def __init__(self, *, spec: ModelSpec, precision: str = "fp32") -> None:
        self.spec = spec
        self.precision = precision
        self.active = False
        self.last_ms: float | None = None

    @property
    def name(self) -> str:
        return f"{self.backend}:{self.precision}"

    def activate_impl(self) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement activate_impl")

    def infer_impl(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} must implement infer_impl")

    def deactivate_impl(self) -> None:
        """Release sessions/engines; the default has nothing to release."""

    def runs_in(self) -> str:
        """What the backend actually computes in, for the manifest (e.g. 'bf16 autocast, channels_last')."""
        return self.precision

    def toolchain(self) -> dict[str, Any]:
        """Versions of what this backend runs on, for the manifest."""
        return {}

    def thread_info(self) -> dict[str, int]:
        """The CPU threads it computes with, for latency records (``threads``; {}: torch's own count)."""
        return {}

    def activate(self) -> "Runner":
        if not self.active:
            self.activate_impl()
            self.active = True
        return self

    def deactivate(self) -> None:
        if self.active:
            self.deactivate_impl()
            self.active = False

    def __enter__(self) -> "Runner":
        return self.activate()

    def __exit__(self, *exc: object) -> None:
        self.deactivate()

    @property
    def size_req(self) -> SizeReq:
        """The model's size requirement, with a fixed side as the minimum (what tiles are padded to)."""
        req = self.spec.size_req
        return req if self.fixed_side is None else dataclasses.replace(req, minimum=max(req.minimum, self.fixed_side))

    def check_input(self, batch: np.ndarray) -> np.ndarray:
        if not isinstance(batch, np.ndarray) or batch.ndim != 4:
            raise SrkdError(f"{self.name}: expected a float32 NCHW array, got {getattr(batch, 'shape', type(batch))}")
        if batch.shape[1] != self.spec.in_channels:
            raise SrkdError(f"{self.name}: expected {self.spec.in_channels} channels, got {batch.shape[1]}")
        req = self.spec.size_req
        h, w = batch.shape[2:]
        if self.fixed_side is not None and (h, w) != (self.fixed_side, self.fixed_side):
            raise SrkdError(f"{self.name}: takes {self.fixed_side}x{self.fixed_side} inputs only, got {h}x{w} "
                            "(srkd upscale and srkd.load tile to that size)")
        if min(h, w) < req.minimum or h % req.multiple_of or w % req.multiple_of:
            raise SrkdError(f"{self.name}: input {h}x{w} breaks the size requirement "
                            f"(minimum {req.minimum}, multiple of {req.multiple_of})")
        return np.ascontiguousarray(batch, dtype=np.float32)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Check the input, run it, record the wall time in ``last_ms``; returns float32 NCHW."""
        if not self.active:
            raise SrkdError(f"{self.name}: runner used before activate() (use it as a context manager)")
        batch = self.check_input(batch)
        start = time.perf_counter()
        out = self.infer_impl(batch)
        self.last_ms = (time.perf_counter() - start) * 1e3
        return np.asarray(out, dtype=np.float32)

    def warmup(self, batch: np.ndarray, *, runs: int = 2) -> None:
        for _ in range(runs):
            self.infer(batch)
