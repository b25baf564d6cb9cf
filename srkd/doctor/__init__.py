"""``srkd doctor``: what will run on this machine, and why not.

``machine_report()`` gathers torch/CUDA and every GPU, the CPU, and what each registered backend's
``doctor`` hook reports about its runtime (ONNX Runtime: providers, and whether a CUDA or TensorRT
session really starts on them; TensorRT: a one-layer engine build; OpenVINO: devices), under the
backend's name. ``missing(report, require)`` says which of ``cuda`` and the requirable backends is not
usable and why. ``bundle_report(path)`` tries every artifact of a bundle here. Probes never raise;
what failed is in the report.
"""
from __future__ import annotations

import logging
import os
import platform
import sys
from typing import Any, Sequence

log = logging.getLogger(__name__)


def requirements() -> list[str]:
    """What ``srkd doctor --require`` accepts: ``cuda`` and every backend whose doctor says when it is missing,
    in the order ``--backend auto`` prefers them."""
    from srkd.backends import BACKENDS

    able = [b for _, b in BACKENDS.items() if b.doctor is not None and b.doctor.missing is not None]
    return ["cuda", *(b.name for b in sorted(able, key=lambda b: b.auto_rank))]


def machine_report(*, probe: bool = True) -> dict[str, Any]:
    """Everything ``srkd doctor`` prints, as JSON-ready data. ``probe=False`` skips the test sessions/engines."""
    from srkd import __version__
    from srkd.backends import BACKENDS
    from srkd.doctor.machine import cpu_info, torch_info

    torch_part = torch_info()
    report = {"srkd": __version__, "python": platform.python_version(), "platform": f"{platform.system()} {platform.machine()}",
              "torch": torch_part, "cpu": cpu_info()}
    warnings = []
    for name, backend in BACKENDS.items():
        if backend.doctor is not None:
            report[name] = backend.doctor.report(probe)
            warnings += report[name].get("warnings", [])
    warnings += [f"GPU {g['index']} ({g['name']}, sm_{g['compute_capability'][0]}{g['compute_capability'][1]}) has no "
                 f"kernels in this torch build; install one built for it" for g in torch_part["gpus"] if not g["torch_kernels"]]
    if os.environ.get("CUDA_VISIBLE_DEVICES") == "":
        warnings.append("CUDA_VISIBLE_DEVICES is set and empty: every GPU is hidden")
    report["warnings"] = warnings
    report["python_executable"] = sys.executable
    return report


def missing(report: dict[str, Any], require: Sequence[str]) -> list[str]:
    """``name: why`` for each of ``require`` (see ``requirements()``) that is not usable here."""
    from srkd.backends import BACKENDS

    out = []
    for name in require:
        if name == "cuda":
            if not report["torch"]["cuda_available"]:
                out.append(f"cuda: torch {report['torch']['version']}: {report['torch']['why']}")
            continue
        doctor = BACKENDS.get(name).doctor
        why = doctor.missing(report[name]) if doctor is not None and doctor.missing is not None else None
        if why:
            out.append(why)
    return out


def bundle_report(path: str | os.PathLike, *, device: str = "auto") -> dict[str, Any]:
    """For each artifact of the bundle at ``path``: does it start here on ``device``, and if not, why;
    plus the artifact ``--backend auto`` would take. Raises what load_bundle raises (a damaged bundle)."""
    from srkd.backends import unrunnable_backends
    from srkd.bundle.choose import choose_artifact
    from srkd.bundle.reader import load_bundle
    from srkd.device import pick_device
    from srkd.errors import SrkdError

    bundle, dev = load_bundle(path), pick_device(device)
    cannot = unrunnable_backends()
    rows = []
    for entry in bundle.artifacts:
        row = {"file": entry.file, "backend": entry.backend, "precision": entry.precision,
               "parity_passed": entry.parity.passed, "runs": False, "on": None, "why": None}
        if entry.backend in cannot:
            row["why"] = cannot[entry.backend]
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
    auto = {"file": pick.file, "backend": pick.backend, "precision": pick.precision} if pick else None
    return {"bundle": str(path), "device": str(dev), "artifacts": rows, "auto": auto}
