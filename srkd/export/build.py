"""What ``srkd export`` builds inside a bundle folder: every artifact, each parity-checked and timed.

Always: ``student.safetensors`` (torch fp32, the reference) and ``model.onnx``. On request:
torch bf16 (``bf16``: the same weights, autocast + channels_last), ``model.fp16.onnx``,
``model.int8.onnx`` (static QDQ; see srkd.export.int8 for the remedies) and TensorRT engines
(``model.<prec>.<sm>-trt<ver>.engine``). ``bundle.export_bundle`` wraps this with the temp folder
and the atomic move into place.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from srkd.errors import CheckpointError, ConfigError
from srkd.export import manifest as mf
from srkd.export.calib import calibration_patches, find_calib_source
from srkd.export.fp16 import convert_fp16
from srkd.export.int8 import DEFAULT_INT8, build_int8
from srkd.export.latency import measure_latency
from srkd.export.onnx import INPUT_NAME, OUTPUT_NAME, export_onnx
from srkd.export.parity import check_parity, parity_images, thresholds
from srkd.export.quantize import Int8Settings
from srkd.export.runners import OrtRunner, Runner, TorchRunner
from srkd.models.checkpoint import load_model, read_metadata, save_model

log = logging.getLogger(__name__)

STUDENT_FILE, ONNX_FILE, FP16_FILE, INT8_FILE = "student.safetensors", "model.onnx", "model.fp16.onnx", "model.int8.onnx"
OV_FILE, OV_INT8_FILE = "model.xml", "model.int8.xml"
TRT_PRECISIONS = ("fp32", "fp16", "int8")


@dataclasses.dataclass(frozen=True, kw_only=True)
class ExportOptions:
    """Everything ``srkd export`` can be asked for (see ``srkd export --help``)."""

    opset: int = 17
    dynamo: bool = False
    simplify: bool = False
    bf16: bool = False
    openvino: bool = False
    fp16: bool = False
    int8: bool = False
    int8_settings: Int8Settings = DEFAULT_INT8
    int8_remedies: bool = True
    calib: str | None = None
    trt: tuple[str, ...] = ()
    trt_sides: tuple[int, int, int] | None = None
    trt_batch: tuple[int, int, int] = (1, 1, 1)
    trt_opt_level: int = 3
    trt_timing_cache: str | None = None
    images: int | None = 3
    crop: int | None = 256
    latency_sizes: Sequence[int] = (64, 128, 256)
    latency_runs: int = 10
    threads: int | None = None

    def __post_init__(self) -> None:
        bad = [p for p in self.trt if p not in TRT_PRECISIONS]
        if bad:
            raise ConfigError(f"--trt {','.join(bad)}: expected precisions among {', '.join(TRT_PRECISIONS)}")
        if not self.trt and (self.trt_sides or tuple(self.trt_batch) != (1, 1, 1)):
            raise ConfigError("--trt-profile and --trt-batch shape TensorRT engines; they need --trt")

    def artifact_flags(self) -> list[str]:
        """The ``srkd export`` flags that make the same set of artifacts (for rebuild commands)."""
        flags = [f"--opset {self.opset}"] + ["--dynamo"] * self.dynamo + ["--simplify"] * self.simplify
        flags += ["--bf16"] * self.bf16 + ["--openvino"] * self.openvino + ["--fp16"] * self.fp16 + ["--int8"] * self.int8
        if self.calib:
            flags.append(f"--calib {self.calib}")
        s, d = self.int8_settings, DEFAULT_INT8
        if self.int8 or "int8" in self.trt:
            flags += [f"--int8-calibration {s.calibration}"] * (s.calibration != d.calibration)
            flags += [f"--int8-images {s.images}"] * (s.images != d.images)
            flags += [f"--int8-keep-fp32 {s.keep_fp32}"] * (s.keep_fp32 != d.keep_fp32)
            flags += ["--int8-symmetric"] * (s.symmetric and not d.symmetric)
            flags += ["--no-int8-remedies"] * (not self.int8_remedies)
        if self.trt:
            flags.append(f"--trt {','.join(self.trt)}")
            if self.trt_sides:
                flags.append(f"--trt-profile {':'.join(map(str, self.trt_sides))}")
            if tuple(self.trt_batch) != (1, 1, 1):
                flags.append(f"--trt-batch {':'.join(map(str, self.trt_batch))}")
            flags.append(f"--trt-opt-level {self.trt_opt_level}")
        return flags


@dataclasses.dataclass
class _Artifact:
    file: str
    backend: str
    precision: str
    open: Callable[[], Runner]
    io: dict[str, Any]
    toolchain: dict[str, Any] = dataclasses.field(default_factory=dict)
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    parity: Any = None  # a ParityResult measured while making the artifact (int8)
    companions: tuple[str, ...] = ()


def _has_metadata(path: Path) -> bool:
    try:
        read_metadata(path)
    except CheckpointError:
        return False
    return True


def _int8_artifact(tmp: Path, spec, meta, reference: Runner, photos, opts: ExportOptions, student: Path) -> _Artifact:
    for_trt = "int8" in opts.trt  # TensorRT's explicit quantization: symmetric int8, biases left in float
    settings = dataclasses.replace(opts.int8_settings, symmetric=opts.int8_settings.symmetric or for_trt,
                                   quantize_bias=opts.int8_settings.quantize_bias and not for_trt)
    source = find_calib_source(opts.calib, meta=meta, student=student)
    pools: dict[tuple[int, int], np.ndarray] = {}

    def patches(recipe: Int8Settings) -> np.ndarray:
        key = (recipe.images, recipe.patch)
        if key not in pools:
            pools[key] = calibration_patches(source, count=recipe.images, patch=recipe.patch, scale=spec.scale,
                                             parity_photos=[img for _, img in photos],
                                             multiple_of=spec.size_req.multiple_of)
        return pools[key]

    outcome = build_int8(tmp / ONNX_FILE, tmp / INT8_FILE, reference=reference, hr_images=[img for _, img in photos],
                         scale=spec.scale, patches=patches, settings=settings, auto_remedy=opts.int8_remedies,
                         open_candidate=lambda p: OrtRunner(p, spec=spec, precision="int8", threads=opts.threads))
    quant = {**outcome.info, "calibration": source.to_dict(), "attempts": [a.to_dict() for a in outcome.attempts]}
    return _Artifact(INT8_FILE, "onnxruntime", "int8", lambda: OrtRunner(tmp / INT8_FILE, spec=spec, precision="int8",
                     threads=opts.threads), io={}, extra={"quantization": quant}, parity=outcome.parity)


def _trt_artifacts(tmp: Path, spec, opts: ExportOptions, int8_info: dict[str, Any] | None) -> list[_Artifact]:
    from srkd.export.runners.trt import TrtRunner
    from srkd.export.trt_export import build_engines

    out = []
    for e in build_engines(tmp, spec=spec, precisions=opts.trt, sources={"fp32": ONNX_FILE, "fp16": FP16_FILE,
                           "int8": INT8_FILE}, sides=opts.trt_sides, batch=opts.trt_batch, input_name=INPUT_NAME,
                           opt_level=opts.trt_opt_level, timing_cache=opts.trt_timing_cache,
                           int8_fp32_nodes=(int8_info or {}).get("fp32_nodes", [])):
        entry, info = {"file": e["file"], "toolchain": e["info"]}, e["info"]
        out.append(_Artifact(e["file"], "tensorrt", e["precision"], lambda en=entry, n=e["file"], p=e["precision"]:
                   TrtRunner(tmp / n, spec=spec, precision=p, entry=en), io={},
                   toolchain={k: info[k] for k in ("tensorrt", "compute_capability")},
                   extra={"engine": {"source": e["source"], **info}}))
    return out


def _openvino_artifacts(tmp: Path, spec, meta: dict, opts: ExportOptions, *, int8: bool, io: dict[str, Any],
                        skipped: list[dict[str, str]]) -> list[_Artifact]:
    """OpenVINO IRs from model.onnx (run in fp32, and in bf16 where the CPU has it) and from the int8 ONNX."""
    import json

    from srkd.export.openvino import convert_to_ir, ir_bin
    from srkd.export.runners.openvino import OpenVinoRunner, bf16_supported, cpu_capabilities

    sources = [(ONNX_FILE, OV_FILE, ("fp32", "bf16"))] + [(INT8_FILE, OV_INT8_FILE, ("int8",))] * int8
    out = []
    for source, xml, precisions in sources:
        conv = convert_to_ir(tmp / source, tmp / xml, metadata=json.dumps(meta))
        for prec in precisions:
            if prec == "bf16" and not bf16_supported():
                why = f"this CPU has no bf16 in OpenVINO (capabilities: {', '.join(cpu_capabilities())})"
                skipped.append({"artifact": f"openvino:bf16 ({xml})", "why": why})
                log.warning("openvino:bf16 not built: %s", why)
                continue
            out.append(_Artifact(xml, "openvino", prec, lambda x=xml, p=prec: OpenVinoRunner(
                tmp / x, spec=spec, precision=p, threads=opts.threads), io=io, extra={"conversion": conv},
                companions=(ir_bin(xml).name,)))
    return out


def build_into(src: Path, tmp: Path, out: Path, *, data: str | os.PathLike | None, opts: ExportOptions) -> dict:
    """Make every artifact of ``opts`` in the folder ``tmp`` from the checkpoint ``src`` and write the manifest."""
    photos = parity_images(data, limit=opts.images, crop=opts.crop)  # first: a bad --data fails before any work
    ref_model, ref_spec = load_model(src)
    if opts.trt:  # a profile the export's own inputs break, or a missing TensorRT: said before any work
        from srkd.export.trt_export import check_request

        check_request(sides=opts.trt_sides, batch=opts.trt_batch, sizes=opts.latency_sizes, spec=ref_spec,
                      hr_images=[img for _, img in photos])
    if opts.openvino:
        from srkd.export.runners.openvino import require_openvino

        require_openvino()
    if src.suffix == ".safetensors" and _has_metadata(src):
        shutil.copyfile(src, tmp / STUDENT_FILE)
    else:  # a foreign checkpoint: store it the srkd way, with where it came from
        save_model(tmp / STUDENT_FILE, ref_model, provenance={"source": src.name}, weights="unknown")
    meta = read_metadata(tmp / STUDENT_FILE)
    model, spec = load_model(tmp / STUDENT_FILE)
    onnx_info = export_onnx(model, tmp / ONNX_FILE, opset=opts.opset, dynamo=opts.dynamo, metadata=meta,
                            simplify=opts.simplify)
    onnx_io = {k: onnx_info[k] for k in ("input", "output")}
    torch_io = {"input": {"name": INPUT_NAME, "dims": ["batch", spec.in_channels, "height", "width"]},
                "output": {"name": OUTPUT_NAME, "dims": ["batch", spec.out_channels, "out_height", "out_width"]}}
    onnx_tc = {"opset": onnx_info["opset"], "exporter": onnx_info["exporter"], "simplified": onnx_info["simplified"]}
    ort = lambda file, prec: (lambda: OrtRunner(tmp / file, spec=spec, precision=prec, threads=opts.threads))  # noqa: E731
    plan = [_Artifact(STUDENT_FILE, "torch", "fp32", lambda: TorchRunner(model, spec=spec, threads=opts.threads), torch_io),
            _Artifact(ONNX_FILE, "onnxruntime", "fp32", ort(ONNX_FILE, "fp32"), onnx_io, onnx_tc)]
    if opts.bf16:
        plan.append(_Artifact(STUDENT_FILE, "torch", "bf16", lambda: TorchRunner(  # its own copy: channels_last is in place
                    load_model(tmp / STUDENT_FILE)[0], spec=spec, precision="bf16", threads=opts.threads,
                    channels_last=True), torch_io, extra={"options": {"channels_last": True, "autocast": "bfloat16"}}))
    if opts.fp16 or "fp16" in opts.trt:
        conv = convert_fp16(tmp / ONNX_FILE, tmp / FP16_FILE)
        plan.append(_Artifact(FP16_FILE, "onnxruntime", "fp16", ort(FP16_FILE, "fp16"), onnx_io, onnx_tc, {"conversion": conv}))
    entries: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    with TorchRunner(ref_model, spec=ref_spec) as reference:
        int8_info = None
        if opts.int8 or "int8" in opts.trt:
            int8 = _int8_artifact(tmp, spec, meta, reference, photos, opts, src)
            int8.io, int8.toolchain, int8_info = onnx_io, onnx_tc, int8.extra["quantization"]
            plan.append(int8)
        if opts.openvino:
            plan += _openvino_artifacts(tmp, spec, meta, opts, int8=opts.int8, io=onnx_io, skipped=skipped)
        if opts.trt:
            plan += _trt_artifacts(tmp, spec, opts, int8_info)
        for art in plan:
            with art.open() as runner:
                parity = art.parity or check_parity(runner, reference, images=[img for _, img in photos], scale=spec.scale)
                parity.require(label=out / art.file)
                latency = measure_latency(runner, sizes=opts.latency_sizes, runs=opts.latency_runs)
                backend_tc, runs_in = runner.toolchain(), runner.runs_in()
            entry = mf.artifact_entry(
                root=tmp, file=art.file, backend=art.backend, precision=art.precision, model=meta, io=art.io,
                toolchain=mf.toolchain(art.backend, extra={**backend_tc, **art.toolchain}),
                parity=parity.to_dict(), latency=latency.to_dict(), companions=art.companions,
            )
            entries.append({**entry, "runs_in": runs_in, **art.extra})
    source = str(data) if data is not None else "scikit-image sample photos"
    parity_data = {"source": source, "images": [n for n, _ in photos], "crop": opts.crop, "lr": "MATLAB bicubic of HR"}
    manifest = mf.build_manifest(model=meta, artifacts=entries, parity_data=parity_data, thresholds=thresholds())
    manifest["export"] = {"flags": opts.artifact_flags(), "skipped": skipped}
    mf.write_manifest(tmp, manifest)
    return manifest
