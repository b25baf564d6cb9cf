"""TensorRT facts that need no TensorRT: profile shapes, engine names, the version/GPU match, and the
check of an engine's real layer precisions over the engine inspector's JSON.

A TensorRT engine runs only on the GPU architecture (compute capability) and the TensorRT version
that built it; the engine's file name and its manifest entry carry both, and loading it elsewhere
fails with the command that rebuilds it.
"""
from __future__ import annotations

import dataclasses
import json
import re
from typing import Any, Iterable, Mapping, Sequence

from srkd.errors import BackendUnavailableError, ConfigError, ParityError
from srkd.models.spec import SizeReq

# Default LR sides of the optimisation profile (min comes from the size requirement).
OPT_SIDE, MAX_SIDE = 256, 1024


class EngineMismatchError(BackendUnavailableError):
    """A TensorRT engine was built for another GPU architecture or TensorRT version."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrtProfile:
    """One optimisation profile: NCHW shapes for min, opt and max."""

    min: tuple[int, int, int, int]
    opt: tuple[int, int, int, int]
    max: tuple[int, int, int, int]

    def to_dict(self) -> dict[str, list[int]]:
        return {"min": list(self.min), "opt": list(self.opt), "max": list(self.max)}


def _fit(side: int, req: SizeReq, *, down: bool = False) -> int:
    side = max(side, req.minimum)
    rem = side % req.multiple_of
    if rem:
        side = side - rem if down and side - rem >= req.minimum else side + req.multiple_of - rem
    return side


def profile_shapes(
    size_req: SizeReq, *, channels: int = 3, sides: Sequence[int] | None = None, batch: Sequence[int] = (1, 1, 1),
) -> TrtProfile:
    """Min/opt/max input shapes from the size requirement, or from ``sides`` (min, opt, max LR px) when given.

    Sides are rounded to the requirement (min and opt up, max down); they must be ordered.
    """
    req = size_req
    lo = max(req.minimum, req.multiple_of, 1)
    want = tuple(sides) if sides else (lo, OPT_SIDE, MAX_SIDE)
    if len(want) != 3 or len(batch) != 3:
        raise ConfigError(f"TensorRT profile needs three sides and three batch sizes (min, opt, max), got {want}, {tuple(batch)}")
    s_min, s_opt, s_max = _fit(want[0], req), _fit(want[1], req), _fit(want[2], req, down=True)
    if not (s_min <= s_opt <= s_max) or not (1 <= batch[0] <= batch[1] <= batch[2]):
        raise ConfigError(f"TensorRT profile must satisfy min <= opt <= max: sides {s_min}/{s_opt}/{s_max} "
                          f"(after rounding to the size requirement), batch {'/'.join(map(str, batch))}")
    shape = lambda b, s: (int(b), channels, s, s)  # noqa: E731
    return TrtProfile(min=shape(batch[0], s_min), opt=shape(batch[1], s_opt), max=shape(batch[2], s_max))


def check_profile_admits(profile: TrtProfile, *, size_req: SizeReq, lr_shapes: Iterable[tuple[int, int]],
                         sizes: Iterable[int]) -> None:
    """ConfigError (one line) when an export would feed its engines inputs the profile refuses: the
    parity images (LR ``lr_shapes``) and the timed ``sizes`` (rounded to ``size_req`` as the timing
    does), all single images. Called before any work, so a bad flag does not abort a finished build."""
    (b_lo, _, lo, _), (b_opt, b_hi) = profile.min, (profile.opt[0], profile.max[0])
    hi = profile.max[2]
    problems = []
    if b_lo > 1:
        problems.append(f"its minimum batch must be 1, since parity and timing run single images "
                        f"(e.g. --trt-batch 1:{b_opt}:{b_hi})")
    outside = sorted({f"{h}x{w}" for h, w in lr_shapes if min(h, w) < lo or max(h, w) > hi})
    if outside:
        problems.append(f"the parity images (LR {', '.join(outside)} px) fall outside it (change --crop or --trt-profile)")
    timed = sorted({_fit(int(s), size_req) for s in sizes})
    bad = [s for s in timed if not lo <= s <= hi]
    if bad:
        problems.append(f"--sizes {','.join(map(str, bad))} fall outside it (drop them or widen --trt-profile)")
    if problems:
        raise ConfigError(f"TensorRT profile of LR sides {lo}..{hi} px, batch {b_lo}..{b_hi}: " + "; ".join(problems))


def short_version(version: str) -> str:
    """``10.8.0.43`` -> ``10.8.0`` (engines are tied to major.minor.patch)."""
    return ".".join(version.split(".")[:3])


def sm_tag(capability: Sequence[int]) -> str:
    """(8, 9) -> ``sm89``."""
    return f"sm{int(capability[0])}{int(capability[1])}"


def engine_name(precision: str, *, capability: Sequence[int], trt_version: str) -> str:
    """``model.<prec>.<sm>-trt<ver>.engine``, e.g. ``model.fp16.sm89-trt10.8.0.engine``."""
    return f"model.{precision}.{sm_tag(capability)}-trt{short_version(trt_version)}.engine"


def check_engine_compat(*, file: str, toolchain: Mapping[str, Any], trt_version: str, capability: Sequence[int],
                        rebuild: str) -> None:
    """Raise EngineMismatchError when the engine ``file``, built with ``toolchain`` (its manifest entry's:
    ``tensorrt`` version, ``compute_capability``), was built for another GPU architecture or TensorRT
    version than this machine's; the message ends with ``rebuild``."""
    built_ver, built_cc = toolchain.get("tensorrt"), toolchain.get("compute_capability")
    problems = []
    if built_ver is None or short_version(str(built_ver)) != short_version(trt_version):
        problems.append(f"TensorRT {built_ver} (this machine: {trt_version})")
    if built_cc is None or sm_tag(built_cc) != sm_tag(capability):
        here = sm_tag(capability)
        problems.append(f"GPU {sm_tag(built_cc) if built_cc else 'unknown'} (this machine: {here})")
    if problems:
        raise EngineMismatchError(f"{file}: built for {' and '.join(problems)}; an engine runs only where "
                                  f"it was built. Rebuild it here: {rebuild}")


