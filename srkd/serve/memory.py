"""Automatic tile size: the largest tile whose activations fit a memory budget (or an engine's profile).

The memory a fully convolutional network needs grows with the pixels it sees. ``bytes_per_pixel``
measures it per input pixel: for a torch model from the outputs of its layers on a small probe
(forward hooks), for an ONNX file from shape inference at a fixed input size; the three largest
activations are taken as live at once. The budget is half the free GPU memory, or a quarter of the
available RAM on CPU. ``auto_tile`` solves ``batch * (tile + 2 * overlap)^2 * bytes_per_pixel <=
budget`` and caps the result at an engine profile's maximum shape when the runner has one.
"""
from __future__ import annotations

import logging
import math
import os

import numpy as np

from srkd.backends.runner import Runner
from srkd.serve.tiler import fit_tile

log = logging.getLogger(__name__)

PROBE = 32
MIN_TILE, MAX_TILE = 64, 1024


def _top3(sizes: list[int]) -> int:
    return sum(sorted(sizes, reverse=True)[:3])


def _torch_bytes(model, channels: int, side: int) -> float:
    import torch

    sizes: list[int] = []

    def hook(_mod, _inp, out) -> None:
        if isinstance(out, torch.Tensor):
            sizes.append(out.numel() * out.element_size())

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        device = next(model.parameters()).device if any(True for _ in model.parameters()) else "cpu"
        with torch.inference_mode():
            model(torch.zeros(1, channels, side, side, device=device))
    finally:
        for h in handles:
            h.remove()
    return _top3(sizes) / (side * side)


def _onnx_bytes(path, channels: int, side: int) -> float:
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    for d, v in zip(dims, (1, channels, side, side)):
        d.Clear()
        d.dim_value = v
    inferred = onnx.shape_inference.infer_shapes(proto)
    sizes = []
    for vi in list(inferred.graph.value_info) + list(inferred.graph.output):
        shape = [d.dim_value for d in vi.type.tensor_type.shape.dim]
        if shape and all(s > 0 for s in shape):
            sizes.append(int(np.prod(shape)) * 4)
    if not sizes:
        raise ValueError("shape inference gave no sizes")
    return _top3(sizes) / (side * side)


def bytes_per_pixel(runner: Runner) -> float:
    """Peak activation bytes per input pixel of ``runner``'s model (an estimate; see the module docstring)."""
    spec = runner.spec
    side = fit_tile(PROBE, size_req=spec.size_req)
    try:
        if getattr(runner, "model", None) is not None:
            return _torch_bytes(runner.model, spec.in_channels, side)
        path = getattr(runner, "path", None)
        if path is not None and str(path).endswith(".onnx"):
            return _onnx_bytes(path, spec.in_channels, side)
    except Exception as exc:  # noqa: BLE001 - an estimate that fails falls back to a generic one
        log.debug("activation probe failed (%s); using a generic estimate", exc)
    return 4.0 * (3 * 64 + 3 * 64 * spec.scale ** 2)  # 64-feature body plus a pixel-shuffle upsampler


def memory_budget(runner: Runner) -> int:
    """Bytes the tiles may use: half the free memory of the runner's GPU, else a quarter of the available RAM."""
    device = str(getattr(runner, "device", "cpu"))
    if device.startswith("cuda"):
        import torch

        free, _total = torch.cuda.mem_get_info(torch.device(device))
        return int(free * 0.5)
    return int(_available_ram() * 0.25)


def _available_ram() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 4 << 30


def _profile_max_shape(runner: Runner) -> tuple[int, ...] | None:
    profile = getattr(runner, "profile", None)  # TensorRT: (min, opt, max) NCHW shapes, once active
    if isinstance(profile, (tuple, list)) and len(profile) == 3:
        return tuple(int(v) for v in profile[2])
    return None


def profile_max(runner: Runner) -> int | None:
    """The largest input side an engine accepts (its optimisation profile's maximum), when the runner has one."""
    shape = _profile_max_shape(runner)
    return min(shape[-2:]) if shape else None


def profile_batch(runner: Runner) -> int | None:
    """The largest batch an engine's optimisation profile accepts, when the runner has one."""
    shape = _profile_max_shape(runner)
    return shape[0] if shape else None


def auto_tile(runner: Runner, *, overlap: int, batch: int = 1, budget: int | None = None) -> int:
    """Tile core side (LR pixels, a multiple of 8 and of the model's ``multiple_of``) for ``runner``."""
    per_px = bytes_per_pixel(runner)
    budget = memory_budget(runner) if budget is None else budget
    side = math.isqrt(max(1, int(budget / (per_px * max(1, batch)))))
    tile = max(MIN_TILE, min(MAX_TILE, side - 2 * overlap))
    cap = profile_max(runner)
    if cap is not None:
        tile = min(tile, max(8, cap - 2 * overlap))
    mult = math.lcm(8, runner.spec.size_req.multiple_of)
    tile = max(mult, tile // mult * mult)
    log.info("auto tile: %d px (%.0f bytes per pixel, budget %.1f GiB, batch %d)", tile, per_px, budget / 2**30, batch)
    return tile
