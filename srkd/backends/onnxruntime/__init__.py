"""ONNX Runtime: ``model.onnx`` (always), ``model.fp16.onnx`` (``--fp16``) and ``model.int8.onnx``
(``--int8``), on the CPU, CUDA or the TensorRT execution provider."""
from __future__ import annotations

from typing import TYPE_CHECKING

from srkd.backends.spec import YES, ArtifactSpec, Backend, CanRun, Diagnosis, OpenRequest, cannot
from srkd.bundle.manifest import STUDENT_FILE
from srkd.errors import BackendUnavailableError

if TYPE_CHECKING:
    import torch

    from srkd.backends.onnxruntime.runner import OrtRunner
    from srkd.export.context import BuildContext, Made

ONNX_FILE, FP16_FILE, INT8_FILE = "model.onnx", "model.fp16.onnx", "model.int8.onnx"
INSTALL = "pip install 'srkd[cpu]'"


def _make_fp32(ctx: BuildContext) -> Made:
    from srkd.backends.onnxruntime.make import make_fp32

    return make_fp32(ctx)


def _make_fp16(ctx: BuildContext) -> Made:
    from srkd.backends.onnxruntime.make import make_fp16

    return make_fp16(ctx)


def _make_int8(ctx: BuildContext) -> Made:
    from srkd.backends.onnxruntime.make import make_int8

    return make_int8(ctx)


def _can_run(device: torch.device, precision: str | None) -> CanRun:
    from srkd.backends.onnxruntime.runner import available_kinds

    kinds = available_kinds()
    if not kinds:
        return cannot(f"onnxruntime is not installed ({INSTALL})")
    want = "cuda" if device.type == "cuda" else "cpu"
    return YES if want in kinds else cannot(f"this onnxruntime has no {want} execution provider (has: {', '.join(kinds)})")


def _open(request: OpenRequest) -> OrtRunner:
    from srkd.backends.onnxruntime.runner import (OrtRunner, available_kinds, execution_providers, gpu_tag,
                                                  ort_trt_cache_dir)

    kind = request.ort_ep or ("cuda" if request.device.type == "cuda" else "cpu")
    if kind not in available_kinds():
        raise BackendUnavailableError(f"{request.path}: this onnxruntime has no {kind} execution provider "
                                      f"(has: {', '.join(available_kinds()) or 'none'}; GPU: pip install onnxruntime-gpu)")
    precision = request.entry.precision
    gpu_id = (request.device.index or 0) if request.device.type == "cuda" else 0
    cache = ort_trt_cache_dir(request.root, gpu=gpu_tag(gpu_id)) if kind == "tensorrt" else None
    providers = execution_providers(kind, spec=request.spec, cache_dir=cache, precision=precision, device_id=gpu_id)
    return OrtRunner(request.path, spec=request.spec, precision=precision, threads=request.threads, providers=providers)


def _versions() -> dict[str, str]:
    import onnx
    import onnxruntime

    return {"onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__}


def _open_file(path, device, threads) -> OrtRunner:
    from srkd.backends.onnxruntime.bare import open_onnx_file

    return open_onnx_file(path, device, threads)


def _doctor_report(probe: bool) -> dict:
    from srkd.backends.onnxruntime.doctor import onnxruntime_info

    return onnxruntime_info(probe=probe)


def _doctor_lines(report: dict) -> list[str]:
    from srkd.backends.onnxruntime.doctor import onnxruntime_lines

    return onnxruntime_lines(report)


BACKEND = Backend(
    name="onnxruntime",
    about="ONNX Runtime (CPU; CUDA and TensorRT execution providers with onnxruntime-gpu)",
    artifacts=(
        ArtifactSpec(precision="fp32", file=ONNX_FILE, source=STUDENT_FILE, make=_make_fp32, always=True),
        ArtifactSpec(precision="fp16", file=FP16_FILE, source=ONNX_FILE, make=_make_fp16,
                     wanted=lambda opts: opts.fp16),
        ArtifactSpec(precision="int8", file=INT8_FILE, source=ONNX_FILE, make=_make_int8,
                     wanted=lambda opts: opts.int8),
    ),
    can_run=_can_run,
    open=_open,
    auto_rank=2,
    extra="cpu",
    export_flags="--fp16, --int8",
    versions=_versions,
    suffixes=(".onnx",),
    open_file=_open_file,
    doctor=Diagnosis(report=_doctor_report, lines=_doctor_lines),
)
