"""LiteRT (Google's TensorFlow Lite successor; Android, microcontrollers): ``model.tflite`` (fp32),
``model.fp16.tflite`` (fp16 weights) with ``--litert``, ``model.int8.tflite`` (dynamic-range int8) with
``--litert --int8``, converted by litert-torch at one fixed LR side and run by the ``ai-edge-litert``
interpreter on the CPU (XNNPACK). See ``srkd.backends.litert.convert`` for why the side is fixed."""
from __future__ import annotations

from srkd.backends.spec import ArtifactSpec, Backend, Diagnosis, cpu_only, lazy
from srkd.bundle.manifest import STUDENT_FILE

TFLITE_FILE, TFLITE_FP16_FILE, TFLITE_INT8_FILE = "model.tflite", "model.fp16.tflite", "model.int8.tflite"
CONVERT, RUNNER, DOCTOR = "srkd.backends.litert.convert", "srkd.backends.litert.runner", "srkd.backends.litert.doctor"


def _tflite(precision: str, file: str, source: str, wanted) -> ArtifactSpec:
    return ArtifactSpec(precision=precision, file=file, source=source, wanted=wanted,
                        make=lazy(CONVERT, "make_tflite", file=file, precision=precision))


BACKEND = Backend(
    name="litert",
    about="LiteRT (TFLite) on the CPU with XNNPACK: fp32, fp16-weight and int8 .tflite at one fixed input side",
    artifacts=(
        _tflite("fp32", TFLITE_FILE, STUDENT_FILE, lambda opts: opts.litert),
        _tflite("fp16", TFLITE_FP16_FILE, TFLITE_FILE, lambda opts: opts.litert),
        _tflite("int8", TFLITE_INT8_FILE, TFLITE_FILE, lambda opts: opts.litert and opts.int8),
    ),
    can_run=cpu_only("LiteRT", "ai_edge_litert", "pip install 'srkd[litert]'"),
    open=lazy(RUNNER, "open_request"),
    auto_rank=5,
    extra="litert",
    export_flags="--litert",
    preflight=lazy(CONVERT, "preflight"),
    doctor=Diagnosis(report=lazy(DOCTOR, "litert_info"), lines=lazy(DOCTOR, "litert_lines"),
                     missing=lazy(DOCTOR, "litert_missing")),
    timed_sides=lambda opts: (opts.litert_side,) if opts.litert else (),
)
