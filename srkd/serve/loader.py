"""Turn a model reference (bundle folder, student file, BasicSR .pth, srkd .onnx, shipped name) into a Runner.

For a bundle, ``backend="auto"`` ranks the artifacts that passed their parity check and can run on
the chosen device by the throughput the manifest recorded for them (measured on the same kind of
device, largest size), and takes the fastest one that activates; ``precision="auto"`` lets any
precision compete, a named one restricts the choice to it.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from srkd.errors import BackendUnavailableError, CheckpointError, ConfigError
from srkd.export.manifest import MANIFEST_NAME as MANIFEST
from srkd.export.runners.base import Runner
from srkd.models.spec import ModelSpec

log = logging.getLogger(__name__)

BACKENDS = ("auto", "torch", "onnxruntime", "openvino", "tensorrt")
PRECISIONS = ("auto", "fp32", "bf16", "fp16", "int8")
_PREFERENCE = ("tensorrt", "onnxruntime", "openvino", "torch")  # order among artifacts without latency figures


def resolve_device(choice: str) -> str:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu`` (srkd.device's rule); bad names are ConfigError."""
    from srkd.device import pick_device

    try:
        return str(pick_device(choice))
    except RuntimeError:  # torch.device's complaint about an unknown name
        raise ConfigError(f"unknown device {choice!r}; expected auto, cpu or cuda[:N]") from None


def is_bundle(path: str | os.PathLike) -> bool:
    """A folder with a ``manifest.json``."""
    return (Path(path) / MANIFEST).is_file()


def _check_choice(backend: str, precision: str) -> None:
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r}; expected one of {', '.join(PRECISIONS)}")


def open_model(ref: str | os.PathLike, *, backend: str = "auto", device: str = "auto",
               precision: str = "auto", threads: int | None = None) -> Runner:
    """A Runner for ``ref`` (see the module docstring). Bundles chosen with ``auto`` come back already active."""
    _check_choice(backend, precision)
    path = Path(ref)
    if path.is_dir():
        if not is_bundle(path):
            raise CheckpointError(f"{path}: a folder without {MANIFEST} is not a bundle (make one with `srkd export`)")
        return open_bundle(path, backend=backend, device=resolve_device(device), precision=precision, threads=threads)
    suffix = path.suffix.lower()
    if suffix in (".engine", ".plan"):
        raise CheckpointError(f"{path}: a TensorRT engine carries no model description; pass the bundle folder holding it")
    if suffix == ".onnx":
        return _open_onnx(path, backend=backend, device=resolve_device(device), threads=threads)
    if backend not in ("auto", "torch"):
        raise ConfigError(f"{ref}: --backend {backend} needs a bundle (or an srkd .onnx file), but this is a "
                          "PyTorch checkpoint; export one with `srkd export` or use --backend torch")
    if precision in ("fp16", "int8") and resolve_device(device) == "cpu":
        raise ConfigError(f"{ref}: --precision {precision} on torch needs a GPU; on CPU use fp32 or bf16")
    from srkd.export.runners.torch_runner import TorchRunner
    from srkd.models.resolve import resolve_model

    model, spec = resolve_model(str(ref))
    prec = "fp32" if precision == "auto" else precision
    return TorchRunner(model, spec=spec, device=resolve_device(device), precision=prec)


def onnx_metadata(path: Path) -> dict[str, Any]:
    """The ``srkd`` metadata JSON of an ONNX file (written by ``srkd export``); CheckpointError when absent."""
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - protobuf raises DecodeError and friends
        raise CheckpointError(f"{path}: not a readable ONNX file ({str(exc).strip()[:200] or type(exc).__name__})") from None
    props = {p.key: p.value for p in proto.metadata_props}
    if "srkd" not in props:
        raise CheckpointError(f"{path}: an ONNX file without srkd metadata (key 'srkd'), so its scale and size "
                              "requirements are unknown; pass the bundle folder or re-export it with `srkd export`")
    try:
        return json.loads(props["srkd"])
    except json.JSONDecodeError:
        raise CheckpointError(f"{path}: the ONNX metadata key 'srkd' does not hold JSON") from None


