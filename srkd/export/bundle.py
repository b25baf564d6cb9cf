"""Bundles: one folder with a student, the artifacts made from it, and ``manifest.json``.

Running a bundle (what ``srkd upscale`` and ``srkd bench`` call)::

    from srkd.export.bundle import open_runner

    with open_runner("bundle/", backend="auto", precision="fp32") as runner:
        sr = runner.infer(lr)  # float32 NCHW RGB [0, 1] in -> float32 NCHW [0, 1], x runner.spec.scale

``open_runner(bundle_dir, *, backend="auto"|"torch"|"onnxruntime"|"openvino"|"tensorrt", precision="fp32"|...|"auto",
device="auto"|"cpu"|"cuda", threads=None)`` returns an inactive Runner (use it as a context manager);
``runner.spec`` holds scale, channels and the size requirement. ``backend="auto"`` takes, among the
artifacts of ``precision`` (every precision when it is ``"auto"``) that passed parity and can run on
the device, the one with the lowest recorded p50 latency (``srkd check``'s figures when present, else
export's) at the largest size they were all timed at, among those timed on this kind of device (a GPU
for ``cuda``: torch on CUDA, ONNX Runtime's GPU providers, TensorRT). Figures taken on another CPU model count only
when none were taken on this one (with a warning); without figures the order is OpenVINO, ONNX
Runtime, torch.
``load_bundle(dir)`` returns a ``Bundle`` (manifest, spec, ``runner(entry)`` for any listed artifact),
after checking every artifact's SHA-256.

Making one: ``export_bundle(student, out, data=..., int8=True, ...)`` (srkd.export.build) writes the
artifacts in a hidden folder beside ``out`` and renames it into place only when every artifact
passed: a refused or interrupted export leaves no bundle behind (srkd.export.target).
"""
from __future__ import annotations

import dataclasses
import logging
import os
import shutil
from pathlib import Path
from typing import Any, Sequence

import torch

from srkd.device import pick_device
from srkd.errors import BackendUnavailableError, ConfigError, UnknownNameError
from srkd.export import manifest as mf
from srkd.export import target
from srkd.export.parity import SAMPLE_PHOTOS
from srkd.export.runners import OrtRunner, Runner, TorchRunner
from srkd.export.runners.ort import available_kinds, execution_providers, gpu_tag, ort_trt_cache_dir
from srkd.models.checkpoint import load_model
from srkd.models.metadata import parse_spec
from srkd.models.spec import ModelSpec

log = logging.getLogger(__name__)

STUDENT_FILE, ONNX_FILE = "student.safetensors", "model.onnx"
RUNNABLE = ("torch", "onnxruntime", "openvino", "tensorrt")


def make_runner(root: Path, entry: dict[str, Any], spec: ModelSpec, *, device: str | torch.device = "cpu",
                threads: int | None = None, ort_ep: str | None = None, rebuild: str | None = None) -> Runner:
    """An inactive Runner for one manifest ``entry`` of the bundle at ``root``.

    ``ort_ep``: ONNX Runtime's execution provider (cpu | cuda | tensorrt; default: cuda on a CUDA
    device, else cpu); ``rebuild``: the command a TensorRT mismatch error names.
    """
    path, device = root / entry["file"], pick_device(device)
    if entry["backend"] == "torch":
        model, _ = load_model(path)
        options = entry.get("options", {})
        return TorchRunner(model, spec=spec, precision=entry["precision"], device=device, threads=threads,
                           channels_last=bool(options.get("channels_last", False)))
    if entry["backend"] == "onnxruntime":
        kind = ort_ep or ("cuda" if device.type == "cuda" else "cpu")
        if kind not in available_kinds():
            raise BackendUnavailableError(f"{path}: this onnxruntime has no {kind} execution provider "
                                          f"(has: {', '.join(available_kinds()) or 'none'}; GPU: pip install onnxruntime-gpu)")
        gpu_id = (device.index or 0) if device.type == "cuda" else 0
        cache = ort_trt_cache_dir(root, gpu=gpu_tag(gpu_id)) if kind == "tensorrt" else None
        providers = execution_providers(kind, spec=spec, cache_dir=cache, precision=entry["precision"], device_id=gpu_id)
        return OrtRunner(path, spec=spec, precision=entry["precision"], threads=threads, providers=providers)
    if entry["backend"] == "openvino":
        from srkd.export.runners.openvino import OpenVinoRunner

        if device.type != "cpu":
            raise BackendUnavailableError(f"{path}: OpenVINO artifacts run on the CPU in srkd, not on {device}")
        return OpenVinoRunner(path, spec=spec, precision=entry["precision"], threads=threads)
    if entry["backend"] == "tensorrt":
        from srkd.export.runners.trt import TrtRunner

        return TrtRunner(path, spec=spec, precision=entry["precision"], entry=entry,
                         device=device if device.type == "cuda" else None, rebuild=rebuild or f"srkd export {root / STUDENT_FILE} --out {root} --overwrite --trt {entry['precision']}")
    raise BackendUnavailableError(f"{path}: no runner for backend {entry['backend']!r} in this srkd (have: {', '.join(RUNNABLE)})")


