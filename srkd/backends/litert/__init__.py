"""LiteRT (Google's TensorFlow Lite successor; Android, microcontrollers): ``model.tflite`` (fp32),
``model.fp16.tflite`` (fp16 weights) with ``--litert``, ``model.int8.tflite`` (dynamic-range int8) with
``--litert --int8``, converted by litert-torch at one fixed LR side and run by the ``ai-edge-litert``
interpreter on the CPU (XNNPACK). See ``srkd.backends.litert.convert`` for why the side is fixed."""
from __future__ import annotations

from typing import TYPE_CHECKING

from srkd.backends.spec import YES, ArtifactSpec, Backend, CanRun, Diagnosis, OpenRequest, cannot
from srkd.bundle.manifest import STUDENT_FILE
from srkd.errors import BackendUnavailableError

if TYPE_CHECKING:
    import torch

    from srkd.backends.litert.runner import LiteRtRunner
    from srkd.export.context import BuildContext, Made, Preflight
    from srkd.export.options import ExportOptions

TFLITE_FILE, TFLITE_FP16_FILE, TFLITE_INT8_FILE = "model.tflite", "model.fp16.tflite", "model.int8.tflite"


def _maker(file: str, precision: str):
    def make(ctx: BuildContext) -> Made:
        from srkd.backends.litert.convert import make_tflite

        return make_tflite(ctx, file=file, precision=precision)

    return make


def _can_run(device: torch.device, precision: str | None) -> CanRun:
    import importlib.util

    if device.type != "cpu":
        return cannot(f"LiteRT artifacts run on the CPU in srkd, not on {device}")
    if importlib.util.find_spec("ai_edge_litert") is None:
        return cannot("LiteRT is not installed (pip install 'srkd[litert]')")
    return YES


def _open(request: OpenRequest) -> LiteRtRunner:
    from srkd.backends.litert.runner import LiteRtRunner

    if request.device.type != "cpu":
        raise BackendUnavailableError(f"{request.path}: LiteRT artifacts run on the CPU in srkd, not on {request.device}")
    return LiteRtRunner(request.path, spec=request.spec, precision=request.entry.precision, threads=request.threads)


def _preflight(request: Preflight) -> None:
    from srkd.backends.litert.convert import require_converter
    from srkd.backends.litert.runner import require_litert

    require_litert()
    require_converter()


def _doctor_report(probe: bool) -> dict:
    from srkd.backends.litert.runner import litert_info

    return litert_info()


def _doctor_lines(report: dict) -> list[str]:
    if not report["installed"]:
        return [f"LiteRT: {report['why']}"]
    convert = f"litert-torch {report['converter']}" if report["converter"] else "no litert-torch (export --litert: srkd[litert-convert])"
    return [f"LiteRT {report['version']}: CPU (XNNPACK); {convert}"]


def _doctor_missing(report: dict) -> str | None:
    return None if report["installed"] else f"litert: {report['why']}"


def _timed_sides(opts: ExportOptions) -> tuple[int, ...]:
    return (opts.litert_side,) if opts.litert else ()


BACKEND = Backend(
    name="litert",
    about="LiteRT (TFLite) on the CPU with XNNPACK: fp32, fp16-weight and int8 .tflite at one fixed input side",
    artifacts=(
        ArtifactSpec(precision="fp32", file=TFLITE_FILE, source=STUDENT_FILE, make=_maker(TFLITE_FILE, "fp32"),
                     wanted=lambda opts: opts.litert),
        ArtifactSpec(precision="fp16", file=TFLITE_FP16_FILE, source=TFLITE_FILE, make=_maker(TFLITE_FP16_FILE, "fp16"),
                     wanted=lambda opts: opts.litert),
        ArtifactSpec(precision="int8", file=TFLITE_INT8_FILE, source=TFLITE_FILE, make=_maker(TFLITE_INT8_FILE, "int8"),
                     wanted=lambda opts: opts.litert and opts.int8),
    ),
    can_run=_can_run,
    open=_open,
    auto_rank=5,
    extra="litert",
    export_flags="--litert",
    preflight=_preflight,
    doctor=Diagnosis(report=_doctor_report, lines=_doctor_lines, missing=_doctor_missing),
    timed_sides=_timed_sides,
)
