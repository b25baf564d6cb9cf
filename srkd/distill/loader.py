"""Batches cut in a background thread so the step never waits on data; the wait is measured."""
from __future__ import annotations

import json
import queue
import threading
import time

import numpy as np
import torch

from srkd.data.dataset import HRFolderDataset


class Prefetcher:
    """Produces (lr, hr) batches ahead of the step from a seeded numpy Generator.

    Each batch carries the generator state from just after it was cut, so a checkpoint can
    record the exact data position (``position()``) and a resumed run sees the same batches.
    """

    def __init__(self, dataset: HRFolderDataset, *, batch: int, seed: int | tuple[int, ...], state: str | None = None,
                 depth: int = 4) -> None:
        self.dataset, self.batch = dataset, batch
        self.rng = np.random.default_rng(list(seed) if isinstance(seed, tuple) else seed)  # (seed, rank): one stream per rank
        if state is not None:
            self.rng.bit_generator.state = json.loads(state)
        self._pos = json.dumps(self.rng.bit_generator.state)
        self.queue: queue.Queue = queue.Queue(maxsize=depth)
        self.wait_s = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="srkd-prefetch", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while not self._stop.is_set():
            lr, hr = self.dataset.sample(self.rng, self.batch)
            item = (json.dumps(self.rng.bit_generator.state), lr, hr)
            while not self._stop.is_set():
                try:
                    self.queue.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next batch; time spent blocked here is added to ``wait_s``."""
        start = time.perf_counter()
        after, lr, hr = self.queue.get()
        self.wait_s += time.perf_counter() - start
        self._pos = after
        return lr, hr

    def position(self) -> str:
        """Generator state (JSON) right after the last batch consumed: where a resumed run starts."""
        return self._pos

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