@dataclasses.dataclass(frozen=True)
class Bundle:
    """A loaded bundle: its folder and its manifest."""

    path: Path
    manifest: dict[str, Any]

    @property
    def spec(self) -> ModelSpec:
        return parse_spec(self.manifest["model"], source=f"{self.path / mf.MANIFEST_NAME}: model", hparams=False)

    @property
    def artifacts(self) -> list[dict[str, Any]]:
        return list(self.manifest["artifacts"])

    def find(self, *, backend: str, precision: str = "fp32") -> dict[str, Any]:
        """The artifact entry for ``backend``/``precision``; UnknownNameError listing what exists."""
        for entry in self.artifacts:
            if entry["backend"] == backend and entry["precision"] == precision:
                return entry
        have = ", ".join(f"{a['backend']}:{a['precision']}" for a in self.artifacts) or "(none)"
        raise UnknownNameError(f"{self.path}: no {backend}:{precision} artifact; the bundle has {have}")

    def rebuild_command(self) -> str:
        """The ``srkd export`` line that rebuilds this bundle in place with the same artifacts."""
        flags = self.manifest.get("export", {}).get("flags", [])
        return " ".join(["srkd export", str(self.path / STUDENT_FILE), "--out", str(self.path), "--overwrite", *flags])

    def runner(self, entry: dict[str, Any], *, device: str | torch.device = "cpu", threads: int | None = None,
               ort_ep: str | None = None) -> Runner:
        """An inactive Runner for ``entry`` (one of ``artifacts``)."""
        return make_runner(self.path, entry, self.spec, device=device, threads=threads, ort_ep=ort_ep,
                           rebuild=self.rebuild_command())


def load_bundle(path: str | os.PathLike, *, verify: bool = True) -> Bundle:
    """Read ``path/manifest.json``; with ``verify`` check that every artifact exists and matches its SHA-256."""
    path = Path(path)
    manifest = mf.read_manifest(path)
    if verify:
        for entry in manifest["artifacts"]:
            mf.verify_artifact(path, entry)
    return Bundle(path, manifest)


def _can_run(entry: dict[str, Any], device: torch.device) -> bool:
    if entry["backend"] == "onnxruntime":
        kinds = available_kinds()
        return "cuda" in kinds if device.type == "cuda" else "cpu" in kinds
    if entry["backend"] == "tensorrt":
        return device.type == "cuda"
    if entry["backend"] == "openvino":
        from srkd.export.runners.openvino import bf16_supported, cpu_capabilities

        return device.type == "cpu" and bool(cpu_capabilities()) and (entry["precision"] != "bf16" or bf16_supported())
    return entry["backend"] == "torch"


def _p50_by_size(entry: dict[str, Any], device: torch.device, *, same_cpu: bool) -> dict[int, float]:
    """Recorded p50 ms per size, when they were measured on this kind of device (GPU or CPU) and, with
    ``same_cpu``, on a CPU of this model (the machine class the bundle now runs on)."""
    from srkd.export.latency import cpu_model

    latency = (entry.get("check") or {}).get("latency") or entry.get("latency") or {}
    if bool(latency.get("gpu")) != (device.type == "cuda"):
        return {}
    if same_cpu and device.type == "cpu" and latency.get("cpu") not in (None, cpu_model()):
        return {}
    return {int(s["size"]): float(s["p50_ms"]) for s in latency.get("sizes", []) if s.get("p50_ms")}


def unrunnable_backends() -> dict[str, str]:
    """Backends whose artifacts cannot run on this machine, with why (for check/gate/bench to skip)."""
    from srkd.export.runners.openvino import cpu_capabilities

    out = {}
    if not torch.cuda.is_available():
        out["tensorrt"] = "no CUDA GPU here"
    if not cpu_capabilities():
        out["openvino"] = "OpenVINO is not installed (pip install 'srkd[openvino]')"
    return out


