"""Run the tiles of many images through one model: equal shapes batched, out-of-memory retried smaller.

Each submitted ImageTask is cut into windows (``TileGrid``); windows wait in a queue per patch
shape, so the tiles of one large image, or the whole images of a folder of equal-sized photos, run
``batch`` at a time. ``step`` runs one batch: a full one when there is one, else the longest queue.
On out-of-memory a batch is split in halves (and ``batch`` lowered for what follows); a single
window that still does not fit makes the engine halve the tile and re-plan the images in flight.
Any other error fails only the images whose windows were in the failing batch (a batch is re-run
one window at a time to find which).
"""
from __future__ import annotations

import collections
import dataclasses
import logging
from typing import Callable

import numpy as np

from srkd.models.spec import SizeReq
from srkd.serve.task import ImageTask
from srkd.serve.tiler import TileGrid, TileSettings

log = logging.getLogger(__name__)

InferFn = Callable[[np.ndarray], np.ndarray]
_OOM_WORDS = ("out of memory", "failed to allocate", "bad_alloc", "cannot allocate memory", "outofmemory")


def is_oom(exc: BaseException) -> bool:
    """True for out-of-memory errors of any backend (MemoryError, torch CUDA OOM, ONNX Runtime allocation)."""
    return isinstance(exc, MemoryError) or any(w in str(exc).lower() for w in _OOM_WORDS)


def _free_cuda_cache() -> None:
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


class OutOfMemory(MemoryError):
    """A single window did not fit even at the smallest tile."""


@dataclasses.dataclass(eq=False)
class _State:
    task: ImageTask
    grid: TileGrid
    outs: list[np.ndarray | None]
    left: int
    gen: int = 0
    dead: bool = False


@dataclasses.dataclass(frozen=True)
class _Unit:
    state: _State
    gen: int
    plane: int
    k: int

    @property
    def live(self) -> bool:
        return not self.state.dead and self.state.gen == self.gen


@dataclasses.dataclass(frozen=True)
class Finished:
    """A task whose windows all ran (``outputs``, one per plane, 1xCxHxW) or that failed (``error``)."""

    task: ImageTask
    outputs: list[np.ndarray] | None = None
    error: BaseException | None = None


class Engine:
    """Batched, tiled inference over many images with one ``infer`` (float32 NCHW in and out)."""

    def __init__(self, infer: InferFn, *, scale: int, size_req: SizeReq = SizeReq(),
                 tiles: TileSettings = TileSettings(), batch: int = 1, min_tile: int = 32) -> None:
        self.infer, self.scale, self.size_req = infer, scale, size_req
        self.tiles, self.batch, self.min_tile = tiles, max(1, batch), min_tile
        self._queues: dict[tuple, collections.deque[_Unit]] = {}
        self._states: list[_State] = []
        self._done: list[Finished] = []

    @property
    def in_flight(self) -> int:
        """Images submitted and not yet finished or failed."""
        return len(self._states)

    @property
    def busy(self) -> bool:
        return bool(self._states)

    def submit(self, task: ImageTask) -> None:
        """Queue the windows of every plane of ``task``."""
        state = _State(task=task, grid=self._grid(task), outs=[], left=0)
        self._states.append(state)
        self._enqueue(state)

    def _grid(self, task: ImageTask) -> TileGrid:
        w, h = task.size
        return TileGrid.plan(h, w, scale=self.scale, settings=self.tiles, size_req=self.size_req)

    def _enqueue(self, state: _State) -> None:
        n = len(state.grid)
        state.outs, state.left = [None] * len(state.task.planes), n * len(state.task.planes)
        for p, plane in enumerate(state.task.planes):
            key = (plane.shape[1], *state.grid.patch_shape)
            q = self._queues.setdefault(key, collections.deque())
            q.extend(_Unit(state, state.gen, p, k) for k in range(n))

    def has_full_batch(self) -> bool:
        return any(len(q) >= self.batch for q in self._queues.values())

    def step(self) -> list[Finished]:
        """Run one batch (a full one if any, else from the longest queue); returns the tasks it completed."""
        for key in [k for k, q in self._queues.items() if not any(u.live for u in q)]:
            del self._queues[key]
        if self._queues:
            key = max(self._queues, key=lambda k: (len(self._queues[k]) >= self.batch, len(self._queues[k])))
            q, units = self._queues[key], []
            while q and len(units) < self.batch:
                u = q.popleft()
                if u.live:
                    units.append(u)
            if units:
                self._execute(units)
        done, self._done = self._done, []
        return done

    def run(self, tasks: list[ImageTask]) -> list[Finished]:
        """Submit ``tasks`` and step until all are finished; results in completion order."""
        for task in tasks:
            self.submit(task)
        results: list[Finished] = []
        while self.busy:
            results += self.step()
        return results

    def _execute(self, units: list[_Unit]) -> None:
        units = [u for u in units if u.live]
        if not units:
            return
        x = np.concatenate([u.state.grid.patch(u.state.task.planes[u.plane], u.k) for u in units])
        try:
            y = self.infer(np.ascontiguousarray(x, dtype=np.float32))
        except Exception as exc:  # noqa: BLE001 - sorted below: OOM retried, others isolated per image
            if is_oom(exc):
                self._on_oom(units, exc)
            elif len(units) > 1:
                for u in units:
                    self._execute([u])
            else:
                self._fail(units[0].state, exc)
            return
        for i, u in enumerate(units):
            if not u.live:
                continue
            st = u.state
            try:
                st.outs[u.plane] = st.grid.place(st.outs[u.plane], u.k, y[i: i + 1])
            except ValueError as exc:  # the model returned the wrong size
                self._fail(st, exc)
                continue
            st.left -= 1
            if st.left == 0:
                self._states.remove(st)
                self._done.append(Finished(task=st.task, outputs=list(st.outs)))

    def _fail(self, state: _State, exc: BaseException) -> None:
        if state.dead:
            return
        state.dead = True
        self._states.remove(state)
        self._done.append(Finished(task=state.task, error=exc))

    def _on_oom(self, units: list[_Unit], exc: BaseException) -> None:
        _free_cuda_cache()
        if len(units) > 1:
            half = len(units) // 2
            if self.batch > half:
                log.warning("out of memory with a batch of %d windows; going on with batches of %d", len(units), half)
                self.batch = half
            self._execute(units[:half])
            self._execute(units[half:])
            return
        state = units[0].state
        core = max(state.grid.win) - 2 * self.tiles.overlap if len(state.grid) > 1 else max(state.task.size)
        new = (min(core, self.tiles.tile or core) // 2) // 8 * 8
        if new < self.min_tile:
            self._fail(state, OutOfMemory(f"out of memory even with {max(state.grid.win)} px windows "
                                          f"({type(exc).__name__}); try a smaller --batch or another device"))
            return
        log.warning("out of memory on a %s window; retrying with %d px tiles", state.grid.win, new)
        self.tiles = dataclasses.replace(self.tiles, tile=new)
        limit = new + 2 * self.tiles.overlap
        for st in list(self._states):
            if st is state or max(st.grid.win) > limit:
                st.gen += 1
                st.grid = self._grid(st.task)
                self._enqueue(st)
