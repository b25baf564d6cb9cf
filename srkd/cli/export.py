"""``srkd export``."""
from __future__ import annotations

import time
from pathlib import Path

import click

from srkd.bundle.manifest import MANIFEST_NAME
from srkd.cli.common import BackendChoice, runs_option, sizes_option, threads_option
from srkd.errors import Interrupted


def _stopped(out: Path, *, started: float) -> str:
    """Whether the interrupt came before the bundle was renamed into place, or after."""
    manifest = out / MANIFEST_NAME
    if manifest.is_file() and manifest.stat().st_mtime >= started:
        return f"export stopped after the bundle was complete; {out} is whole"
    kept = "; the bundle already there is unchanged" if manifest.is_file() else ""
    return f"export stopped; no bundle was written at {out} (its unfinished files were removed){kept}"


def _installed(*modules: str) -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in modules)


def _triple(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, int, int] | None:
    if value is None:
        return None
    try:
        parts = tuple(int(v) for v in value.split(":"))
    except ValueError:
        parts = ()
    if len(parts) != 3 or min(parts) < 1:
        raise click.BadParameter(f"{value!r}: expected MIN:OPT:MAX positive integers, e.g. 64:256:1024")
    return parts  # type: ignore[return-value]


def _precisions(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    from srkd.backends import BACKENDS

    known = BACKENDS.get("tensorrt").precisions
    precs = tuple(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))
    bad = [p for p in precs if p not in known]
    if bad:
        raise click.BadParameter(f"{', '.join(bad)}: expected {', '.join(known[:-1])} and/or {known[-1]}, comma-separated")
    return precs


@click.command()
@click.argument("student")
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False), help="Bundle folder to create.")
@click.option("--data", default=None,
              help="Folder of real HR images for the parity check (or DIR/HR); default: scikit-image sample photos.")
@click.option("--images", type=click.IntRange(1), default=3, show_default=True, help="Parity on the first N images.")
@click.option("--crop", type=click.IntRange(0), default=256, show_default=True,
              help="Center-crop parity images to this many HR pixels (0: full images).")
@click.option("--opset", type=click.IntRange(11, 23), default=17, show_default=True, help="ONNX opset.")
@click.option("--dynamo/--no-dynamo", default=False, show_default=True,
              help="Use torch's torch.export-based ONNX exporter instead of the TorchScript one.")
@click.option("--simplify", is_flag=True, help="Simplify the ONNX graph with onnxslim (pip install 'srkd[slim]').")
@click.option("--bf16", is_flag=True, help="Add a torch bf16 artifact (autocast, channels_last) for CPUs with bf16 units.")
@click.option("--openvino", is_flag=True,
              help="Add OpenVINO IRs (model.xml: fp32, and bf16 where the CPU has it; model.int8.xml with --int8; "
                   "pip install 'srkd[openvino]').")
@click.option("--ncnn", is_flag=True,
              help="Add ncnn .param/.bin pairs (fp32, and fp16 weights) via pnnx, input blob 'data', output 'output': "
                   "what Real-ESRGAN-ncnn-vulkan and Upscayl load (pip install 'srkd[ncnn]').")
@click.option("--litert", is_flag=True,
              help="Add LiteRT model.tflite (fp32) and model.fp16.tflite (fp16 weights), model.int8.tflite with --int8, "
                   "at one fixed input side (pip install 'srkd[litert-convert]' to convert, 'srkd[litert]' to run).")
@click.option("--litert-size", type=click.IntRange(8), default=128, show_default=True,
              help="The LR side the LiteRT graph is converted for (srkd upscale tiles to it).")
@click.option("--cpu", "cpu_all", is_flag=True,
              help="Every CPU artifact (--bf16 --int8, plus --openvino, --ncnn and --litert when their converters are "
                   "installed), so that --backend auto can pick the fastest by measurement.")
@click.option("--fp16", is_flag=True, help="Add model.fp16.onnx (fp16 weights, fp32 input/output; pip install 'srkd[fp16]').")
@click.option("--int8", is_flag=True, help="Add model.int8.onnx: static QDQ int8, calibrated on real images.")
@click.option("--calib", type=click.Path(file_okay=False), default=None,
              help="Calibration photos for --int8 (default: the student's training data, else the parity photos).")
@click.option("--int8-calibration", type=click.Choice(["minmax", "entropy", "percentile"]), default=None,
              help="First calibration method to try (default: minmax, chosen by measurement).")
@click.option("--int8-images", type=click.IntRange(1, 1024), default=None, help="Calibration patches (default 32).")
@click.option("--int8-keep-fp32", type=click.Choice(["none", "ends"]), default=None,
              help="'ends': keep the first/last convs and the upsampler in fp32 from the start.")
@click.option("--int8-symmetric", is_flag=True,
              help="Symmetric int8 activations (what TensorRT needs; the default with --trt int8, else uint8 asymmetric).")
@click.option("--int8-remedies/--no-int8-remedies", default=True, show_default=True,
              help="When int8 parity fails, try the other recipes before refusing.")
