"""ncnn (Tencent; the runtime of Real-ESRGAN-ncnn-vulkan, waifu2x-ncnn-vulkan and Upscayl): ``model.ncnn.param``
+ ``.bin`` with fp32 weights and ``model.fp16.ncnn.param`` + ``.bin`` with fp16 weights, converted from the
student by pnnx (``--ncnn``), input blob ``data`` and output blob ``output``, any input size. Run on the
CPU here, or on a Vulkan device (``SRKD_NCNN_VULKAN``)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from srkd.backends.spec import YES, ArtifactSpec, Backend, CanRun, Diagnosis, OpenRequest, cannot
from srkd.bundle.manifest import STUDENT_FILE
from srkd.errors import BackendUnavailableError

if TYPE_CHECKING:
    import torch

    from srkd.backends.ncnn.runner import NcnnRunner
    from srkd.export.context import BuildContext, Made, Preflight

NCNN_FILE, NCNN_FP16_FILE = "model.ncnn.param", "model.fp16.ncnn.param"


def _maker(param: str, precision: str):
    def make(ctx: BuildContext) -> Made:
        from srkd.backends.ncnn.convert import make_ncnn

        return make_ncnn(ctx, param=param, precision=precision)

    return make


def _can_run(device: torch.device, precision: str | None) -> CanRun:
    import importlib.util

    if device.type != "cpu":
        return cannot(f"ncnn artifacts run on the CPU (or a Vulkan device via SRKD_NCNN_VULKAN), not on {device}")
    if importlib.util.find_spec("ncnn") is None:
        return cannot("ncnn is not installed (pip install 'srkd[ncnn]')")
    return YES


def _open(request: OpenRequest) -> NcnnRunner:
    from srkd.backends.ncnn.runner import NcnnRunner

    if request.device.type != "cpu":
        raise BackendUnavailableError(f"{request.path}: ncnn artifacts run on the CPU in srkd, not on {request.device}")
    return NcnnRunner(request.path, spec=request.spec, precision=request.entry.precision, threads=request.threads)


def _preflight(request: Preflight) -> None:
    from srkd.backends.ncnn.convert import pnnx_binary
    from srkd.backends.ncnn.runner import require_ncnn

    pnnx_binary()
    require_ncnn()


def _doctor_report(probe: bool) -> dict:
    from srkd.backends.ncnn.doctor import ncnn_info

    return ncnn_info()


def _doctor_lines(report: dict) -> list[str]:
    from srkd.backends.ncnn.doctor import ncnn_lines

    return ncnn_lines(report)


def _doctor_missing(report: dict) -> str | None:
    from srkd.backends.ncnn.doctor import ncnn_missing

    return ncnn_missing(report)


BACKEND = Backend(
    name="ncnn",
    about="ncnn on the CPU (Vulkan with SRKD_NCNN_VULKAN): fp32 and fp16-storage .param/.bin pairs",
    artifacts=(
        ArtifactSpec(precision="fp32", file=NCNN_FILE, source=STUDENT_FILE, make=_maker(NCNN_FILE, "fp32"),
                     wanted=lambda opts: opts.ncnn),
        ArtifactSpec(precision="fp16", file=NCNN_FP16_FILE, source=STUDENT_FILE, make=_maker(NCNN_FP16_FILE, "fp16"),
                     wanted=lambda opts: opts.ncnn),
    ),
    can_run=_can_run,
    open=_open,
    auto_rank=4,
    extra="ncnn",
    export_flags="--ncnn",
    preflight=_preflight,
    doctor=Diagnosis(report=_doctor_report, lines=_doctor_lines, missing=_doctor_missing),
)
