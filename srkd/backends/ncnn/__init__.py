"""ncnn (Tencent; the runtime of Real-ESRGAN-ncnn-vulkan, waifu2x-ncnn-vulkan and Upscayl): ``model.ncnn.param``
+ ``.bin`` with fp32 weights and ``model.fp16.ncnn.param`` + ``.bin`` with fp16 weights, converted from the
student by pnnx (``--ncnn``), input blob ``data`` and output blob ``output``, any input size. Run on the
CPU here, or on a Vulkan device (``SRKD_NCNN_VULKAN``)."""
from __future__ import annotations

from srkd.backends.spec import ArtifactSpec, Backend, Diagnosis, cpu_only, lazy
from srkd.bundle.manifest import STUDENT_FILE

NCNN_FILE, NCNN_FP16_FILE = "model.ncnn.param", "model.fp16.ncnn.param"
CONVERT, RUNNER, DOCTOR = "srkd.backends.ncnn.convert", "srkd.backends.ncnn.runner", "srkd.backends.ncnn.doctor"

BACKEND = Backend(
    name="ncnn",
    about="ncnn on the CPU (Vulkan with SRKD_NCNN_VULKAN): fp32 and fp16-storage .param/.bin pairs",
    artifacts=tuple(
        ArtifactSpec(precision=precision, file=file, source=STUDENT_FILE, wanted=lambda opts: opts.ncnn,
                     make=lazy(CONVERT, "make_ncnn", param=file, precision=precision))
        for precision, file in (("fp32", NCNN_FILE), ("fp16", NCNN_FP16_FILE))
    ),
    can_run=cpu_only("ncnn", "ncnn", "pip install 'srkd[ncnn]'"),
    open=lazy(RUNNER, "open_request"),
    auto_rank=4,
    extra="ncnn",
    export_flags="--ncnn",
    preflight=lazy(CONVERT, "preflight"),
    doctor=Diagnosis(report=lazy(DOCTOR, "ncnn_info"), lines=lazy(DOCTOR, "ncnn_lines"),
                     missing=lazy(DOCTOR, "ncnn_missing")),
)
