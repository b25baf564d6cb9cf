"""What ``srkd doctor`` says about ONNX Runtime: its version and wheels, its providers, and (when probing)
whether a CUDA or TensorRT session really comes up on its provider. Probes never raise: a doctor that
crashes on the problem it should report is no help, so the broad ``except Exception`` are on purpose."""
from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any

from srkd.backends.probe import first_line

CUDA_EP, TRT_EP, CPU_EP = "CUDAExecutionProvider", "TensorrtExecutionProvider", "CPUExecutionProvider"
# Providers that run on a GPU or another accelerator (ONNX Runtime's names).
ACCELERATOR_EPS = (CUDA_EP, TRT_EP, "NvTensorRTRTXExecutionProvider", "ROCMExecutionProvider",
                   "MIGraphXExecutionProvider", "DmlExecutionProvider", "WebGpuExecutionProvider",
                   "CoreMLExecutionProvider", "OpenVINOExecutionProvider", "QNNExecutionProvider",
                   "VitisAIExecutionProvider", "CANNExecutionProvider")


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
        return {"ok": False, "detail": first_line(exc)}


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
    from srkd.backends.onnxruntime import runner as ort_runtime

    try:
        import onnxruntime as ort
    except ImportError:
        return {"installed": False, "why": "not installed (CPU: pip install 'srkd[cpu]'; GPU: README, 'On a GPU')"}
    providers = list(ort.get_available_providers())
    info: dict[str, Any] = {"installed": True, "version": ort.__version__, "distributions": ort_runtime.installed_distributions(),
                            "providers": providers, "accelerators": [p for p in providers if p in ACCELERATOR_EPS],
                            "warnings": [w for w in (ort_runtime.mixed_install(),) if w]}
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
        have = ort_runtime.installed_trt_version()
        if have and int(have.split(".")[0]) != major:
            info["warnings"].append(f"ONNX Runtime's TensorRT provider needs TensorRT {major}.x (libnvinfer.so.{major}) "
                                    f"but TensorRT {have} is installed; pin tensorrt-cu13 {major}.x (README, 'On a GPU')")
    return info


def onnxruntime_lines(o: dict[str, Any]) -> list[str]:
    """The text report of ``onnxruntime_info()``."""
    if not o["installed"]:
        return [f"ONNX Runtime: {o['why']}"]
    lines = [f"ONNX Runtime {o['version']} ({', '.join(o['distributions']) or 'wheel unknown'}): providers "
             f"{', '.join(o['providers'])}"]
    if o["accelerators"]:
        lines.append(f"  accelerator providers: {', '.join(o['accelerators'])}")
    for key, label in (("cuda", "CUDA"), ("tensorrt", "TensorRT")):
        state = {True: "yes", False: "no", None: "listed"}[o[key]["ok"]]
        lines.append(f"  {label} provider: {state}: {o[key]['detail']}")
    if o.get("tensorrt_library"):
        lines.append(f"  its TensorRT provider links {o['tensorrt_library']}")
    return lines
