"""TensorRT engines from the bundle's ONNX files, with the TensorRT Python API (10.x and 11.x).

Networks are built strongly typed: the precision comes from the ONNX file, not from builder flags
(TensorRT 11 removed ``BuilderFlag.FP16/INT8``): fp32 from ``model.onnx``, fp16 from
``model.fp16.onnx``, int8 from the symmetric QDQ ``model.int8.onnx``. After the build the engine
inspector's per-layer precisions are checked against what was asked.

EXPERIMENTAL: written against the documented API and not yet run on a GPU (see docs/deploy.md).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from srkd.backends.tensorrt.info import TrtProfile, check_layer_precisions, require_layer_precisions
from srkd.errors import BackendUnavailableError, SrkdError
from srkd.fsutil import atomic_write_bytes

if TYPE_CHECKING:
    from srkd.export.context import BuildContext, Made, Preflight

log = logging.getLogger(__name__)

INSTALL_HINT = ("install it on a machine with an NVIDIA GPU and a CUDA build of torch: pip install 'srkd[gpu]' "
                "(the tensorrt wheels download their libraries from https://pypi.nvidia.com during install)")


def require_tensorrt(*, what: str = "--trt") -> tuple[Any, tuple[int, int]]:
    """The imported ``tensorrt`` module and the current GPU's compute capability; BackendUnavailableError
    saying what is missing (the package, or a CUDA GPU) otherwise. ``what`` starts the message."""
    try:
        import tensorrt as trt
    except ImportError:
        raise BackendUnavailableError(f"{what} needs the TensorRT Python package, which is not installed; {INSTALL_HINT}") from None
    import torch

    if not torch.cuda.is_available():
        raise BackendUnavailableError(f"{what} needs an NVIDIA GPU visible to torch (torch.cuda.is_available() is False; "
                                      f"torch {torch.__version__})")
    return trt, tuple(torch.cuda.get_device_capability())


def _major(trt: Any) -> int:
    return int(str(trt.__version__).split(".")[0])


def create_network(trt: Any, builder: Any) -> Any:
    """A strongly typed network definition, the same way on TensorRT 10 and 11."""
    if _major(trt) >= 11:  # strongly typed is the only mode
        return builder.create_network(0)
    return builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))


def build_engine(
    onnx_path: str | os.PathLike, engine_path: str | os.PathLike, *, precision: str, profile: TrtProfile,
    input_name: str, opt_level: int = 3, timing_cache: str | os.PathLike | None = None,
    workspace_gib: float = 4.0, allow_fp32: Sequence[str] = (),
) -> dict[str, Any]:
    """Build and write the engine; returns what the manifest records (versions, profile, layer check).

    ``timing_cache``: a file read when present and written back after the build (speeds up rebuilds).
    Raises SrkdError when parsing or building fails and ParityError when layer precisions differ.
    """
    trt, capability = require_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = create_network(trt, builder)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise SrkdError(f"{onnx_path}: TensorRT cannot parse it: {errors[:400]}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gib * (1 << 30)))
    config.builder_optimization_level = int(opt_level)
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
    if precision == "fp32" and hasattr(trt.BuilderFlag, "TF32"):  # fp32 parity is held to 60 dB: no TF32 tactics
        config.clear_flag(trt.BuilderFlag.TF32)
    opt_profile = builder.create_optimization_profile()
    opt_profile.set_shape(input_name, profile.min, profile.opt, profile.max)
    config.add_optimization_profile(opt_profile)
    cache_path = Path(timing_cache) if timing_cache else None
    cache = config.create_timing_cache(cache_path.read_bytes() if cache_path and cache_path.is_file() else b"")
    config.set_timing_cache(cache, ignore_mismatch=False)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise SrkdError(f"{engine_path}: TensorRT build failed ({precision}, profile {profile.to_dict()})")
    atomic_write_bytes(engine_path, bytes(serialized))
    if cache_path:
        atomic_write_bytes(cache_path, bytes(config.get_timing_cache().serialize()))
    runtime = trt.Runtime(logger)
    engine = runtime.deserialize_cuda_engine(bytes(serialized))
    inspector = engine.create_engine_inspector()
    layers = inspector.get_engine_information(trt.LayerInformationFormat.JSON)
    report = require_layer_precisions(check_layer_precisions(layers, precision=precision, allow_fp32=allow_fp32),
                                      label=str(engine_path))
    log.info("%s: TensorRT %s engine, %d compute layers in %s", engine_path, trt.__version__, len(report.layers), precision)
    return {"tensorrt": str(trt.__version__), "compute_capability": list(capability), "opt_level": int(opt_level),
            "profile": profile.to_dict(), "timing_cache": str(cache_path) if cache_path else None,
            "strongly_typed": True, "layer_check": report.to_dict()}


def check_request(request: Preflight) -> None:
    """Refuse, in one line and before any work, a profile (``--trt-profile`` sides, ``--trt-batch``) that
    the export's parity images or timed sizes fall outside; then say what is missing (TensorRT, a GPU)."""
    from srkd.backends.tensorrt.info import check_profile_admits, profile_shapes

    opts, spec = request.opts, request.spec
    req, step = spec.size_req, spec.scale * spec.size_req.multiple_of
    lr = [((h - h % step) // spec.scale, (w - w % step) // spec.scale) for h, w in (img.shape[:2] for img in request.hr_images)]
    profile = profile_shapes(req, channels=spec.in_channels, sides=opts.trt_sides, batch=opts.trt_batch)
    check_profile_admits(profile, size_req=req, lr_shapes=lr, sizes=opts.latency_sizes)
    require_tensorrt()


def make_engine(ctx: BuildContext, *, source: str, precision: str) -> Made:
    """The engine of ``precision`` built from the bundle's ``source`` ONNX for this GPU (int8 keeps the
    nodes the int8 ONNX left in fp32)."""
    from srkd.backends.onnxruntime import INT8_FILE
    from srkd.backends.tensorrt.info import engine_name, profile_shapes
    from srkd.backends.tensorrt.runner import TrtRunner
    from srkd.bundle.records import Engine
    from srkd.export.context import Made
    from srkd.export.onnx import INPUT_NAME

    trt, capability = require_tensorrt()
    opts, spec = ctx.opts, ctx.spec
    profile = profile_shapes(spec.size_req, channels=spec.in_channels, sides=opts.trt_sides, batch=opts.trt_batch)
    name = engine_name(precision, capability=capability, trt_version=str(trt.__version__))
    int8 = ctx.made.get(INT8_FILE)
    keep = list(int8.quantization.fp32_nodes) if precision == "int8" and int8 and int8.quantization else []
    info = build_engine(ctx.path(source), ctx.path(name), precision=precision, profile=profile, input_name=INPUT_NAME,
                        opt_level=opts.trt_opt_level, timing_cache=opts.trt_timing_cache, allow_fp32=keep)
    built_with = {k: info[k] for k in ("tensorrt", "compute_capability")}
    return Made(file=name, open=lambda: TrtRunner(ctx.path(name), spec=spec, precision=precision, built_with=built_with),
                toolchain=built_with, engine=Engine.from_dict({"source": source, **info}))
