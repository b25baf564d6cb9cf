"""OpenVINO (CPU): IRs converted from the bundle's ONNX files, compiled with an explicit inference
precision: ``model.xml`` run in fp32 and, where the CPU has bf16 units, bf16; ``model.int8.xml`` from
the int8 ONNX (``--openvino``, plus ``--int8`` for the int8 IR)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from srkd.backends.onnxruntime import INT8_FILE, ONNX_FILE
from srkd.backends.spec import YES, ArtifactSpec, Backend, CanRun, Diagnosis, OpenRequest, cannot
from srkd.errors import BackendUnavailableError

if TYPE_CHECKING:
    import torch

    from srkd.backends.openvino.runner import OpenVinoRunner
    from srkd.export.context import BuildContext, Made, Preflight

OV_FILE, OV_INT8_FILE = "model.xml", "model.int8.xml"


def _ir(source: str, xml: str, precision: str):
    def make(ctx: BuildContext) -> Made | None:
        from srkd.backends.openvino.convert import make_ir

        return make_ir(ctx, source=source, xml=xml, precision=precision)

    return make


def _can_run(device: torch.device, precision: str | None) -> CanRun:
    from srkd.backends.openvino import runner as ov_runtime

    if device.type != "cpu":
        return cannot(f"OpenVINO artifacts run on the CPU in srkd, not on {device}")
    if not ov_runtime.cpu_capabilities():
        return cannot("OpenVINO is not installed (pip install 'srkd[openvino]')")
    if precision == "bf16" and not ov_runtime.bf16_supported():
        return cannot("this CPU has no bf16 in OpenVINO")
    return YES


def _open(request: OpenRequest) -> OpenVinoRunner:
    from srkd.backends.openvino.runner import OpenVinoRunner

    if request.device.type != "cpu":
        raise BackendUnavailableError(f"{request.path}: OpenVINO artifacts run on the CPU in srkd, not on {request.device}")
    return OpenVinoRunner(request.path, spec=request.spec, precision=request.entry.precision, threads=request.threads)


def _preflight(request: Preflight) -> None:
    from srkd.backends.openvino.runner import require_openvino

    require_openvino()


def _doctor_report(probe: bool) -> dict:
    from srkd.backends.openvino.doctor import openvino_info

    return openvino_info()


def _doctor_lines(report: dict) -> list[str]:
    from srkd.backends.openvino.doctor import openvino_lines

    return openvino_lines(report)


def _doctor_missing(report: dict) -> str | None:
    from srkd.backends.openvino.doctor import openvino_missing

    return openvino_missing(report)


BACKEND = Backend(
    name="openvino",
    about="OpenVINO on the CPU: fp32, bf16 (CPUs with bf16 units) and int8 IRs",
    artifacts=(
        ArtifactSpec(precision="fp32", file=OV_FILE, source=ONNX_FILE, make=_ir(ONNX_FILE, OV_FILE, "fp32"),
                     wanted=lambda opts: opts.openvino),
        ArtifactSpec(precision="bf16", file=OV_FILE, source=ONNX_FILE, make=_ir(ONNX_FILE, OV_FILE, "bf16"),
                     wanted=lambda opts: opts.openvino),
        ArtifactSpec(precision="int8", file=OV_INT8_FILE, source=INT8_FILE, make=_ir(INT8_FILE, OV_INT8_FILE, "int8"),
                     wanted=lambda opts: opts.openvino and opts.int8),
    ),
    can_run=_can_run,
    open=_open,
    auto_rank=1,
    extra="openvino",
    export_flags="--openvino",
    preflight=_preflight,
    doctor=Diagnosis(report=_doctor_report, lines=_doctor_lines, missing=_doctor_missing),
)