def _open_onnx(path: Path, *, backend: str, device: str, threads: int | None) -> Runner:
    if not path.is_file():
        raise CheckpointError(f"{path}: no such ONNX file")
    if backend not in ("auto", "onnxruntime"):
        raise ConfigError(f"{path}: an .onnx file runs on onnxruntime, not {backend}")
    from srkd.export.runners.ort import OrtRunner

    meta = onnx_metadata(path)
    spec = ModelSpec.from_dict(meta)
    providers = None
    if device.startswith("cuda"):
        if "CUDAExecutionProvider" not in _ort_providers():
            raise BackendUnavailableError(f"{path}: onnxruntime has no CUDAExecutionProvider (pip install onnxruntime-gpu)")
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    precision = meta.get("precision", "fp32") if meta.get("precision") in PRECISIONS else "fp32"
    return OrtRunner(path, spec=spec, precision=precision, threads=threads, providers=providers)


def _ort_providers() -> list[str]:
    try:
        import onnxruntime
    except ImportError:
        return []
    return list(onnxruntime.get_available_providers())


def _runs_on(entry: dict[str, Any], device: str) -> bool:
    backend, gpu = entry.get("backend"), device.startswith("cuda")
    if backend == "torch":
        return gpu or entry.get("precision") in ("fp32", "bf16")
    if backend == "onnxruntime":
        return bool(_ort_providers()) and (not gpu or "CUDAExecutionProvider" in _ort_providers())
    if backend == "tensorrt":
        return gpu
    if backend == "openvino":
        return not gpu
    return False


def _speed(entry: dict[str, Any], device: str) -> float:
    """Recorded output MP/s at the largest measured size, when measured on this kind of device; else 0."""
    latency = entry.get("latency") or {}
    if bool(latency.get("gpu")) != device.startswith("cuda"):
        return 0.0
    sizes = [s for s in latency.get("sizes", []) if s.get("mp_per_s")]
    return float(max(sizes, key=lambda s: s.get("size", 0))["mp_per_s"]) if sizes else 0.0


def rank_artifacts(artifacts: list[dict[str, Any]], *, device: str, backend: str = "auto",
                   precision: str = "auto") -> list[dict[str, Any]]:
    """Artifacts that passed parity and run on ``device``, fastest first (recorded throughput, then preference)."""
    def order(e: dict[str, Any]) -> tuple:
        pref = _PREFERENCE.index(e["backend"]) if e["backend"] in _PREFERENCE else len(_PREFERENCE)
        return (-_speed(e, device), e.get("precision") != "fp32", pref)

    chosen = [e for e in artifacts
              if (backend == "auto" or e.get("backend") == backend)
              and (precision == "auto" or e.get("precision") == precision)
              and (e.get("parity") or {}).get("passed", False) and _runs_on(e, device)]
    return sorted(chosen, key=order)


def open_bundle(path: Path, *, backend: str, device: str, precision: str, threads: int | None = None) -> Runner:
    """The fastest suitable artifact of the bundle at ``path``, active (see the module docstring)."""
    from srkd.export.bundle import load_bundle

    bundle = load_bundle(path)
    ranked = rank_artifacts(bundle.artifacts, device=device, backend=backend, precision=precision)
    if not ranked:
        have = ", ".join(f"{a['backend']}:{a['precision']}{'' if (a.get('parity') or {}).get('passed') else ' (failed parity)'}"
                         for a in bundle.artifacts) or "(none)"
        raise BackendUnavailableError(f"{path}: no artifact for backend {backend}, precision {precision} on {device} "
                                      f"that passed its parity check; the bundle has {have}")
    problems = []
    for entry in ranked:
        try:
            runner = bundle.runner(entry, device=device, threads=threads)
            runner.activate()
        except BackendUnavailableError as exc:
            problems.append(str(exc))
            continue
        log.info("%s: %s/%s chose %s:%s on %s", path, backend, precision, entry["backend"], entry["precision"], device)
        return runner
    raise BackendUnavailableError(f"{path}: none of the suitable artifacts could start: {'; '.join(problems)}")