def choose_artifact(artifacts: Sequence[dict[str, Any]], *, precision: str, device: torch.device) -> dict[str, Any] | None:
    """The ``backend="auto"`` pick (see the module docstring); None when nothing fits."""
    order = {"tensorrt": 0, "openvino": 1, "onnxruntime": 2, "torch": 3}
    fits = [a for a in artifacts if (precision == "auto" or a["precision"] == precision) and _can_run(a, device)
            and (a.get("parity") or {}).get("passed", True) and ((a.get("check") or {}).get("parity") or {}).get("passed", True)]
    if not fits:
        return None
    timings = [_p50_by_size(a, device, same_cpu=True) for a in fits]
    if not any(timings):
        timings = [_p50_by_size(a, device, same_cpu=False) for a in fits]
        if any(timings):
            from srkd.export.latency import cpu_model

            log.warning("the bundle's latencies were measured on another CPU, not this %s; the auto choice may not be "
                        "the fastest here (re-time with `srkd check BUNDLE`)", cpu_model())
    timed = [(a, t) for a, t in zip(fits, timings) if t]  # an artifact not timed on this device has no say
    common = set.intersection(*(set(t) for _, t in timed)) if timed else set()
    if common:
        size = max(common)
        return min(timed, key=lambda at: at[1][size])[0]
    return min(fits, key=lambda a: (order.get(a["backend"], 9), a["precision"] != "fp32"))


def open_runner(bundle_dir: str | os.PathLike, *, backend: str = "auto", precision: str = "fp32",
                device: str | torch.device = "auto", threads: int | None = None) -> Runner:
    """An inactive Runner for the bundle's ``backend``/``precision`` artifact (see the module docstring)."""
    bundle = load_bundle(bundle_dir)
    dev = pick_device(device)
    if backend != "auto":
        if precision == "auto":
            entry = choose_artifact([a for a in bundle.artifacts if a["backend"] == backend], precision="auto", device=dev)
            if entry is not None:
                return bundle.runner(entry, device=dev, threads=threads)
            precision = "fp32"
        return bundle.runner(bundle.find(backend=backend, precision=precision), device=dev, threads=threads)
    entry = choose_artifact(bundle.artifacts, precision=precision, device=dev)
    if entry is None:
        return bundle.runner(bundle.find(backend="torch", precision="fp32" if precision == "auto" else precision),
                             device=dev, threads=threads)
    log.info("%s: auto backend -> %s:%s on %s", bundle_dir, entry["backend"], entry["precision"], dev)
    return bundle.runner(entry, device=dev, threads=threads)


def export_bundle(
    student: str | os.PathLike, out: str | os.PathLike, *, data: str | os.PathLike | None = None, opset: int = 17,
    dynamo: bool = False, overwrite: bool = False, images: int | None = 3, crop: int | None = 256,
    latency_sizes: Sequence[int] = (64, 128, 256), latency_runs: int = 10, threads: int | None = None,
    **artifacts: Any,
) -> Bundle:
    """Make the bundle ``out`` from ``student`` (a checkpoint file or a shipped model name).

    Parity runs on the first ``images`` photos of ``data`` (default: scikit-image's astronaut,
    chelsea, coffee), center-cropped to ``crop`` px. An artifact below its threshold raises
    ParityError with the figures and nothing is left at ``out``. ``threads``: ONNX Runtime's
    intra-op threads (None: its default). ``artifacts``: the other fields of
    ``srkd.export.build.ExportOptions`` (``simplify``, ``bf16``, ``fp16``, ``int8``, ``calib``, ``trt``, ...).
    """
    from srkd.export.build import ExportOptions, build_into

    known = {f.name for f in dataclasses.fields(ExportOptions)}
    unknown = sorted(set(artifacts) - known)
    if unknown:
        raise ConfigError(f"export: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    opts = ExportOptions(opset=opset, dynamo=dynamo, images=images, crop=crop, latency_sizes=tuple(latency_sizes),
                         latency_runs=latency_runs, threads=threads, **artifacts)
    src, out = target.student_file(student), Path(out)
    target.check_target(out, overwrite=overwrite)
    tmp = target.make_workdir(out)
    try:
        manifest = build_into(src, tmp, out, data=data, opts=opts)
        target.move_into_place(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    files = dict.fromkeys(a["file"] for a in manifest["artifacts"])
    log.info("%s: bundle written (%s)", out, ", ".join([*files, mf.MANIFEST_NAME]))
    return load_bundle(out)


__all__ = ["Bundle", "export_bundle", "load_bundle", "open_runner", "make_runner", "unrunnable_backends", "SAMPLE_PHOTOS",
           "STUDENT_FILE", "ONNX_FILE"]
