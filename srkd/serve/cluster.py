"""``srkd upscale --ray``: the same per-image work on Ray Data, over local folders or any fsspec URL.

The driver plans the jobs (local inputs exactly as the local runner does; URLs with fsspec), drops
the outputs that exist, and hands ``{src, dst}`` rows to ``map_batches`` over an actor pool; each
actor loads the model once and, per batch of files, reads, decodes, runs the images together
through an Engine (equal-shape tiles batched), encodes and writes. Local outputs are written
atomically; remote ones with one ``pipe_file`` call (object stores publish an object only when its
upload completes). Needs the optional extra: ``pip install 'srkd[ray]'``.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
import time
from typing import Any

import numpy as np

from srkd.errors import BackendUnavailableError
from srkd.serve.pipeline import RunOptions, failure_text
from srkd.serve.remote import is_url, plan_urls, read_bytes, write_bytes
from srkd.serve.report import BatchReport, FileResult, Outcome

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, kw_only=True)
class RayOptions:
    """Where Ray runs and how the model actors are sized; ``files`` per ``map_batches`` call."""

    address: str | None = None
    actors: int = 2
    cpus: float = 1.0
    gpus: float = 0.0
    files: int = 4


def _localise_model(ref: str) -> str:
    """A local path for ``ref``: URLs (a file or a bundle folder) are downloaded into a temp folder once."""
    if not is_url(ref):
        return ref
    import fsspec

    fs, path = fsspec.core.url_to_fs(ref)
    dest = os.path.join(tempfile.mkdtemp(prefix="srkd-model-"), os.path.basename(path.rstrip("/")))
    fs.get(path, dest, recursive=fs.isdir(path))
    return dest


class UpscaleActor:
    """Holds one loaded model; called with a batch of ``{src, dst}`` rows, returns one outcome row per file."""

    def __init__(self, *, model: str, backend: str, device: str, precision: str, tile: int | str, tile_overlap: int,
                 options: RunOptions) -> None:
        from srkd.serve.upscaler import load

        self.options = options
        self.up = load(_localise_model(model), backend=backend, device=device, precision=precision, tile=tile,
                       tile_overlap=tile_overlap, batch=options.batch, alpha=options.image.alpha)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from srkd.serve.decode import decode_image
        from srkd.serve.encode import encode_image
        from srkd.serve.task import finish, prepare

        srcs, dsts = [str(s) for s in batch["src"]], [str(d) for d in batch["dst"]]
        rows: dict[int, dict[str, Any]] = {}
        tasks, t0 = [], time.perf_counter()
        for i, src in enumerate(srcs):
            try:
                decoded = decode_image(read_bytes(src), name=src, max_pixels=self.options.max_pixels)
                tasks.append(prepare(decoded.pixels, in_channels=self.up.spec.in_channels,
                                     options=self.options.image, key=i, meta=decoded))
            except Exception as exc:  # noqa: BLE001 - this file fails, the batch goes on
                rows[i] = {"outcome": "failed", "message": failure_text(exc)}
        for done in self.up.engine(batch=self.options.batch).run(tasks):
            i, task = done.task.key, done.task
            try:
                if done.error is not None:
                    raise done.error
                img = finish(task, done.outputs, scale=self.up.scale, options=self.options.image)
                data, notes = encode_image(img, ext=os.path.splitext(dsts[i])[1], icc=task.meta.icc,
                                           exif=task.meta.exif, options=self.options.encode)
                write_bytes(dsts[i], data)
                rows[i] = {"outcome": "ok", "in_size": list(task.meta.size), "out_size": [img.shape[1], img.shape[0]],
                           "notes": "; ".join(task.meta.notes + tuple(notes))}
            except Exception as exc:  # noqa: BLE001 - this file fails, the batch goes on
                rows[i] = {"outcome": "failed", "message": failure_text(exc)}
        seconds = (time.perf_counter() - t0) / max(1, len(srcs))
        cols = ("outcome", "message", "in_size", "out_size", "notes")
        out: dict[str, list] = {"src": srcs, "dst": dsts, "seconds": [seconds] * len(srcs)}
        for c in cols:
            out[c] = [str(rows[i].get(c) or "") if c not in ("in_size", "out_size") else rows[i].get(c) or [0, 0]
                      for i in range(len(srcs))]
        return {k: np.asarray(v) if k not in ("in_size", "out_size") else np.asarray(v, dtype=np.int64)
                for k, v in out.items()}


def _size(v: Any) -> tuple[int, int] | None:
    return (int(v[0]), int(v[1])) if v is not None and int(v[0]) > 0 else None


def _result(row: dict[str, Any]) -> FileResult:
    notes = tuple(n for n in str(row.get("notes", "")).split("; ") if n)
    return FileResult(src=row["src"], dst=row["dst"], outcome=Outcome(str(row["outcome"])), message=str(row["message"]),
                      seconds=float(row["seconds"]), in_size=_size(row.get("in_size")),
                      out_size=_size(row.get("out_size")), notes=notes)


@dataclasses.dataclass(kw_only=True)
class RayPlan:
    """What a ``--ray`` run will do: rows to run, a report holding the skipped/refused files, the report folders."""

    todo: list[dict[str, str]]
    report: BatchReport
    out_dirs: list[str]


def plan_ray(inputs: list[str], *, model: str, out: str | None, recursive: bool, template: str, ext: str | None,
             options: RunOptions, backend: str, precision: str, shard: tuple[int, int] | None,
             cluster: RayOptions) -> RayPlan:
    """Plan the jobs (local paths or URLs), apply the shard, and set aside existing outputs and refused files."""
    from srkd.serve.loader import open_model
    from srkd.serve.plan import scale_label

    spec = open_model(_localise_model(model), backend=backend, device="cpu", precision=precision).spec
    jobs, out_dirs, existing = plan_urls(inputs, out=out, recursive=recursive, template=template, ext=ext,
                                         label=scale_label(spec.scale, options.image.outscale))
    if shard:
        jobs = jobs[shard[0]::shard[1]]
    report = BatchReport(model=model, runner=f"ray:{backend}:{precision}", scale=spec.scale,
                         settings={"ray_actors": cluster.actors, "shard": list(shard) if shard else None})
    todo = []
    for src, dst, error in jobs:
        if error:
            report.add(FileResult(src=src, dst=dst, outcome=Outcome.FAILED, message=error))
        elif dst in existing and not options.overwrite:
            report.add(FileResult(src=src, dst=dst, outcome=Outcome.SKIPPED, message="output exists"))
        else:
            todo.append({"src": src, "dst": dst})
    return RayPlan(todo=todo, report=report, out_dirs=out_dirs)


def run_ray(plan: RayPlan, *, model: str, options: RunOptions, backend: str, device: str, precision: str,
            tile: int | str, tile_overlap: int, cluster: RayOptions) -> BatchReport:
    """Run ``plan.todo`` on Ray Data (map_batches over an actor pool); returns ``plan.report`` completed."""
    try:
        import ray as ray_mod
        from ray.data import ActorPoolStrategy, from_items
    except ImportError:
        raise BackendUnavailableError("--ray needs Ray Data: pip install 'srkd[ray]'") from None
    start, report = time.perf_counter(), plan.report
    if plan.todo:
        if not ray_mod.is_initialized():
            ray_mod.init(address=cluster.address, include_dashboard=False, log_to_driver=False,
                         ignore_reinit_error=True)
        if not log.isEnabledFor(logging.DEBUG):  # Ray Data's per-second progress lines
            logging.getLogger("ray.data").setLevel(logging.WARNING)
        blocks = min(len(plan.todo), max(cluster.actors, -(-len(plan.todo) // cluster.files)))
        ds = from_items(plan.todo, override_num_blocks=blocks)
        ctor = {"model": model, "backend": backend, "device": device, "precision": precision, "tile": tile,
                "tile_overlap": tile_overlap, "options": options}
        rows = ds.map_batches(UpscaleActor, batch_size=cluster.files, fn_constructor_kwargs=ctor,
                              compute=ActorPoolStrategy(size=cluster.actors), num_cpus=cluster.cpus,
                              num_gpus=cluster.gpus or None, batch_format="numpy").take_all()
        for row in rows:
            report.add(_result(row))
    report.results.sort(key=lambda r: str(r.src))
    report.seconds = time.perf_counter() - start
    return report
