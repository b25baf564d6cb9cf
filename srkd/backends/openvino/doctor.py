"""What ``srkd doctor`` says about OpenVINO: its version, devices and CPU capabilities. Probes never raise
(see srkd.backends.onnxruntime.doctor)."""
from __future__ import annotations

from typing import Any

from srkd.backends.probe import first_line


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
                "why": first_line(exc)}
    return {"installed": True, "version": str(ov.get_version()), "devices": devices, "cpu_capabilities": caps}


def openvino_lines(ov: dict[str, Any]) -> list[str]:
    """The text report of ``openvino_info()``."""
    if ov["installed"] and not ov.get("why"):
        return [f"OpenVINO {ov['version'].split('-')[0]}: devices {', '.join(ov['devices'])}; CPU capabilities "
                f"{', '.join(ov['cpu_capabilities'])}"]
    return [f"OpenVINO: {ov['why']}"]


def openvino_missing(ov: dict[str, Any]) -> str | None:
    """Why ``srkd doctor --require openvino`` fails, or None."""
    if not ov["installed"] or "CPU" not in ov.get("devices", []):
        return f"openvino: {ov.get('why') or 'no CPU device'}"
    return None
