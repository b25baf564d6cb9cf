"""TensorRT (NVIDIA GPUs): engines ``model.<prec>.<sm>-trt<ver>.engine`` built from ``model.onnx``,
``model.fp16.onnx`` or the symmetric ``model.int8.onnx`` (``--trt fp32,fp16,int8``); an engine runs
only on the GPU architecture and TensorRT version that built it. EXPERIMENTAL: not yet run on a GPU."""
from __future__ import annotations

from typing import TYPE_CHECKING

from srkd.backends.onnxruntime import FP16_FILE, INT8_FILE, ONNX_FILE
from srkd.backends.spec import YES, ArtifactSpec, Backend, CanRun, Diagnosis, OpenRequest, cannot
from srkd.errors import CheckpointError

if TYPE_CHECKING:
    from pathlib import Path

    import torch

    from srkd.backends.tensorrt.runner import TrtRunner
    from srkd.export.context import BuildContext, Made, Preflight

ENGINE_FILE = "model.<precision>.<sm>-trt<version>.engine"  # named by srkd.backends.tensorrt.info.engine_name


def _engine(source: str, precision: str):
    def make(ctx: BuildContext) -> Made:
        from srkd.backends.tensorrt.build import make_engine

        return make_engine(ctx, source=source, precision=precision)

    return make


def _can_run(device: torch.device, precision: str | None) -> CanRun:
    import torch

    if not torch.cuda.is_available():
        return cannot("no CUDA GPU here")
    return YES if device.type == "cuda" else cannot(f"TensorRT engines run on a CUDA GPU, not on {device}")


def _open(request: OpenRequest) -> TrtRunner:
    from srkd.backends.tensorrt.runner import TrtRunner

    return TrtRunner(request.path, spec=request.spec, precision=request.entry.precision,
                     built_with=request.entry.toolchain, rebuild=request.rebuild,
                     device=request.device if request.device.type == "cuda" else None)


def _preflight(request: Preflight) -> None:
    from srkd.backends.tensorrt.build import check_request

    check_request(request)


def _open_file(path: Path, device: torch.device, threads: int | None) -> TrtRunner:
    raise CheckpointError(f"{path}: a TensorRT engine carries no model description; pass the bundle folder holding it")


def _doctor_report(probe: bool) -> dict:
    import torch

    from srkd.backends.tensorrt.doctor import tensorrt_info

    try:
        cuda = bool(torch.version.cuda) and torch.cuda.is_available()
    except RuntimeError:  # a broken driver install: srkd doctor's torch section says why
        cuda = False
    return tensorrt_info(cuda=cuda, probe=probe)


def _doctor_lines(report: dict) -> list[str]:
    from srkd.backends.tensorrt.doctor import tensorrt_lines

    return tensorrt_lines(report)


def _doctor_missing(report: dict) -> str | None:
    from srkd.backends.tensorrt.doctor import tensorrt_missing

    return tensorrt_missing(report)


BACKEND = Backend(
    name="tensorrt",
    about="TensorRT engines on NVIDIA GPUs (experimental)",
    artifacts=tuple(
        ArtifactSpec(precision=prec, file=ENGINE_FILE, source=source, make=_engine(source, prec),
                     wanted=lambda opts, prec=prec: prec in opts.trt)
        for prec, source in (("fp32", ONNX_FILE), ("fp16", FP16_FILE), ("int8", INT8_FILE))
    ),
    can_run=_can_run,
    open=_open,
    auto_rank=0,
    extra="gpu",
    export_flags="--trt PRECISIONS",
    preflight=_preflight,
    suffixes=(".engine", ".plan"),
    open_file=_open_file,
    doctor=Diagnosis(report=_doctor_report, lines=_doctor_lines, missing=_doctor_missing),
)
