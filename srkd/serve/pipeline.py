"""The batch runner: read/decode -> infer -> encode/write, concurrently, with bounded queues.

Reading and decoding run in ``readers`` threads, at most ``queue`` images ahead; inference runs on
the calling thread through an Engine (equal-shape windows of up to ``queue`` images batched); finishing,
encoding and the atomic write run in ``writers`` threads, at most ``queue`` images behind. Each
file ends as ok, skipped (its output exists) or failed with its reason, and the batch goes on.
Ctrl-C stops reading and inference at once, lets the writes already running finish (they are
atomic: a file is complete or absent), records what was done and marks the report interrupted.
"""
from __future__ import annotations

import collections
import dataclasses
import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Callable

from srkd.errors import ImageWriteError, SrkdError, one_line
from srkd.fsutil import atomic_write_bytes
from srkd.serve.decode import DEFAULT_MAX_PIXELS, read_for_upscale
from srkd.serve.encode import EncodeOptions, encode_image
from srkd.serve.plan import Job, Plan
from srkd.serve.report import BatchReport, FileResult, Outcome
from srkd.serve.task import ImageOptions, ImageTask, finish, prepare

if TYPE_CHECKING:
    from srkd.serve.upscaler import Upscaler

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunOptions:
    """How a batch runs: skip/overwrite, the pixel limit, image and encoding options, queue and thread sizes."""

    overwrite: bool = False
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    image: ImageOptions = ImageOptions()
    encode: EncodeOptions = EncodeOptions()
    batch: int = 1
    queue: int = 4
    readers: int = 1
    writers: int = 1


def failure_text(exc: BaseException) -> str:
    """One line for a failed file: an SrkdError's own text (control characters in it, such as a newline in
    a file name, escaped), else the exception type and its first line."""
    if isinstance(exc, SrkdError):
        return one_line(str(exc).strip())
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return one_line(f"{type(exc).__name__}: {msg}".rstrip(": "))


def load_task(job: Job, *, key: int, in_channels: int, options: RunOptions) -> ImageTask:
    """Read, decode and prepare one input (runs in a reader thread)."""
    decoded = read_for_upscale(job.src, max_pixels=options.max_pixels)
    return prepare(decoded.pixels, in_channels=in_channels, options=options.image, key=key, meta=decoded)


def save_task(task: ImageTask, outputs: list, *, dst, scale: int,
              options: RunOptions) -> tuple[tuple[int, int], list[str]]:
    """Finish, encode and atomically write one output (runs in a writer thread); returns (size, notes)."""
    img = finish(task, outputs, scale=scale, options=options.image)
    data, notes = encode_image(img, ext=dst.suffix, icc=task.meta.icc, exif=task.meta.exif, options=options.encode)
    try:
        atomic_write_bytes(dst, data)
    except OSError as exc:
        raise ImageWriteError(f"{dst}: cannot write the output ({exc.strerror or type(exc).__name__})") from None
    return (int(img.shape[1]), int(img.shape[0])), notes


@dataclasses.dataclass
class _Write:
    index: int
    job: Job
    future: Future
    started: float
    in_size: tuple[int, int]
    notes: tuple[str, ...]


def run_batch(plan: Plan, *, upscaler: "Upscaler", report: BatchReport, options: RunOptions = RunOptions(),
              on_result: Callable[[FileResult], None] | None = None) -> BatchReport:
    """Upscale every job of ``plan`` into ``report`` (results in job order); see the module docstring."""
    start = time.perf_counter()
    done: dict[int, FileResult] = {}

    def record(i: int, result: FileResult) -> None:
        done[i] = result
        log.debug("%s: %s %s", result.src, result.outcome.value, result.message)
        if on_result is not None:
            on_result(result)

    def fail(i: int, job: Job, message: str) -> None:
        record(i, FileResult(src=job.src, dst=job.dst, outcome=Outcome.FAILED, message=message))

    todo: list[tuple[int, Job]] = []
    for i, job in enumerate(plan.jobs):
        if job.error:
            fail(i, job, job.error)
        elif job.skip:
            record(i, FileResult(src=job.src, dst=job.dst, outcome=Outcome.SKIPPED, message=job.skip))
        elif job.dst.exists() and not options.overwrite:
            record(i, FileResult(src=job.src, dst=job.dst, outcome=Outcome.SKIPPED, message="output exists"))
        else:
            todo.append((i, job))

    spec, engine = upscaler.spec, upscaler.engine(batch=options.batch)
    reads: collections.deque[tuple[int, Job, Future]] = collections.deque()
    writes: collections.deque[_Write] = collections.deque()
    started: dict[int, float] = {}
    pending = iter(todo)
    jobs = dict(todo)

    def settle(limit: int) -> None:
        """Record finished writes; wait for the oldest while more than ``limit`` are pending."""
        while writes and (len(writes) > limit or writes[0].future.done()):
            w = writes.popleft()
            if w.future.cancelled():
                continue
            try:
                out_size, notes = w.future.result()
            except Exception as exc:  # noqa: BLE001 - a write error fails this file only
                fail(w.index, w.job, failure_text(exc))
                continue
            record(w.index, FileResult(src=w.job.src, dst=w.job.dst, outcome=Outcome.OK,
                                       seconds=time.perf_counter() - w.started, in_size=w.in_size,
                                       out_size=out_size, notes=w.notes + tuple(notes)))

    with ThreadPoolExecutor(options.readers, thread_name_prefix="srkd-read") as reader, \
            ThreadPoolExecutor(options.writers, thread_name_prefix="srkd-write") as writer:
        def refill() -> None:
            while len(reads) < options.queue and (item := next(pending, None)) is not None:
                i, job = item
                reads.append((i, job, reader.submit(load_task, job, key=i, in_channels=spec.in_channels,
                                                    options=options)))

        def admit() -> None:
            # wait for decoded images while no batch is full: partial batches run only at the end of the
            # input or when ``queue`` images are in flight (e.g. all of different shapes)
            while reads and engine.in_flight < options.queue and (reads[0][2].done() or not engine.has_full_batch()):
                i, job, fut = reads.popleft()
                refill()
                started[i] = time.perf_counter()
                try:
                    engine.submit(fut.result())
                except Exception as exc:  # noqa: BLE001 - unreadable file: this file fails, the batch goes on
                    fail(i, job, failure_text(exc))

        try:
            refill()
            while True:
                admit()
                if not engine.busy:
                    if not reads:
                        break
                    continue
                for fin in engine.step():
                    i = fin.task.key
                    if fin.error is not None:
                        fail(i, jobs[i], failure_text(fin.error))
                        continue
                    job = jobs[i]
                    fut = writer.submit(save_task, fin.task, fin.outputs, dst=job.dst, scale=spec.scale,
                                        options=options)
                    writes.append(_Write(i, job, fut, started[i], fin.task.meta.size, fin.task.meta.notes))
                settle(options.queue)
            settle(0)
        except KeyboardInterrupt:
            report.interrupted = True
            for _, _, fut in reads:
                fut.cancel()
            for w in writes:
                w.future.cancel()
            log.warning("interrupted: finishing the writes already running, starting nothing new")
            writer.shutdown(wait=True)
            settle(0)
    for i in sorted(done):
        report.add(done[i])
    report.seconds = time.perf_counter() - start
    return report
