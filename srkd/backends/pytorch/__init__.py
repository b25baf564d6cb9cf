"""PyTorch: the bundle's ``student.safetensors`` run in fp32 (the reference every artifact is checked
against) and, with ``--bf16``, in bf16 autocast + channels_last (the same file, for CPUs with bf16 units).
Both run the student's inference form (SPAN's branches folded), like every other artifact."""
from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from srkd.backends.spec import YES, ArtifactSpec, Backend, CanRun, OpenRequest
from srkd.bundle.manifest import STUDENT_FILE

if TYPE_CHECKING:
    import torch

    from srkd.backends.runner import Runner
    from srkd.export.context import BuildContext, Made


def _io(ctx: BuildContext) -> dict:
    from srkd.export.onnx import INPUT_NAME, OUTPUT_NAME

    return {"input": {"name": INPUT_NAME, "dims": ["batch", ctx.spec.in_channels, "height", "width"]},
            "output": {"name": OUTPUT_NAME, "dims": ["batch", ctx.spec.out_channels, "out_height", "out_width"]}}


def _make_fp32(ctx: BuildContext) -> Made:
    from srkd.backends.pytorch.runner import TorchRunner
    from srkd.export.context import Made

    return Made(open=lambda: TorchRunner(ctx.model, spec=ctx.spec, threads=ctx.opts.threads), io=_io(ctx))


def _make_bf16(ctx: BuildContext) -> Made:
    from srkd.backends.pytorch.runner import TorchRunner
    from srkd.export.context import Made

    # its own copy: channels_last converts the model in place
    return Made(open=lambda: TorchRunner(copy.deepcopy(ctx.model), spec=ctx.spec, precision="bf16",
                                         threads=ctx.opts.threads, channels_last=True),
                io=_io(ctx), options={"channels_last": True, "autocast": "bfloat16"})


def _can_run(device: torch.device, precision: str | None) -> CanRun:
    return YES


def _open(request: OpenRequest) -> Runner:
    from srkd.backends.pytorch.runner import TorchRunner
    from srkd.models.checkpoint import load_model
    from srkd.models.repconv import fold_for_inference

    model = fold_for_inference(load_model(request.path)[0])
    options = request.entry.options or {}
    return TorchRunner(model, spec=request.spec, precision=request.entry.precision, device=request.device,
                       threads=request.threads, channels_last=bool(options.get("channels_last", False)))


BACKEND = Backend(
    name="torch",
    about="PyTorch on CPU or CUDA: the fp32 reference, and bf16 autocast",
    artifacts=(
        ArtifactSpec(precision="fp32", file=STUDENT_FILE, source=None, make=_make_fp32, always=True),
        ArtifactSpec(precision="bf16", file=STUDENT_FILE, source=STUDENT_FILE, make=_make_bf16,
                     wanted=lambda opts: opts.bf16),
    ),
    can_run=_can_run,
    open=_open,
    auto_rank=3,
    export_flags="--bf16",
)
