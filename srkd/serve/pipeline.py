"""The batch runner: list inputs, map them to outputs, then read -> infer -> write.

Reading and writing run in background threads (one each) so the disk overlaps inference; each
file's outcome is recorded and the batch goes on past files that fail.
"""
from __future__ import annotations

import collections
import dataclasses
import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from srkd.data.io import IMAGE_EXTS, list_images, read_image, write_image
from srkd.errors import ConfigError, DataError, SrkdError
from srkd.serve.report import BatchReport, FileResult, Outcome

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Job:
    """One input file and the output path it maps to."""

    src: Path
    dst: Path


@dataclasses.dataclass(frozen=True, kw_only=True)
class Plan:
    """The jobs of a batch, in order, and the output folders they write into."""

    jobs: list[Job]
    out_dirs: list[Path]


def default_output(src: Path, *, scale: int) -> Path:
    """``<folder>_x<scale>`` beside a folder; ``<stem>_x<scale><ext>`` beside a file."""
    if src.is_dir():
        folder = src if src.name not in ("", ".", "..") else src.resolve()  # "." has no name to extend
        return folder.parent / f"{folder.name}_x{scale}"
    return src.with_name(f"{src.stem}_x{scale}{src.suffix}")


def _within(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def plan_jobs(
    inputs: Sequence[Path], *, scale: int, out: Path | None = None, recursive: bool = False,
    suffix: str | None = None,
) -> Plan:
    """Map files and folders to output paths; a folder's tree is mirrored under its output folder.

    Without ``out``: a folder goes to ``<folder>_x<scale>``, a file to ``<stem>_x<scale><ext>``
    beside it. With ``out``: one file input and ``out`` with an image extension name the output file;
    otherwise ``out`` is a folder holding the files (and mirrored trees) of every input.
    ``suffix`` (e.g. ``.png``) changes the output format. Clashing or in-place outputs are errors.
    """
    inputs = [Path(p) for p in inputs]
    single_file = len(inputs) == 1 and inputs[0].is_file()
    out_is_file = out is not None and single_file and out.suffix.lower() in IMAGE_EXTS and not out.is_dir()
    jobs: list[Job] = []
    out_dirs: list[Path] = []
    for src in inputs:
        if not src.exists():
            raise DataError(f"{src}: no such file or folder")
        if src.is_dir():
            root = out if out is not None else default_output(src, scale=scale)
            if root.resolve() == src.resolve():
                raise ConfigError(f"{src}: the output folder is the input folder; outputs would overwrite the inputs")
            out_dirs.append(root)
            files = [f for f in list_images(src, recursive=recursive) if not _within(f, root)]
            if not files:
                hint = "" if recursive else "; use --recursive for subfolders"
                raise DataError(f"{src}: no image files ({', '.join(IMAGE_EXTS)}){hint}")
            jobs += [Job(src=f, dst=root / f.relative_to(src)) for f in files]
        elif out_is_file:
            jobs.append(Job(src=src, dst=out))
        elif out is not None:
            out_dirs.append(out)
            jobs.append(Job(src=src, dst=out / src.name))
        else:
            jobs.append(Job(src=src, dst=default_output(src, scale=scale)))
    if suffix:
        jobs = [Job(src=j.src, dst=j.dst.with_suffix(suffix)) for j in jobs]
    _check_clashes(jobs)
    return Plan(jobs=jobs, out_dirs=list(dict.fromkeys(out_dirs)))


def _check_clashes(jobs: list[Job]) -> None:
    seen: dict[Path, Path] = {}
    for job in jobs:
        dst = job.dst.resolve()
        if dst == job.src.resolve():
            raise ConfigError(f"{job.src}: the output would overwrite the input; choose another -o")
        if dst in seen:
            raise ConfigError(f"{seen[dst]} and {job.src} would both be written to {job.dst}; use separate -o folders")
        seen[dst] = job.src


def _failure(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = msg if isinstance(exc, SrkdError) else f"{type(exc).__name__}: {msg}".rstrip(": ")
    if "out of memory" in text.lower():
        text += " (try a smaller --tile)"
    return text


def _size(img: np.ndarray) -> tuple[int, int]:
    return int(img.shape[1]), int(img.shape[0])


def run_batch(
    plan: Plan, *, upscale: Callable[[np.ndarray], np.ndarray], report: BatchReport, overwrite: bool = False,
    on_result: Callable[[FileResult], None] | None = None, queue: int = 2,
) -> BatchReport:
    """Upscale every job of ``plan``; existing outputs are skipped unless ``overwrite``.

    Never stops at a failing file: its outcome is ``failed`` with the reason. ``on_result`` is
    called once per file as it finishes (for a progress bar). Results land in ``report`` in job order.
    """
    start = time.perf_counter()
    done: dict[int, FileResult] = {}

    def finish(i: int, result: FileResult) -> None:
        done[i] = result
        log.debug("%s: %s %s", result.src, result.outcome.value, result.message)
        if on_result is not None:
            on_result(result)

    todo: list[tuple[int, Job]] = []
    for i, job in enumerate(plan.jobs):
        if job.dst.exists() and not overwrite:
            finish(i, FileResult(src=job.src, dst=job.dst, outcome=Outcome.SKIPPED, message="output exists"))
        else:
            todo.append((i, job))

    def write(job: Job, img: np.ndarray) -> float:
        t0 = time.perf_counter()
        write_image(job.dst, img)
        return time.perf_counter() - t0

    with ThreadPoolExecutor(1, thread_name_prefix="srkd-read") as reader, \
            ThreadPoolExecutor(1, thread_name_prefix="srkd-write") as writer:
        pending = iter(todo)
        reads: collections.deque[tuple[int, Job, Future]] = collections.deque()
        writes: collections.deque[tuple[int, Job, Future, float, tuple, tuple]] = collections.deque()

        def refill() -> None:
            while len(reads) < queue and (item := next(pending, None)) is not None:
                reads.append((item[0], item[1], reader.submit(read_image, item[1].src, rgb=False)))

        def settle(limit: int) -> None:
            while len(writes) > limit:
                i, job, fut, secs, in_size, out_size = writes.popleft()
                try:
                    secs += fut.result()
                except Exception as exc:  # noqa: BLE001 - any write error fails this file only
                    finish(i, FileResult(src=job.src, dst=job.dst, outcome=Outcome.FAILED, message=_failure(exc)))
                else:
                    finish(i, FileResult(src=job.src, dst=job.dst, outcome=Outcome.OK, seconds=secs,
                                         in_size=in_size, out_size=out_size))

        refill()
        while reads:
            i, job, fut = reads.popleft()
            refill()
            t0 = time.perf_counter()
            try:
                img = fut.result()
                out = upscale(img)
            except Exception as exc:  # noqa: BLE001 - a bad file must not stop the batch
                finish(i, FileResult(src=job.src, dst=job.dst, outcome=Outcome.FAILED, message=_failure(exc)))
                continue
            writes.append((i, job, writer.submit(write, job, out), time.perf_counter() - t0, _size(img), _size(out)))
            settle(queue)
        settle(0)
    for i in sorted(done):
        report.add(done[i])
    report.seconds = time.perf_counter() - start
    return report