@click.option("--trt", "trt", is_flag=False, flag_value="fp16", default=None, callback=_precisions, metavar="[PRECS]",
              help="TensorRT engines to build: bare --trt is fp16; or a list such as fp32,fp16,int8 "
                   "(needs TensorRT and an NVIDIA GPU; experimental).")
@click.option("--trt-profile", default=None, callback=_triple, metavar="MIN:OPT:MAX",
              help="TensorRT optimisation profile, LR sides in px (default: size requirement:256:1024).")
@click.option("--trt-batch", default="1:1:1", show_default=True, callback=_triple, metavar="MIN:OPT:MAX",
              help="TensorRT profile batch sizes.")
@click.option("--trt-opt-level", type=click.IntRange(0, 5), default=3, show_default=True,
              help="TensorRT builder optimisation level.")
@click.option("--trt-timing-cache", type=click.Path(dir_okay=False), default=None,
              help="TensorRT timing cache file (read if present, written after the build).")
@click.option("--with", "with_backends", type=BackendChoice(), multiple=True, metavar="NAME",
              help="Also make the artifacts of a plug-in backend (repeatable; the built-in ones have the flags above).")
@click.option("--spandrel", "for_spandrel", is_flag=True,
              help="Also write <arch>_x<scale>.pth into the bundle: the student in the layout spandrel 0.4.2 "
                   "(chaiNNer, ComfyUI) loads as it is, read back and parity-checked. Only what spandrel can "
                   "express: SPAN with 6 blocks (any feature_channels; norm with the DIV2K mean and img_range "
                   "255, or norm=false) and Compact with PReLU (any num_feat, num_conv); others are refused.")
@sizes_option(help="LR sizes to time, comma-separated.")
@runs_option()
@threads_option()
@click.option("--overwrite", is_flag=True, help="Replace an existing bundle at --out.")
def command(student: str, out: str, data: str | None, images: int, crop: int, opset: int, dynamo: bool, simplify: bool,
            bf16: bool, openvino: bool, ncnn: bool, litert: bool, litert_size: int, cpu_all: bool, fp16: bool, int8: bool, calib: str | None,
            int8_calibration: str | None, int8_images: int | None,
            int8_keep_fp32: str | None, int8_symmetric: bool, int8_remedies: bool, trt: tuple[str, ...],
            trt_profile: tuple[int, int, int] | None, trt_batch: tuple[int, int, int], trt_opt_level: int,
            trt_timing_cache: str | None, with_backends: tuple[str, ...], for_spandrel: bool, sizes: tuple[int, ...],
            runs: int, threads: int | None, overwrite: bool) -> None:
    """Make a bundle from STUDENT (a checkpoint file or a shipped model name): student.safetensors,
    model.onnx (fp32, dynamic batch and size), the artifacts asked for (--bf16, --fp16, --int8, --openvino,
    --ncnn, --litert, --trt, --spandrel) and manifest.json. Artifacts hold the student's inference form (SPAN:
    each trained branch set folded into one 3x3 convolution). Every artifact is parity-checked against the
    torch fp32 output of the student as trained, on real images;
    if one fails, nothing is written and the exit code is 1. Ctrl-C or SIGTERM stops with exit code 130
    and no partial bundle (an existing one at --out stays as it was); what a killed export left
    beside --out is removed by the next export there."""
    import dataclasses

    import torch

    from srkd.backends.openvino.runner import cpu_capabilities
    from srkd.bundle.choose import choose_artifact
    from srkd.cli.summary import export_summary
    from srkd.export.build import export_bundle
    from srkd.export.int8 import DEFAULT_INT8
    from srkd.serve.loader import resolve_device

    if cpu_all:
        bf16 = int8 = True
        openvino = openvino or bool(cpu_capabilities())
        ncnn = ncnn or _installed("ncnn", "pnnx")
        litert = litert or _installed("ai_edge_litert", "litert_torch")
    overrides = {"calibration": int8_calibration, "images": int8_images, "keep_fp32": int8_keep_fp32}
    settings = dataclasses.replace(DEFAULT_INT8, symmetric=int8_symmetric,
                                   **{k: v for k, v in overrides.items() if v is not None})
    started = time.time()
    try:
        bundle = export_bundle(student, out, data=data, opset=opset, dynamo=dynamo, overwrite=overwrite,
                               images=images, crop=crop or None, latency_sizes=sizes or (64,), latency_runs=runs,
                               threads=threads, simplify=simplify, bf16=bf16, openvino=openvino, fp16=fp16, int8=int8,
                               calib=calib, int8_settings=settings, int8_remedies=int8_remedies, trt=trt,
                               trt_sides=trt_profile, trt_batch=trt_batch, trt_opt_level=trt_opt_level,
                               trt_timing_cache=trt_timing_cache, ncnn=ncnn, litert=litert, litert_side=litert_size,
                               with_backends=with_backends, spandrel=for_spandrel)
    except KeyboardInterrupt:
        raise Interrupted(_stopped(Path(out), started=started)) from None
    for line in export_summary(bundle):
        click.echo(line)
    pick = choose_artifact(bundle.artifacts, precision="auto", device=torch.device(resolve_device("auto")))
    if pick is not None:
        click.echo(f"  --backend auto --precision auto here: {pick.key} ({pick.file})")
