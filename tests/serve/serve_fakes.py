"""A stand-in Runner for serve tests: nearest-neighbour upscaling that records its calls and can fail on cue."""
from __future__ import annotations

import threading

import numpy as np

from srkd.backends.runner import Runner
from srkd.models.spec import ModelSpec, SizeReq


class NearestRunner(Runner):
    """``x.repeat(scale)`` per axis; ``oom_above`` pixels per call raise MemoryError, ``fail`` raises for a batch."""

    backend = "fake"

    def __init__(self, *, scale: int = 2, size_req: SizeReq = SizeReq(), oom_above: int | None = None,
                 fail=None, interrupt_after: int | None = None) -> None:
        super().__init__(spec=ModelSpec(arch="nearest", hparams={}, scale=scale, size_req=size_req))
        self.oom_above, self.fail, self.interrupt_after = oom_above, fail, interrupt_after
        self.calls: list[tuple[int, ...]] = []
        self.threads: set[str] = set()

    def activate_impl(self) -> None:
        pass

    def infer_impl(self, batch: np.ndarray) -> np.ndarray:
        self.calls.append(batch.shape)
        self.threads.add(threading.current_thread().name)
        if self.interrupt_after is not None and len(self.calls) > self.interrupt_after:
            raise KeyboardInterrupt
        if self.oom_above is not None and batch.size > self.oom_above:
            raise MemoryError(f"out of memory for {batch.shape}")
        if self.fail is not None and self.fail(batch):
            raise RuntimeError("the model broke on this input")
        s = self.spec.scale
        return batch.repeat(s, axis=2).repeat(s, axis=3)
