"""``srkd demo``: the whole chain on the shipped teacher and scikit-image's photos, no downloads."""
from __future__ import annotations

import dataclasses
import logging
import shutil
import time
from pathlib import Path
from typing import Any

from srkd.data.samples import HELD_OUT, TRAIN, write_sample_photos
from srkd.distill.config import DistillConfig
from srkd.distill.trainer import Trainer
from srkd.errors import ConfigError
from srkd.evaluate import evaluate
from srkd.export.build import export_bundle
from srkd.models.resolve import resolve_model
from srkd.serve.pipeline import RunOptions, run_batch
from srkd.serve.plan import Naming, plan_jobs
from srkd.serve.report import REPORT_NAME, BatchReport
from srkd.serve.upscaler import load
from srkd.zoo import DEFAULT_MODEL

log = logging.getLogger(__name__)
MARKER = ".srkd-demo"
# the demo's student (srkd demo --student overrides it): the winner of the quality-for-latency table
# (benchmarks/students.py, RESULTS.md "Which student") at half its depth
DEMO_STUDENT = "compact:num_feat=64,num_conv=4"


@dataclasses.dataclass(kw_only=True)
class DemoConfig:
    out: str = "srkd-demo"
    teacher: str = DEFAULT_MODEL
    student: str = DEMO_STUDENT
    steps: int = 500
    batch: int = 8
    patch: int = 32
    lr: float = 1e-3
    threads: int | None = None


@dataclasses.dataclass
class DemoResult:
    out: Path
    run: Path
    student: Path
    bundle: Path
    upscaled: Path
    report: Path
    scores: dict[str, dict[str, float]]  # model -> {psnr, ssim} on the held-out photos
    latency: dict[str, Any]  # artifact name -> p50 ms per size
    upscale_summary: str
    seconds: dict[str, float]


def _prepare(out: Path) -> None:
    if out.exists() and any(out.iterdir()) and not (out / MARKER).exists():
        raise ConfigError(f"{out}: exists and is not a demo folder; pick another --out")
    for sub in ("run", "bundle", "images_x4"):
        shutil.rmtree(out / sub, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).touch()


def run_demo(cfg: DemoConfig, *, progress: bool = True) -> DemoResult:
    """Distill a student from the teacher with ``kd``, score both, export, check, bench and upscale a folder."""
    out, t = Path(cfg.out), {"start": time.perf_counter()}
    train = out / "data" / "train"
    val = out / "data" / "val"
    dcfg = DistillConfig(teacher=cfg.teacher, student=cfg.student, method="kd", data=[str(train)], val=str(val),
                         scale=4, steps=cfg.steps, batch=cfg.batch, patch=cfg.patch, lr=cfg.lr, threads=cfg.threads,
                         val_every=cfg.steps, ckpt_every=cfg.steps, out=str(out / "run")).validate()
    _prepare(out)  # after validate(): a bad --student fails before anything is written
    write_sample_photos(train, TRAIN, max_side=512)
    write_sample_photos(val / "HR", HELD_OUT, max_side=256)
    images = write_sample_photos(out / "images", HELD_OUT, max_side=160)
    t["data"] = time.perf_counter()

    Trainer(dcfg, progress=progress).run()
    student = out / "run" / "student_best.safetensors"
    t["distill"] = time.perf_counter()

    scores = {}
    for name, ref in (("bicubic", "bicubic"), ("teacher " + cfg.teacher, cfg.teacher), ("student", str(student))):
        model, _ = resolve_model(ref, scale=4)
        res = evaluate(model, data=val, scale=4)
        scores[name] = {"psnr": res.psnr, "ssim": res.ssim}
    t["eval"] = time.perf_counter()

    from srkd.backends.openvino.runner import cpu_capabilities

    bundle = export_bundle(student, out / "bundle", data=val / "HR", overwrite=True, images=3, crop=128,
                           latency_sizes=(64, 128), latency_runs=10, threads=cfg.threads, int8=True, bf16=True,
                           openvino=bool(cpu_capabilities()), calib=str(train))
    latency = {a.key: {s.size: s.p50_ms for s in a.latency.sizes} for a in bundle.artifacts}
    t["export"] = time.perf_counter()

    upscaled = out / "images_x4"
    with load(str(bundle.path), backend="auto", device="cpu", tile=128, tile_overlap=16) as up:
        plan = plan_jobs([out / "images"], naming=Naming(scale="4", template="{name}"), out=upscaled)
        report = BatchReport(model=str(bundle.path), runner=up.name, scale=4)
        run_batch(plan, upscaler=up, report=report, options=RunOptions(overwrite=True))
    report.write(upscaled / REPORT_NAME)
    t["upscale"] = time.perf_counter()
    log.info("demo upscaled %d images", len(images))
    marks = list(t)
    seconds = {k: t[k] - t[p] for p, k in zip(marks, marks[1:])}
    seconds["total"] = t["upscale"] - t["start"]
    return DemoResult(out=out, run=out / "run", student=student, bundle=bundle.path, upscaled=upscaled,
                      report=upscaled / REPORT_NAME, scores=scores, latency=latency,
                      upscale_summary=report.summary(), seconds=seconds)
