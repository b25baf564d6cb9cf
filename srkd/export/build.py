"""Writing a bundle: every artifact the options ask for, each parity-checked and timed, and the manifest.

Always ``student.safetensors`` (torch fp32, the reference) and ``model.onnx``; on request what the
backends in ``srkd.backends`` can make (``--bf16``, ``--fp16``, ``--int8``, ``--openvino``, ``--trt``,
``--with NAME``) and the file for spandrel (``--spandrel``). Artifacts are made from the student's
inference form (``fold_for_inference``: SPAN's branches folded into single convolutions) and checked
against the network as trained. ``export_bundle`` makes them in a hidden folder beside ``out`` and renames it into
place only when every artifact passed: a refused or interrupted export leaves no bundle behind
(srkd.export.target). Reading bundles is ``srkd.bundle``'s business.
"""
from __future__ import annotations

import dataclasses
import datetime
import logging
import os
import shutil
from pathlib import Path
from typing import Any, Sequence

from srkd import __version__
from srkd.backends.pytorch.runner import TorchRunner
from srkd.bundle.manifest import (FORMAT_VERSION, MANIFEST_NAME, STUDENT_FILE, ExportRecord, Manifest, ParityData,
                                  write_manifest)
from srkd.bundle.reader import Bundle, load_bundle
from srkd.errors import ConfigError
from srkd.export import target
from srkd.export.context import BuildContext, Preflight
from srkd.export.options import ExportOptions
from srkd.export.parity import parity_images, thresholds
from srkd.export.plan import plan_artifacts, record
from srkd.export.spandrel import write_spandrel
from srkd.interrupts import uninterrupted
from srkd.models.checkpoint import load_checkpoint, load_model, save_model
from srkd.models.repconv import fold_for_inference
from srkd.models.spandrel_export import require_expressible

log = logging.getLogger(__name__)


def build_into(src: Path, tmp: Path, out: Path, *, data: str | os.PathLike | None, opts: ExportOptions) -> Manifest:
    """Make every artifact of ``opts`` in the folder ``tmp`` from the checkpoint ``src`` and write the manifest."""
    plan = plan_artifacts(opts)
    opts = _with_timed_sides(opts, plan)
    photos = parity_images(data, limit=opts.images, crop=opts.crop)  # first: a bad --data fails before any work
    ckpt = load_checkpoint(src)  # the one read of the checkpoint
    for backend in dict.fromkeys(backend for backend, _ in plan):  # what cannot be done here, before any work
        if backend.preflight is not None:
            backend.preflight(Preflight(opts=opts, spec=ckpt.spec, photos=photos))
    if opts.spandrel:
        require_expressible(ckpt.model, source=str(src))
    model, spec, meta = ckpt.model, ckpt.spec, ckpt.metadata
    if meta is not None:  # srkd safetensors: the bundle holds the very file
        shutil.copyfile(src, tmp / STUDENT_FILE)
    else:  # a foreign checkpoint: stored the srkd way, and what the bundle holds is what gets run
        meta = save_model(tmp / STUDENT_FILE, model, provenance={"source": src.name}, weights="unknown")
        model, spec = load_model(tmp / STUDENT_FILE)
    # every artifact is made from the inference form (SPAN: branches folded); the reference is the
    # network as trained, so parity also checks the fold
    with TorchRunner(ckpt.model, spec=ckpt.spec) as reference:
        ctx = BuildContext(folder=tmp, out=out, checkpoint=src, model=fold_for_inference(model), spec=spec,
                           meta=meta, opts=opts, photos=photos, reference=reference)
        entries = []
        for backend, art in plan:
            made = art.make(ctx)
            if made is not None:
                ctx.made.setdefault(made.file or art.file, made)
                entries.append(record(ctx, backend, art, made))
        for_spandrel = (write_spandrel(model, tmp, reference=reference, images=ctx.hr_images, out=out)
                        if opts.spandrel else None)
    manifest = Manifest(
        format_version=FORMAT_VERSION, srkd_version=__version__,
        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), model=meta,
        parity_data=ParityData(source=str(data) if data is not None else "scikit-image sample photos",
                               images=tuple(n for n, _ in photos), crop=opts.crop, lr="MATLAB bicubic of HR"),
        thresholds=thresholds(), artifacts=tuple(entries),
        export=ExportRecord(flags=tuple(opts.artifact_flags()), skipped=tuple(ctx.skipped), spandrel=for_spandrel),
    )
    write_manifest(tmp, manifest)
    return manifest


def _with_timed_sides(opts: ExportOptions, plan: list) -> ExportOptions:
    """``opts`` with the sides of the planned fixed-shape artifacts added to the latency sizes."""
    sides = {side for backend in dict.fromkeys(b for b, _ in plan) if backend.timed_sides
             for side in backend.timed_sides(opts)}
    if sides <= set(opts.latency_sizes):
        return opts
    return dataclasses.replace(opts, latency_sizes=tuple(sorted({*opts.latency_sizes, *sides})))


def export_bundle(
    student: str | os.PathLike, out: str | os.PathLike, *, data: str | os.PathLike | None = None, opset: int = 17,
    dynamo: bool = False, overwrite: bool = False, images: int | None = 3, crop: int | None = 256,
    latency_sizes: Sequence[int] = (64, 128, 256), latency_runs: int = 10, threads: int | None = None,
    **artifacts: Any,
) -> Bundle:
    """Make the bundle ``out`` from ``student`` (a checkpoint file or a shipped model name).

    Parity runs on the first ``images`` photos of ``data`` (default: scikit-image's astronaut,
    chelsea, coffee), center-cropped to ``crop`` px. An artifact below its threshold raises
    ParityError with the figures and nothing is left at ``out``. ``threads``: intra-op threads of every
    runtime (None: their defaults). ``artifacts``: the other fields of ``ExportOptions`` (``simplify``,
    ``bf16``, ``fp16``, ``int8``, ``calib``, ``trt``, ``openvino``, ``with_backends``, ``spandrel``, ...); an unknown
    one is a ConfigError listing them.
    """
    known = {f.name for f in dataclasses.fields(ExportOptions)}
    unknown = sorted(set(artifacts) - known)
    if unknown:
        raise ConfigError(f"export: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    opts = ExportOptions(opset=opset, dynamo=dynamo, images=images, crop=crop, latency_sizes=tuple(latency_sizes),
                         latency_runs=latency_runs, threads=threads, **artifacts)
    src, out = target.student_file(student), Path(out)
    target.check_target(out, overwrite=overwrite)
    tmp = None
    try:
        with uninterrupted():  # a stop right after the folder is made comes here, where it is removed
            tmp = target.make_workdir(out)
        manifest = build_into(src, tmp, out, data=data, opts=opts)
        target.move_into_place(tmp, out)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    files = dict.fromkeys([*(a.file for a in manifest.artifacts),
                           *([manifest.export.spandrel.file] if manifest.export and manifest.export.spandrel else [])])
    log.info("%s: bundle written (%s)", out, ", ".join([*files, MANIFEST_NAME]))
    return load_bundle(out)
