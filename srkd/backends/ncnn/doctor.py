"""What ``srkd doctor`` says about ncnn: its version, pnnx (the converter) and the Vulkan devices ncnn sees.
Probes never raise (see srkd.backends.onnxruntime.doctor)."""
from __future__ import annotations

from typing import Any

from srkd.backends.probe import first_line


def ncnn_info(probe: bool = False) -> dict[str, Any]:
    """ncnn's version, whether pnnx is there, and the Vulkan devices (the probe's C-level lines are logged)."""
    from srkd.backends.ncnn.runner import INSTALL, VULKAN_ENV, vulkan_devices

    try:
        import ncnn
    except ImportError:
        return {"installed": False, "why": f"not installed ({INSTALL})"}
    info: dict[str, Any] = {"installed": True, "version": ncnn.__version__, "vulkan_env": VULKAN_ENV}
    try:
        info["vulkan_devices"] = vulkan_devices()
    except Exception as exc:  # noqa: BLE001 - reported, see the module docstring
        info["vulkan_devices"], info["vulkan_why"] = [], first_line(exc)
    try:
        from srkd.backends.ncnn.convert import pnnx_version

        info["pnnx"] = pnnx_version()
    except Exception:  # noqa: BLE001 - reported as missing
        info["pnnx"] = None
    return info


def ncnn_lines(info: dict[str, Any]) -> list[str]:
    """The text report of ``ncnn_info()``."""
    if not info["installed"]:
        return [f"ncnn: {info['why']}"]
    devices = info["vulkan_devices"]
    vulkan = (f"Vulkan devices {', '.join(f'{i}: {d}' for i, d in enumerate(devices))} (use one with "
              f"{info['vulkan_env']}=INDEX)" if devices else f"no Vulkan device ({info.get('vulkan_why') or 'CPU only'})")
    pnnx = f"pnnx {info['pnnx']}" if info["pnnx"] else "no pnnx (srkd export --ncnn cannot convert)"
    return [f"ncnn {info['version']}: {vulkan}; {pnnx}"]


def ncnn_missing(info: dict[str, Any]) -> str | None:
    """Why ``srkd doctor --require ncnn`` fails, or None."""
    return None if info["installed"] else f"ncnn: {info['why']}"
