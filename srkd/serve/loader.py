"""Turn a model reference (bundle folder, student file, shipped name) into an inactive Runner."""
from __future__ import annotations

import importlib.util
import json
import logging
import os
from pathlib import Path

from srkd.errors import BackendUnavailableError, CheckpointError, ConfigError
from srkd.export.runners.base import Runner
from srkd.models.spec import ModelSpec

log = logging.getLogger(__name__)

BACKENDS = ("auto", "torch", "onnxruntime")
MANIFEST = "manifest.json"


def resolve_device(choice: str) -> str:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu``; an explicit ``cuda`` without one is an error."""
    import torch

    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice.startswith("cuda") and not torch.cuda.is_available():
        raise BackendUnavailableError(f"device {choice!r} asked for, but torch sees no CUDA GPU")
    if choice != "cpu" and not choice.startswith("cuda"):
        raise ConfigError(f"unknown device {choice!r}; expected auto, cpu or cuda[:N]")
    return choice


def is_bundle(path: str | os.PathLike) -> bool:
    """A folder with a ``manifest.json``."""
    return (Path(path) / MANIFEST).is_file()


def open_model(ref: str | os.PathLike, *, backend: str = "auto", device: str = "auto",
               precision: str = "fp32") -> Runner:
    """An inactive Runner for ``ref``: a bundle folder, a checkpoint file, a shipped name or ``bicubic``.

    ``backend`` is ``auto``, ``torch`` or ``onnxruntime``; a bare checkpoint only runs on torch.
    """
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    path = Path(ref)
    if path.is_dir():
        if not is_bundle(path):
            raise CheckpointError(f"{path}: a folder without {MANIFEST} is not a bundle (make one with `srkd export`)")
        return _open_bundle(path, backend=backend, device=device, precision=precision)
    if path.suffix.lower() == ".onnx":
        raise CheckpointError(f"{path}: a bare ONNX file carries no model description; pass the bundle folder holding it")
    if backend == "onnxruntime":
        raise ConfigError(f"{ref}: --backend onnxruntime needs a bundle with an ONNX model, but this is a "
                          "PyTorch checkpoint; export one with `srkd export` or use --backend torch")
    from srkd.export.runners.torch_runner import TorchRunner
    from srkd.models.resolve import resolve_model

    model, spec = resolve_model(str(ref))
    return TorchRunner(model, spec=spec, device=resolve_device(device), precision=precision)


def _open_bundle(path: Path, *, backend: str, device: str, precision: str) -> Runner:
    try:
        from srkd.export.bundle import open_runner
    except ModuleNotFoundError as exc:
        if exc.name != "srkd.export.bundle":
            raise
        return _open_bundle_minimal(path, backend=backend, device=device, precision=precision)
    import inspect

    kwargs = {"backend": backend, "precision": precision}
    if "device" in inspect.signature(open_runner).parameters:
        kwargs["device"] = resolve_device(device)
    return open_runner(path, **kwargs)


def _open_bundle_minimal(path: Path, *, backend: str, device: str, precision: str) -> Runner:
    """Stand-in until ``srkd.export.bundle`` exists: pick an artifact from the manifest by backend/precision."""
    try:
        manifest = json.loads((path / MANIFEST).read_text())
        spec = ModelSpec.from_dict(manifest["model"])
        artifacts = list(manifest["artifacts"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{path / MANIFEST}: not a valid bundle manifest ({exc})") from None
    wanted = ("onnxruntime", "torch") if backend == "auto" else (backend,)
    if backend == "auto" and importlib.util.find_spec("onnxruntime") is None:
        wanted = ("torch",)
    for name in wanted:
        for art in artifacts:
            if art.get("backend") == name and art.get("precision", "fp32") == precision:
                return _runner_for(path / art["file"], backend=name, spec=spec, device=device, precision=precision)
    have = ", ".join(f"{a.get('backend')}:{a.get('precision')}" for a in artifacts) or "(none)"
    raise CheckpointError(f"{path}: no {'/'.join(wanted)} artifact at {precision}; the bundle has: {have}")


def _runner_for(file: Path, *, backend: str, spec: ModelSpec, device: str, precision: str) -> Runner:
    if backend == "torch":
        from srkd.export.runners.torch_runner import TorchRunner
        from srkd.models.checkpoint import load_model

        model, _ = load_model(file)
        return TorchRunner(model, spec=spec, device=resolve_device(device), precision=precision)
    from srkd.export.runners.ort import OrtRunner

    providers = ["CPUExecutionProvider"]
    if resolve_device(device).startswith("cuda"):
        providers.insert(0, "CUDAExecutionProvider")
    return OrtRunner(file, spec=spec, precision=precision, providers=providers)
