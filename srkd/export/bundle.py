"""Bundles: one folder with a student, the artifacts made from it, and ``manifest.json``.

Running a bundle (what ``srkd upscale`` and ``srkd bench`` call)::

    from srkd.export.bundle import open_runner

    with open_runner("bundle/", backend="auto", precision="fp32") as runner:
        sr = runner.infer(lr)  # float32 NCHW RGB [0, 1] in -> float32 NCHW [0, 1], x runner.spec.scale

``open_runner(bundle_dir, *, backend="auto"|"torch"|"onnxruntime", precision="fp32", device="auto"|
"cpu"|"cuda", threads=None)`` returns an inactive Runner (use it as a context manager);
``runner.spec`` holds scale, channels and the size requirement. ``backend="auto"`` takes ONNX
Runtime when it is installed and can run on the chosen device, else torch. ``load_bundle(dir)``
returns a ``Bundle`` (manifest, spec, ``runner(entry)`` for any listed artifact), after checking
every artifact's SHA-256.

Making one: ``export_bundle(student, out, data=...)`` copies ``student.safetensors`` in, writes
``model.onnx``, parity-checks every artifact against the torch fp32 output on real images, times
it, and writes the manifest. It builds in a hidden folder beside ``out`` and renames it into place
only when every artifact passed: a refused export leaves no bundle behind.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import secrets
import shutil
from pathlib import Path
from typing import Any, Sequence

import torch

from srkd.device import pick_device
from srkd.errors import BackendUnavailableError, CheckpointError, ConfigError, UnknownNameError
from srkd.export import manifest as mf
from srkd.export.latency import measure_latency
from srkd.export.onnx import INPUT_NAME, OUTPUT_NAME, export_onnx
from srkd.export.parity import SAMPLE_PHOTOS, check_parity, parity_images, thresholds
from srkd.export.runners import OrtRunner, Runner, TorchRunner
from srkd.models.checkpoint import load_model, read_metadata, save_model
from srkd.models.spec import ModelSpec
from srkd.zoo import ZOO, zoo_path

log = logging.getLogger(__name__)

STUDENT_FILE, ONNX_FILE = "student.safetensors", "model.onnx"


def _ort_providers() -> list[str] | None:
    try:
        import onnxruntime
    except ImportError:
        return None
    return list(onnxruntime.get_available_providers())


def make_runner(root: Path, entry: dict[str, Any], spec: ModelSpec, *, device: str | torch.device = "cpu",
                threads: int | None = None) -> Runner:
    """An inactive Runner for one manifest ``entry`` of the bundle at ``root``."""
    path, device = root / entry["file"], pick_device(device)
    if entry["backend"] == "torch":
        model, _ = load_model(path)
        return TorchRunner(model, spec=spec, precision=entry["precision"], device=device)
    if entry["backend"] == "onnxruntime":
        providers = None
        if device.type == "cuda":
            if "CUDAExecutionProvider" not in (_ort_providers() or []):
                raise BackendUnavailableError(f"{path}: onnxruntime has no CUDAExecutionProvider (pip install onnxruntime-gpu)")
            providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
        return OrtRunner(path, spec=spec, precision=entry["precision"], threads=threads, providers=providers)
    raise BackendUnavailableError(f"{path}: no runner for backend {entry['backend']!r} in this srkd (have: torch, onnxruntime)")


@dataclasses.dataclass(frozen=True)
class Bundle:
    """A loaded bundle: its folder and its manifest."""

    path: Path
    manifest: dict[str, Any]

    @property
    def spec(self) -> ModelSpec:
        return ModelSpec.from_dict(self.manifest["model"])

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

    def runner(self, entry: dict[str, Any], *, device: str | torch.device = "cpu", threads: int | None = None) -> Runner:
        """An inactive Runner for ``entry`` (one of ``artifacts``)."""
        return make_runner(self.path, entry, self.spec, device=device, threads=threads)


def load_bundle(path: str | os.PathLike, *, verify: bool = True) -> Bundle:
    """Read ``path/manifest.json``; with ``verify`` check that every artifact exists and matches its SHA-256."""
    path = Path(path)
    manifest = mf.read_manifest(path)
    if verify:
        for entry in manifest["artifacts"]:
            mf.verify_artifact(path, entry)
    return Bundle(path, manifest)


def open_runner(bundle_dir: str | os.PathLike, *, backend: str = "auto", precision: str = "fp32",
                device: str | torch.device = "auto", threads: int | None = None) -> Runner:
    """An inactive Runner for the bundle's ``backend``/``precision`` artifact (see the module docstring)."""
    bundle = load_bundle(bundle_dir)
    dev = pick_device(device)
    if backend != "auto":
        return bundle.runner(bundle.find(backend=backend, precision=precision), device=dev, threads=threads)
    providers = _ort_providers()
    ort_fits = providers is not None and (dev.type == "cpu" or "CUDAExecutionProvider" in providers)
    for candidate in (["onnxruntime"] if ort_fits else []) + ["torch"]:
        entry = next((a for a in bundle.artifacts if a["backend"] == candidate and a["precision"] == precision), None)
        if entry is not None:
            log.info("%s: auto backend -> %s:%s on %s", bundle_dir, candidate, precision, dev)
            return bundle.runner(entry, device=dev, threads=threads)
    return bundle.runner(bundle.find(backend="torch", precision=precision), device=dev, threads=threads)