# ----- engine inspector -------------------------------------------------------------------------

_COMPUTE = re.compile(r"conv|deconv|gemm|matrix|matmul|fullyconnected", re.I)
_DTYPES = (("int8", ("int8",)), ("fp16", ("fp16", "half")), ("bf16", ("bf16",)), ("fp8", ("fp8",)),
           ("fp32", ("fp32", "float")))


def _dtype_of(tensor: dict[str, Any]) -> str:
    """The precision of one inspector tensor entry (TensorRT 10 ``Format/Datatype``; 11 ``DataType``)."""
    text = " ".join(str(tensor.get(k, "")) for k in ("DataType", "Datatype", "Format/Datatype", "Format"))
    low = text.lower()
    for name, needles in _DTYPES:
        if any(re.search(rf"\b{n}\b", low) for n in needles):
            return name
    return "unknown"


@dataclasses.dataclass(kw_only=True)
class LayerPrecisionReport:
    """Compute layers (convolutions, matmuls) with the precision their input runs in."""

    asked: str
    layers: list[tuple[str, str]]  # (layer name, precision)
    offending: list[tuple[str, str]]

    @property
    def passed(self) -> bool:
        return bool(self.layers) and not self.offending

    def to_dict(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for _, prec in self.layers:
            counts[prec] = counts.get(prec, 0) + 1
        return {"asked": self.asked, "compute_layers": len(self.layers), "by_precision": counts,
                "offending": [name for name, _ in self.offending], "passed": self.passed}


def check_layer_precisions(info: str | dict[str, Any], *, precision: str, allow_fp32: Sequence[str] = ()) -> LayerPrecisionReport:
    """Compare each compute layer's input precision in inspector JSON ``info`` with ``precision``.

    ``allow_fp32``: ONNX node names that were kept in fp32 on purpose (int8 remedies); a layer whose
    name mentions one may run in fp32 (or fp16). Needs ``ProfilingVerbosity.DETAILED`` output.
    """
    data = json.loads(info) if isinstance(info, str) else info
    layers_raw = data.get("Layers", [])
    if layers_raw and not isinstance(layers_raw[0], dict):
        raise ConfigError("engine inspector output has layer names only; build with ProfilingVerbosity.DETAILED")
    layers, offending = [], []
    for layer in layers_raw:
        kind = f"{layer.get('LayerType', '')} {layer.get('ParameterType', '')}"
        if not _COMPUTE.search(kind) or "reformat" in kind.lower():
            continue
        inputs = [t for t in layer.get("Inputs", []) if isinstance(t, dict)]
        prec = _dtype_of(inputs[0]) if inputs else "unknown"
        name = str(layer.get("Name", "?"))
        layers.append((name, prec))
        allowed = {precision}
        if any(node and node in name for node in allow_fp32):
            allowed |= {"fp32", "fp16"}
        if prec not in allowed:
            offending.append((name, prec))
    return LayerPrecisionReport(asked=precision, layers=layers, offending=offending)


def require_layer_precisions(report: LayerPrecisionReport, *, label: str) -> LayerPrecisionReport:
    """Return ``report`` when it passed, else ParityError naming the layers that run in another precision."""
    if not report.layers:
        raise ParityError(f"{label}: the engine inspector lists no convolution layers; cannot verify precision {report.asked}")
    if report.offending:
        shown = ", ".join(f"{n} ({p})" for n, p in report.offending[:5])
        more = f" and {len(report.offending) - 5} more" if len(report.offending) > 5 else ""
        raise ParityError(f"{label}: {len(report.offending)} of {len(report.layers)} compute layers do not run in "
                          f"{report.asked}: {shown}{more}")
    return report
