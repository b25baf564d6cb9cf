"""Reading a ``srkd gate`` baseline: every part the comparison uses checked, before anything is measured.

A baseline is the JSON ``srkd gate --update`` writes (format ``srkd-gate-baseline/1``): ``artifacts``
(``backend:precision:file`` -> ``passed``, ``psnr_vs_hr``, ``sizes`` -> ``ratio`` ...) and the
``settings`` the comparison reuses. A file that is not one (``{}``, a list, another tool's JSON) is
refused with a line naming the file and the part that is wrong, so a gate can never pass by
comparing against nothing.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from srkd.errors import SrkdError

FORMAT = "srkd-gate-baseline/1"


class GateError(SrkdError):
    """The bundle regressed against the baseline, or the baseline is not one."""


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _number(value: Any, *, positive: bool = False) -> bool:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return ok and (value > 0 if positive else True)


def _count(value: Any, lo: int = 1) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and lo <= value <= 1_000_000


SETTINGS = {  # setting -> (check, what it expects); None is always allowed (the default applies)
    "data": (lambda v: isinstance(v, str), "a folder name"),
    "images": (_count, "an integer >= 1"),
    "crop": (lambda v: _count(v, 0), "an integer >= 0"),
    "sizes": (lambda v: isinstance(v, list) and 0 < len(v) <= 64 and all(_count(s) and s <= 8192 for s in v),
              "a list of sizes in pixels (1..8192)"),
    "runs": (_count, "an integer >= 1"),
    "threads": (lambda v: _count(v) and v <= 1024, "an integer 1..1024"),
}


def check_baseline(base: Any, *, source: str) -> dict[str, Any]:
    """``base`` when it is a gate baseline srkd can compare against; GateError naming the wrong part."""
    def bad(where: str, expected: str, got: Any) -> GateError:
        return GateError(f"{source}: {where} must be {expected}, got {_show(got)}; "
                         "make a baseline with `srkd gate BUNDLE --baseline FILE --update`")

    if not isinstance(base, dict) or base.get("format") != FORMAT:
        got = base.get("format") if isinstance(base, dict) else type(base).__name__
        raise GateError(f"{source}: not an srkd gate baseline (expected an object with format {FORMAT!r}, got "
                        f"{_show(got)}); make one with `srkd gate BUNDLE --baseline FILE --update`")
    arts = base.get("artifacts")
    if not isinstance(arts, dict) or not arts:
        raise bad("artifacts", "a non-empty object (backend:precision:file -> figures)", arts)
    for key, art in arts.items():
        if not isinstance(art, dict):
            raise bad(f"artifact {key!r}", "an object (passed, psnr_vs_hr, sizes)", art)
        if not isinstance(art.get("passed"), bool):
            raise bad(f"artifact {key!r} passed", "true or false", art.get("passed"))
        if art.get("psnr_vs_hr") is not None and not _number(art["psnr_vs_hr"]):
            raise bad(f"artifact {key!r} psnr_vs_hr", "a number (dB) or null", art["psnr_vs_hr"])
        sizes = art.get("sizes", {})
        if not isinstance(sizes, dict):
            raise bad(f"artifact {key!r} sizes", "an object (size -> figures)", sizes)
        for size, fig in sizes.items():
            if not isinstance(fig, dict) or not _number(fig.get("ratio"), positive=True):
                raise bad(f"artifact {key!r} sizes[{size!r}].ratio", "a positive number", fig.get("ratio")
                          if isinstance(fig, dict) else fig)
    settings = base.get("settings", {})
    if not isinstance(settings, dict):
        raise bad("settings", "an object", settings)
    for name, (check, expected) in SETTINGS.items():
        if settings.get(name) is not None and not check(settings[name]):
            raise bad(f"settings.{name}", expected, settings[name])
    return base


def read_baseline(path: str | os.PathLike) -> dict[str, Any]:
    """The baseline at ``path``, checked; GateError when absent (with the command that makes one) or not one."""
    path = Path(path)
    if not path.is_file():
        raise GateError(f"{path}: no baseline yet; make one with `srkd gate BUNDLE --baseline {path} --update`")
    try:
        base = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise GateError(f"{path}: not a readable JSON baseline ({type(exc).__name__}: {exc}); make one with "
                        f"`srkd gate BUNDLE --baseline {path} --update`") from None
    return check_baseline(base, source=str(path))
