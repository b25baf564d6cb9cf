"""``srkd doctor``: what will run on this machine, and why not.

``machine_report()`` gathers torch/CUDA and every GPU, the CPU, ONNX Runtime (providers, and
whether a CUDA or TensorRT session really starts on its provider), TensorRT (a one-layer engine
build) and OpenVINO. ``missing(report, require)`` says which of ``cuda``/``tensorrt``/``openvino``
is not usable and why. ``bundle_report(path)`` tries every artifact of a bundle here. Probes never
raise; what failed is in the report.
"""
from __future__ import annotations

import logging
import os
import platform
import sys
from typing import Any, Sequence

log = logging.getLogger(__name__)

REQUIREMENTS = ("cuda", "tensorrt", "openvino")


def machine_report(*, probe: bool = True) -> dict[str, Any]:
    """Everything ``srkd doctor`` prints, as JSON-ready data. ``probe=False`` skips the test sessions/engines."""
    from srkd import __version__
    from srkd.doctor.machine import cpu_info, torch_info
    from srkd.doctor.runtimes import onnxruntime_info, openvino_info, tensorrt_info

    torch_part = torch_info()
    report = {"srkd": __version__, "python": platform.python_version(), "platform": f"{platform.system()} {platform.machine()}",
              "torch": torch_part, "cpu": cpu_info(), "onnxruntime": onnxruntime_info(probe=probe),
              "tensorrt": tensorrt_info(cuda=torch_part["cuda_available"], probe=probe), "openvino": openvino_info()}
    warnings = list(report["onnxruntime"].get("warnings", []))
    warnings += [f"GPU {g['index']} ({g['name']}, sm_{g['compute_capability'][0]}{g['compute_capability'][1]}) has no "
                 f"kernels in this torch build; install one built for it" for g in torch_part["gpus"] if not g["torch_kernels"]]
    if os.environ.get("CUDA_VISIBLE_DEVICES") == "":
        warnings.append("CUDA_VISIBLE_DEVICES is set and empty: every GPU is hidden")
    report["warnings"] = warnings
    report["python_executable"] = sys.executable
    return report


def missing(report: dict[str, Any], require: Sequence[str]) -> list[str]:
    """``name: why`` for each of ``require`` (cuda | tensorrt | openvino) that is not usable here."""
    out = []
    for name in require:
        if name == "cuda" and not report["torch"]["cuda_available"]:
            out.append(f"cuda: torch {report['torch']['version']}: {report['torch']['why']}")
        elif name == "tensorrt":
            trt = report["tensorrt"]
            if not trt["installed"]:
                out.append(f"tensorrt: {trt['why']}")
            elif not (trt.get("engine") or {}).get("ok"):
                out.append(f"tensorrt {trt['version']}: cannot build an engine here ({trt['engine']['detail']})")
        elif name == "openvino":
            ov = report["openvino"]
            if not ov["installed"] or "CPU" not in ov.get("devices", []):
                out.append(f"openvino: {ov.get('why') or 'no CPU device'}")
    return out


def bundle_report(path: str | os.PathLike, *, device: str = "auto") -> dict[str, Any]:
    """For each artifact of the bundle at ``path``: does it start here on ``device``, and if not, why;
    plus the artifact ``--backend auto`` would take. Raises what load_bundle raises (a damaged bundle)."""
    from srkd.device import pick_device
    from srkd.errors import SrkdError
    from srkd.export.bundle import choose_artifact, load_bundle, unrunnable_backends

    bundle, dev = load_bundle(path), pick_device(device)
    cannot = unrunnable_backends()
    rows = []
    for entry in bundle.artifacts:
        row = {"file": entry["file"], "backend": entry["backend"], "precision": entry["precision"],
               "parity_passed": (entry.get("parity") or {}).get("passed"), "runs": False, "on": None, "why": None}
        if entry["backend"] in cannot:
            row["why"] = cannot[entry["backend"]]
        else:
            try:
                runner = bundle.runner(entry, device=dev).activate()
            except SrkdError as exc:
                row["why"] = str(exc)
            else:
                row["runs"], row["on"] = True, str(runner.device)
                runner.deactivate()
        rows.append(row)
    pick = choose_artifact(bundle.artifacts, precision="auto", device=dev)
    auto = {k: pick[k] for k in ("file", "backend", "precision")} if pick else None
    return {"bundle": str(path), "device": str(dev), "artifacts": rows, "auto": auto}
