"""What ``srkd export --trt`` adds to an export: the checks made before any work, and the engines.

EXPERIMENTAL, like srkd.export.tensorrt: not yet run on a GPU.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from srkd.models.spec import ModelSpec


def check_request(*, sides: Sequence[int] | None, batch: Sequence[int], sizes: Sequence[int], spec: ModelSpec,
                  hr_images: Sequence[np.ndarray]) -> None:
    """Refuse, in one line and before any work, a profile (``--trt-profile`` ``sides``, ``--trt-batch``)
    that the export's parity images or timed ``sizes`` fall outside; then say what is missing
    (TensorRT, a GPU), if anything."""
    from srkd.export.tensorrt import require_tensorrt
    from srkd.export.trt_info import check_profile_admits, profile_shapes

    req, step = spec.size_req, spec.scale * spec.size_req.multiple_of
    lr = [((h - h % step) // spec.scale, (w - w % step) // spec.scale) for h, w in (img.shape[:2] for img in hr_images)]
    profile = profile_shapes(req, channels=spec.in_channels, sides=sides, batch=batch)
    check_profile_admits(profile, size_req=req, lr_shapes=lr, sizes=sizes)
    require_tensorrt()


def build_engines(folder: Path, *, spec: ModelSpec, precisions: Sequence[str], sources: Mapping[str, str],
                  sides: Sequence[int] | None, batch: Sequence[int], input_name: str, opt_level: int,
                  timing_cache: str | None, int8_fp32_nodes: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Build one engine per precision in ``folder`` from the ONNX file ``sources[precision]``; returns
    ``{"file", "precision", "source", "info"}`` per engine (``info``: build_engine's record)."""
    from srkd.export.tensorrt import build_engine, require_tensorrt
    from srkd.export.trt_info import engine_name, profile_shapes

    trt, capability = require_tensorrt()
    profile = profile_shapes(spec.size_req, channels=spec.in_channels, sides=sides, batch=batch)
    out = []
    for prec in precisions:
        name = engine_name(prec, capability=capability, trt_version=str(trt.__version__))
        keep = list(int8_fp32_nodes) if prec == "int8" else []
        info = build_engine(folder / sources[prec], folder / name, precision=prec, profile=profile,
                            input_name=input_name, opt_level=opt_level, timing_cache=timing_cache, allow_fp32=keep)
        out.append({"file": name, "precision": prec, "source": sources[prec], "info": info})
    return out
