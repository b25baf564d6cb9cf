"""Turn a model reference (bundle folder, student file, shipped name) into an inactive Runner."""
from __future__ import annotations

import os
from pathlib import Path

from srkd.errors import CheckpointError, ConfigError
from srkd.export.manifest import MANIFEST_NAME as MANIFEST
from srkd.export.runners.base import Runner

BACKENDS = ("auto", "torch", "onnxruntime")


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
        raise CheckpointError(f"{path}: a bare ONNX file carries no model description; "
                              "pass the bundle folder holding it")
    if backend == "onnxruntime":
        raise ConfigError(f"{ref}: --backend onnxruntime needs a bundle with an ONNX model, but this is a "
                          "PyTorch checkpoint; export one with `srkd export` or use --backend torch")
    from srkd.export.runners.torch_runner import TorchRunner
    from srkd.models.resolve import resolve_model

    model, spec = resolve_model(str(ref))
    return TorchRunner(model, spec=spec, device=resolve_device(device), precision=precision)


def _open_bundle(path: Path, *, backend: str, device: str, precision: str) -> Runner:
    from srkd.export.bundle import open_runner

    return open_runner(path, backend=backend, precision=precision, device=resolve_device(device))
