"""The backend registry: one line per backend; every list of backends in srkd derives from it.

A new backend is a module or folder here defining ``BACKEND = Backend(...)`` (see
``srkd/backends/spec.py``) plus one ``register`` line below. Registration order is the order artifacts
are listed in a manifest (after the ones every bundle has) and the order ``--backend`` choices show.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from srkd.backends import litert, ncnn, onnxruntime, openvino, pytorch, tensorrt
from srkd.backends.spec import Backend, CanRun
from srkd.registry import Registry

if TYPE_CHECKING:
    import torch

BACKENDS: Registry[Backend] = Registry("backend")


def register(backend: Backend) -> Backend:
    """Add ``backend`` under its own name (duplicates are refused)."""
    return BACKENDS.add(backend.name, backend)


register(pytorch.BACKEND)
register(onnxruntime.BACKEND)
register(openvino.BACKEND)
register(tensorrt.BACKEND)
register(ncnn.BACKEND)
register(litert.BACKEND)


def backend_names() -> list[str]:
    """Registered backend names in registration order."""
    return [name for name, _ in BACKENDS.items()]


def unrunnable_backends() -> dict[str, str]:
    """Backends whose artifacts cannot run on this machine on any device, with why (check/bench/gate skip them)."""
    import torch

    devices = [torch.device("cpu")] + [torch.device("cuda")] * torch.cuda.is_available()
    out = {}
    for name, backend in BACKENDS.items():
        verdicts: list[CanRun] = [backend.can_run(device, None) for device in devices]
        if not any(verdicts):
            out[name] = verdicts[0].why
    return out


def can_run(backend: str, device: "torch.device", precision: str | None = None) -> CanRun:
    """The registered backend's verdict for ``device``/``precision`` (an unregistered name cannot run)."""
    if backend not in BACKENDS:
        return CanRun(False, f"no backend {backend!r} in this srkd (have: {', '.join(backend_names())})")
    return BACKENDS.get(backend).can_run(device, precision)


__all__ = ["BACKENDS", "Backend", "CanRun", "backend_names", "can_run", "register", "unrunnable_backends"]
