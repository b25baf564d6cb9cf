"""What ``srkd doctor`` says about LiteRT: the interpreter's version and whether the converter is installed."""
from __future__ import annotations

import importlib.util
from typing import Any


def litert_info(probe: bool = False) -> dict[str, Any]:
    """The interpreter's version and litert-torch's (None when it is not installed)."""
    from srkd.backends.litert.runner import litert_version, require_litert
    from srkd.errors import BackendUnavailableError

    try:
        require_litert()
    except BackendUnavailableError as exc:
        return {"installed": False, "why": str(exc)}
    converter = None
    if importlib.util.find_spec("litert_torch") is not None:
        from importlib.metadata import version

        converter = version("litert-torch")
    return {"installed": True, "version": litert_version(), "converter": converter}


def litert_lines(info: dict[str, Any]) -> list[str]:
    """The text report of ``litert_info()``."""
    if not info["installed"]:
        return [f"LiteRT: {info['why']}"]
    convert = (f"litert-torch {info['converter']}" if info["converter"]
               else "no litert-torch (srkd export --litert needs srkd[litert-convert])")
    return [f"LiteRT {info['version']}: CPU (XNNPACK); {convert}"]


def litert_missing(info: dict[str, Any]) -> str | None:
    """Why ``srkd doctor --require litert`` fails, or None."""
    return None if info["installed"] else f"litert: {info['why']}"
