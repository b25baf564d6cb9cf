"""What the inference runtimes can do here: ONNX Runtime (providers, and whether a CUDA or TensorRT
session really comes up on its provider), TensorRT (version, and a one-layer engine build), OpenVINO.

Every probe returns a dict and never raises: a doctor that crashes on the problem it should report
is no help. The broad ``except Exception`` below are that, on purpose.
"""
from __future__ import annotations

import contextlib
import io
import logging
import re
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CUDA_EP, TRT_EP, CPU_EP = "CUDAExecutionProvider", "TensorrtExecutionProvider", "CPUExecutionProvider"
# Providers that run on a GPU or another accelerator (ONNX Runtime's names).
ACCELERATOR_EPS = (CUDA_EP, TRT_EP, "NvTensorRTRTXExecutionProvider", "ROCMExecutionProvider",
                   "MIGraphXExecutionProvider", "DmlExecutionProvider", "WebGpuExecutionProvider",
                   "CoreMLExecutionProvider", "OpenVINOExecutionProvider", "QNNExecutionProvider",
                   "VitisAIExecutionProvider", "CANNExecutionProvider")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:240]


def _tiny_onnx() -> bytes:
    """A one-node model (Relu on 1x3x8x8), built in memory."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "srkd_doctor", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = min(model.ir_version, 8)
    return model.SerializeToString()


def session_probe(ort: Any, provider: str) -> dict[str, Any]:
    """Whether a session asked for ``provider`` comes up on it and runs (fallback off)."""
    import numpy as np

    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            session = ort.InferenceSession(_tiny_onnx(), providers=[provider, CPU_EP])
        session.disable_fallback()
        active = session.get_providers()
        if not active or active[0] != provider:
            said = next((ln.strip() for ln in printed.getvalue().splitlines() if "Error" in ln), "")
            return {"ok": False, "detail": f"the session came up on {', '.join(active) or 'nothing'}"
                                           + (f" ({said[:200]})" if said else "")}
        session.run(None, {"x": np.ones((1, 3, 8, 8), np.float32)})
        return {"ok": True, "detail": f"a session runs on {provider}"}
    except Exception as exc:  # noqa: BLE001 - reported, see the module docstring
        return {"ok": False, "detail": _first_line(exc)}


def ort_trt_library_major(ort: Any) -> int | None:
    """The libnvinfer major version ONNX Runtime's TensorRT provider library links against, if it has one."""
    lib = Path(ort.__file__).parent / "capi" / "libonnxruntime_providers_tensorrt.so"
    try:
        found = re.search(rb"libnvinfer\.so\.(\d+)", lib.read_bytes())
    except OSError:
        return None
    return int(found.group(1)) if found else None


def onnxruntime_info(*, probe: bool = True) -> dict[str, Any]:
    """Version, wheels, providers, and (``probe``) whether CUDA/TensorRT sessions really start."""
    from srkd.export.runners.ort import installed_distributions, installed_trt_version, mixed_install

    try:
        import onnxruntime as ort
    except ImportError:
        return {"installed": False, "why": "not installed (CPU: pip install 'srkd[cpu]'; GPU: README, 'On a GPU')"}
    providers = list(ort.get_available_providers())
    info: dict[str, Any] = {"installed": True, "version": ort.__version__, "distributions": installed_distributions(),
                            "providers": providers, "accelerators": [p for p in providers if p in ACCELERATOR_EPS],
                            "warnings": [w for w in (mixed_install(),) if w]}
    for key, name in (("cuda", CUDA_EP), ("tensorrt", TRT_EP)):
        if name not in providers:
            info[key] = {"ok": False, "detail": "not in this onnxruntime build (GPUs: onnxruntime-gpu, installed alone)"}
        elif probe:
            info[key] = session_probe(ort, name)
        else:
            info[key] = {"ok": None, "detail": "listed; not tried"}
    major = ort_trt_library_major(ort) if TRT_EP in providers else None
    if major is not None:
        info["tensorrt_library"] = f"libnvinfer.so.{major}"
        have = installed_trt_version()
        if have and int(have.split(".")[0]) != major:
            info["warnings"].append(f"ONNX Runtime's TensorRT provider needs TensorRT {major}.x (libnvinfer.so.{major}) "
                                    f"but TensorRT {have} is installed; pin tensorrt-cu13 {major}.x (README, 'On a GPU')")
    return info


def _one_layer_engine(trt: Any) -> dict[str, Any]:
    """Build and load a one-layer engine (Relu on 1x3x8x8): proves builder, GPU and runtime work together."""
    from srkd.export.tensorrt import create_network

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
        return {"ok": False, "detail": _first_line(exc)}


def tensorrt_info(*, cuda: bool, probe: bool = True) -> dict[str, Any]:
    """TensorRT's version and whether it builds an engine here (needs ``cuda``: torch sees a GPU)."""
    from srkd.export.runners.ort import installed_trt_version

    try:
        import tensorrt as trt
    except ImportError as exc:
        wheel = installed_trt_version()
        why = (f"the tensorrt {wheel} wheel is installed but does not import ({_first_line(exc)})" if wheel else
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


def openvino_info() -> dict[str, Any]:
    """OpenVINO's version, devices and CPU capabilities."""
    try:
        import openvino as ov
    except ImportError:
        return {"installed": False, "why": "not installed (pip install 'srkd[openvino]')"}
    try:
        core = ov.Core()
        devices = list(core.available_devices)
        caps = [str(c) for c in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")] if "CPU" in devices else []
    except Exception as exc:  # noqa: BLE001 - reported, see the module docstring
        return {"installed": True, "version": ov.__version__ if hasattr(ov, "__version__") else None, "devices": [],
                "why": _first_line(exc)}
    return {"installed": True, "version": str(ov.get_version()), "devices": devices, "cpu_capabilities": caps}
