"""Turn a model reference (bundle folder, student file, BasicSR .pth, srkd .onnx, shipped name) into a Runner.

A bundle is opened by ``srkd.bundle.choose.open_runner`` (one rule for upscale, bench and the API):
among the artifacts of the backend asked for (all with ``auto``) that passed their parity check and
run on the device, the one with the lowest recorded latency; ``precision="auto"`` lets every precision
compete, a named one restricts the choice to it. An artifact that cannot start here (a missing
runtime) gives way to the next. A bare file goes to the backend that declares its suffix (``.onnx``:
ONNX Runtime); anything else is a PyTorch checkpoint.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from srkd.backends import BACKENDS, backend_names
from srkd.backends.runner import Runner
from srkd.bundle.manifest import MANIFEST_NAME, PRECISIONS
from srkd.errors import CheckpointError, ConfigError

log = logging.getLogger(__name__)


def resolve_device(choice: str) -> str:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu`` (srkd.device's rule); bad names are ConfigError."""
    from srkd.device import pick_device

    try:
        return str(pick_device(choice))
    except RuntimeError:  # torch.device's complaint about an unknown name
        raise ConfigError(f"unknown device {choice!r}; expected auto, cpu or cuda[:N]") from None


def is_bundle(path: str | os.PathLike) -> bool:
    """A folder with a ``manifest.json``."""
    return (Path(path) / MANIFEST_NAME).is_file()


def _check_choice(backend: str, precision: str) -> None:
    if backend != "auto" and backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; expected one of {', '.join(['auto', *backend_names()])}")
    if precision != "auto" and precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r}; expected one of {', '.join(['auto', *PRECISIONS])}")


def open_model(ref: str | os.PathLike, *, backend: str = "auto", device: str = "auto",
               precision: str = "auto", threads: int | None = None) -> Runner:
    """A Runner for ``ref`` (see the module docstring). Bundles come back already active."""
    import torch

    _check_choice(backend, precision)
    path = Path(ref)
    if path.is_dir():
        if not is_bundle(path):
            raise CheckpointError(f"{path}: a folder without {MANIFEST_NAME} is not a bundle (make one with `srkd export`)")
        from srkd.bundle.choose import open_runner

        return open_runner(path, backend=backend, device=resolve_device(device), precision=precision, threads=threads)
    suffix = path.suffix.lower()
    opener = next((b for _, b in BACKENDS.items() if suffix in b.suffixes and b.open_file), None)
    if opener is not None:
        if backend not in ("auto", opener.name):
            raise ConfigError(f"{path}: an {suffix} file runs on {opener.name}, not {backend}")
        return opener.open_file(path, torch.device(resolve_device(device)), threads)
    if backend not in ("auto", "torch"):
        raise ConfigError(f"{ref}: --backend {backend} needs a bundle (or an srkd .onnx file), but this is a "
                          "PyTorch checkpoint; export one with `srkd export` or use --backend torch")
    if precision in ("fp16", "int8") and resolve_device(device) == "cpu":
        raise ConfigError(f"{ref}: --precision {precision} on torch needs a GPU; on CPU use fp32 or bf16")
    from srkd.backends.pytorch.runner import TorchRunner
    from srkd.models.repconv import fold_for_inference
    from srkd.models.resolve import resolve_model

    model, spec = resolve_model(str(ref))
    prec = "fp32" if precision == "auto" else precision
    return TorchRunner(fold_for_inference(model), spec=spec, device=resolve_device(device), precision=prec,
                       threads=threads)
