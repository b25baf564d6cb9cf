"""What ``srkd doctor`` says about TensorRT: its version and (when probing) whether it builds and loads a
one-layer engine here. Probes never raise (see srkd.backends.onnxruntime.doctor)."""
from __future__ import annotations

from typing import Any

from srkd.backends.probe import first_line


def _one_layer_engine(trt: Any) -> dict[str, Any]:
    """Build and load a one-layer engine (Relu on 1x3x8x8): proves builder, GPU and runtime work together."""
    from srkd.backends.tensorrt.build import create_network

    try:
        logger = trt.Logger(trt.Logger.ERROR)
        builder = trt.Builder(logger)
        network = create_network(trt, builder)
        layer = network.add_activation(network.add_input("x", trt.float32, (1, 3, 8, 8)), trt.ActivationType.RELU)
        network.mark_output(layer.get_output(0))
        serialized = builder.build_serialized_network(network, builder.create_builder_config())
        if serialized is None:
            return {"ok": False, "detail": "build_serialized_network returned None"}
        if trt.Runtime(logger).deserialize_cuda_engine(bytes(serialized)) is None:
            return {"ok": False, "detail": "the engine it built does not load"}
        return {"ok": True, "detail": "built and loaded a one-layer engine"}
    except Exception as exc:  # noqa: BLE001 - reported, see the module docstring
        return {"ok": False, "detail": first_line(exc)}


def tensorrt_info(*, cuda: bool, probe: bool = True) -> dict[str, Any]:
    """TensorRT's version and whether it builds an engine here (needs ``cuda``: torch sees a GPU)."""
    from srkd.backends.onnxruntime.runner import installed_trt_version

    try:
        import tensorrt as trt
    except ImportError as exc:
        wheel = installed_trt_version()
        why = (f"the tensorrt {wheel} wheel is installed but does not import ({first_line(exc)})" if wheel else
               "not installed (README, 'On a GPU': pip install 'srkd[test,gpu]')")
        return {"installed": False, "version": wheel, "why": why}
    info: dict[str, Any] = {"installed": True, "version": str(trt.__version__)}
    if not cuda:
        info["engine"] = {"ok": False, "detail": "no CUDA GPU visible to torch"}
    elif probe:
        info["engine"] = _one_layer_engine(trt)
    else:
        info["engine"] = {"ok": None, "detail": "not tried"}
    return info


def tensorrt_lines(trt: dict[str, Any]) -> list[str]:
    """The text report of ``tensorrt_info()``."""
    if not trt["installed"]:
        return [f"TensorRT: {trt['why']}"]
    return [f"TensorRT {trt['version']}: engine build {'yes' if trt['engine']['ok'] else 'no'} ({trt['engine']['detail']})"]


def tensorrt_missing(trt: dict[str, Any]) -> str | None:
    """Why ``srkd doctor --require tensorrt`` fails, or None."""
    if not trt["installed"]:
        return f"tensorrt: {trt['why']}"
    if not (trt.get("engine") or {}).get("ok"):
        return f"tensorrt {trt['version']}: cannot build an engine here ({trt['engine']['detail']})"
    return None
