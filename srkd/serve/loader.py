"""Turn a model reference (bundle folder, student file, BasicSR .pth, srkd .onnx, shipped name) into a Runner.

For a bundle the choice is ``srkd.export.bundle.choose_artifact``'s (one rule for upscale, bench and
open_runner): among the artifacts of the backend asked for (all with ``auto``) that passed their
parity check and run on the device, the one with the lowest recorded latency; ``precision="auto"``
lets every precision compete, a named one restricts the choice to it. An artifact that cannot start
here (a missing runtime) gives way to the next.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from srkd.errors import BackendUnavailableError, CheckpointError, ConfigError, one_line
from srkd.export.manifest import MANIFEST_NAME as MANIFEST
from srkd.export.runners.base import Runner
from srkd.models.metadata import parse_spec

log = logging.getLogger(__name__)

BACKENDS = ("auto", "torch", "onnxruntime", "openvino", "tensorrt")
PRECISIONS = ("auto", "fp32", "bf16", "fp16", "int8")


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
        raise CheckpointError(f"{path}: a TensorRT engine carries no model description; "
                              "pass the bundle folder holding it")
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
    return TorchRunner(model, spec=spec, device=resolve_device(device), precision=prec, threads=threads)


def onnx_metadata(path: Path) -> dict[str, Any]:
    """The ``srkd`` metadata JSON of an ONNX file (written by ``srkd export``); CheckpointError when absent."""
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - protobuf raises DecodeError and friends
        why = one_line(str(exc).strip(), limit=200) or type(exc).__name__
        raise CheckpointError(f"{path}: not a readable ONNX file ({why})") from None
    props = {p.key: p.value for p in proto.metadata_props}
    if "srkd" not in props:
        raise CheckpointError(f"{path}: an ONNX file without srkd metadata (key 'srkd'), so its scale and size "
                              "requirements are unknown; pass the bundle folder or re-export it with `srkd export`")
    try:
        meta = json.loads(props["srkd"])
    except (json.JSONDecodeError, RecursionError):
        raise CheckpointError(f"{path}: the ONNX metadata key 'srkd' does not hold JSON (expected the object srkd "
                              "export writes: arch, hparams, scale, ...)") from None
    parse_spec(meta, source=f"{path} (ONNX metadata)", hparams=False)
    return meta


def _open_onnx(path: Path, *, backend: str, device: str, threads: int | None) -> Runner:
    if not path.is_file():
        raise CheckpointError(f"{path}: no such ONNX file")
    if backend not in ("auto", "onnxruntime"):
        raise ConfigError(f"{path}: an .onnx file runs on onnxruntime, not {backend}")
    import torch

    from srkd.export.runners.ort import OrtRunner, execution_providers

    meta = onnx_metadata(path)
    spec = parse_spec(meta, source=f"{path} (ONNX metadata)", hparams=False)
    precision = meta.get("precision", "fp32") if meta.get("precision") in PRECISIONS else "fp32"
    providers = None
    if device.startswith("cuda"):
        if "CUDAExecutionProvider" not in _ort_providers():
            raise BackendUnavailableError(f"{path}: onnxruntime has no CUDAExecutionProvider "
                                          "(pip install onnxruntime-gpu, alone: not beside onnxruntime)")
        providers = execution_providers("cuda", precision=precision, device_id=torch.device(device).index or 0)
    return OrtRunner(path, spec=spec, precision=precision, threads=threads, providers=providers)


def _ort_providers() -> list[str]:
    try:
        import onnxruntime
    except ImportError:
        return []
    return list(onnxruntime.get_available_providers())


def open_bundle(path: Path, *, backend: str, device: str, precision: str, threads: int | None = None) -> Runner:
    """The artifact ``srkd.export.bundle.choose_artifact`` ranks first, active; the next one when it cannot start."""
    import torch

    from srkd.export.bundle import choose_artifact, load_bundle

    bundle, dev = load_bundle(path), torch.device(device)
    left = [a for a in bundle.artifacts if backend == "auto" or a.get("backend") == backend]
    problems = []
    while (entry := choose_artifact(left, precision=precision, device=dev)) is not None:
        try:
            runner = bundle.runner(entry, device=dev, threads=threads)
            runner.activate()
        except BackendUnavailableError as exc:
            problems.append(str(exc))
            left = [a for a in left if a is not entry]
            continue
        log.info("%s: %s/%s chose %s:%s on %s", path, backend, precision, entry["backend"], entry["precision"], device)
        return runner
    have = ", ".join(f"{a['backend']}:{a['precision']}"
                     + ("" if (a.get("parity") or {}).get("passed", True) else " (failed parity)")
                     for a in bundle.artifacts) or "(none)"
    why = f"; could not start: {'; '.join(problems)}" if problems else ""
    raise BackendUnavailableError(f"{path}: no artifact for backend {backend}, precision {precision} on {device} "
                                  f"that passed its parity check; the bundle has {have}{why}")