def _student_file(student: str | os.PathLike) -> Path:
    if Path(student).is_file():
        return Path(student)
    if str(student) in ZOO:
        return zoo_path(str(student))
    raise CheckpointError(f"{student}: neither a checkpoint file nor a shipped model (shipped: {', '.join(ZOO.names())})")


def _check_target(out: Path, overwrite: bool) -> None:
    if not out.exists():
        return
    if not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a folder; expected a new or existing bundle folder")
    if not overwrite:
        raise ConfigError(f"{out}: already exists; pass --overwrite (overwrite=True) to replace it")
    if any(out.iterdir()) and not (out / mf.MANIFEST_NAME).is_file():
        raise ConfigError(f"{out}: exists and is not a bundle (no {mf.MANIFEST_NAME}); refusing to replace it")


def _move_into_place(tmp: Path, out: Path) -> None:
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    try:
        os.replace(tmp, out)
    except OSError:
        if old is not None:
            os.replace(old, out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _build(src: Path, tmp: Path, out: Path, *, data, opset, dynamo, images, crop, sizes, runs, threads) -> dict:
    photos = parity_images(data, limit=images, crop=crop)  # first: a bad --data fails before any work
    ref_model, ref_spec = load_model(src)
    if src.suffix == ".safetensors" and _has_metadata(src):
        shutil.copyfile(src, tmp / STUDENT_FILE)
    else:  # a foreign checkpoint: store it the srkd way, with where it came from
        save_model(tmp / STUDENT_FILE, ref_model, provenance={"source": src.name}, weights="unknown")
    meta = read_metadata(tmp / STUDENT_FILE)
    model, spec = load_model(tmp / STUDENT_FILE)
    onnx_info = export_onnx(model, tmp / ONNX_FILE, opset=opset, dynamo=dynamo, metadata=meta)
    torch_io = {"input": {"name": INPUT_NAME, "dims": ["batch", spec.in_channels, "height", "width"]},
                "output": {"name": OUTPUT_NAME, "dims": ["batch", spec.out_channels, "out_height", "out_width"]}}
    plan = [("torch", STUDENT_FILE, torch_io, {}),
            ("onnxruntime", ONNX_FILE, {k: onnx_info[k] for k in ("input", "output")},
             {"opset": onnx_info["opset"], "exporter": onnx_info["exporter"]})]
    entries = []
    with TorchRunner(ref_model, spec=ref_spec) as reference:
        for backend, file, io, extra in plan:
            with make_runner(tmp, {"file": file, "backend": backend, "precision": "fp32"}, spec, threads=threads) as runner:
                parity = check_parity(runner, reference, images=[img for _, img in photos], scale=spec.scale)
                parity.require(label=out / file)
                latency = measure_latency(runner, sizes=sizes, runs=runs)
                entries.append(mf.artifact_entry(
                    root=tmp, file=file, backend=backend, precision="fp32", model=meta, io=io,
                    toolchain=mf.toolchain(backend, extra={**runner.toolchain(), **extra}),
                    parity=parity.to_dict(), latency=latency.to_dict(),
                ))
    source = str(data) if data is not None else "scikit-image sample photos"
    parity_data = {"source": source, "images": [n for n, _ in photos], "crop": crop, "lr": "MATLAB bicubic of HR"}
    manifest = mf.build_manifest(model=meta, artifacts=entries, parity_data=parity_data, thresholds=thresholds())
    mf.write_manifest(tmp, manifest)
    return manifest


def _has_metadata(path: Path) -> bool:
    try:
        read_metadata(path)
    except CheckpointError:
        return False
    return True


def export_bundle(
    student: str | os.PathLike, out: str | os.PathLike, *, data: str | os.PathLike | None = None, opset: int = 17,
    dynamo: bool = False, overwrite: bool = False, images: int | None = 3, crop: int | None = 256,
    latency_sizes: Sequence[int] = (64, 128), latency_runs: int = 10, threads: int | None = None,
) -> Bundle:
    """Make the bundle ``out`` from ``student`` (a checkpoint file or a shipped model name).

    Parity runs on the first ``images`` photos of ``data`` (default: scikit-image's astronaut,
    chelsea, coffee), center-cropped to ``crop`` px. An artifact below its threshold raises
    ParityError with the figures and nothing is left at ``out``. ``threads``: ONNX Runtime's
    intra-op threads (None: its default).
    """
    src, out = _student_file(student), Path(out)
    _check_target(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.{os.getpid()}-{secrets.token_hex(4)}.partial"
    tmp.mkdir()  # not mkdtemp: its 0700 mode would stick to the finished bundle
    try:
        _build(src, tmp, out, data=data, opset=opset, dynamo=dynamo, images=images, crop=crop,
               sizes=latency_sizes, runs=latency_runs, threads=threads)
        _move_into_place(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("%s: bundle written (%s)", out, ", ".join([STUDENT_FILE, ONNX_FILE, mf.MANIFEST_NAME]))
    return load_bundle(out)


__all__ = ["Bundle", "export_bundle", "load_bundle", "open_runner", "make_runner", "SAMPLE_PHOTOS",
           "STUDENT_FILE", "ONNX_FILE"]
