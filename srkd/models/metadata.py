"""The ``srkd`` metadata of a file (safetensors, ONNX, a bundle's manifest), checked field by field.

Whatever a file declares is checked here before it is used: every field has its type and bounds, and
every hyperparameter the type of the constructor's default (an int stays an int, a list a list) and
a bound (``MAX_INT``), so a header cannot ask for an absurd network. The errors name the file, the
field, what was expected and what arrived. Building the declared network and comparing it with the
stored tensors, before anything is allocated, is ``srkd.models.safebuild``'s part.
"""
from __future__ import annotations

import inspect
import math
from typing import Any

from srkd.errors import CheckpointError, ConfigError, SrkdError
from srkd.models.spec import FORMAT_VERSION, ModelSpec, SizeReq

MAX_INT = 4096  # largest integer hyperparameter (widths, depths, sizes); real SR networks stay far below
MAX_LIST = 64  # longest list hyperparameter (SwinIR's depths / num_heads per stage)
MAX_FLOAT = 1e6
MAX_SIDE = 512  # largest size requirement (minimum side, multiple of); real networks ask for 1..64
SCALES = range(1, 17)
CHANNELS = range(1, 5)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _hparam_problem(value: Any, default: Any) -> str | None:
    """What is wrong with ``value`` for a hyperparameter whose default is ``default`` (None when fine)."""
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "true or false"
    if _is_int(default):
        return None if _is_int(value) and 1 <= value <= MAX_INT else f"an integer 1..{MAX_INT}"
    if isinstance(default, float):
        return None if _is_number(value) and 0 < value <= MAX_FLOAT else f"a number in (0, {MAX_FLOAT:g}]"
    if isinstance(default, str):
        return None if isinstance(value, str) and 0 < len(value) <= 64 else "a name (text)"
    if isinstance(default, (tuple, list)):
        fixed = isinstance(default[0], float)  # a per-channel constant (rgb_mean): its length is fixed
        size = f"{len(default)}" if fixed else f"1..{MAX_LIST}"
        elem = "numbers in [0, 1]" if fixed else f"integers 1..{MAX_INT}"
        ok = isinstance(value, (list, tuple)) and (len(value) == len(default) if fixed else 0 < len(value) <= MAX_LIST)
        if ok and fixed:
            ok = all(_is_number(v) and 0 <= v <= 1 for v in value)
        elif ok:
            ok = all(_is_int(v) and 1 <= v <= MAX_INT for v in value)
        return None if ok else f"a list of {size} {elem}"
    return None


def check_hparams(arch: str, hparams: Any, *, source: str, error: type[SrkdError] = CheckpointError) -> dict[str, Any]:
    """``hparams`` checked against ``arch``'s constructor: known names, types and bounds; returns a copy."""
    from srkd.models import ARCHS

    if not isinstance(hparams, dict):
        raise error(f"{source}: 'hparams' must be an object of hyperparameters, got {_show(hparams)}")
    try:
        cls = ARCHS.get(arch)
    except SrkdError as exc:
        raise error(f"{source}: 'arch': {exc}") from None
    params = {k: p for k, p in inspect.signature(cls.__init__).parameters.items() if k != "self"}
    for key, value in hparams.items():
        if key not in params:
            raise error(f"{source}: unknown {arch} hyperparameter {key!r}; accepted: {', '.join(params)}")
        problem = _hparam_problem(value, params[key].default)
        if problem:
            raise error(f"{source}: {arch} hyperparameter {key!r} must be {problem}, got {_show(value)}")
    return dict(hparams)


def _field(meta: dict, key: str, check, expected: str, source: str, default: Any = None) -> Any:
    if key not in meta:
        if default is not None:
            return default
        raise CheckpointError(f"{source}: srkd metadata lacks {key!r} (expected {expected})")
    value = meta[key]
    if not check(value):
        raise CheckpointError(f"{source}: srkd metadata {key!r} must be {expected}, got {_show(value)}")
    return value


def parse_spec(meta: Any, *, source: str, hparams: bool = True) -> ModelSpec:
    """A ModelSpec from the ``srkd`` metadata object ``meta`` (from ``source``, named in errors), every
    field checked; ``hparams`` also checks the hyperparameters against the architecture."""
    if not isinstance(meta, dict):
        raise CheckpointError(f"{source}: srkd metadata must be a JSON object (arch, hparams, scale, ...), "
                              f"got {_show(meta)}")
    version = meta.get("format_version", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{source}: srkd metadata format_version {_show(version)}, expected {FORMAT_VERSION}")
    arch = _field(meta, "arch", lambda v: isinstance(v, str) and 0 < len(v) <= 64, "an architecture name", source)
    hp = _field(meta, "hparams", lambda v: isinstance(v, dict), "an object of hyperparameters", source)
    if hparams:
        hp = check_hparams(arch, hp, source=f"{source}: srkd metadata")
    scale = _field(meta, "scale", lambda v: _is_int(v) and v in SCALES, f"an integer {SCALES[0]}..{SCALES[-1]}",
                   source)
    chans = [_field(meta, k, lambda v: _is_int(v) and v in CHANNELS, f"an integer {CHANNELS[0]}..{CHANNELS[-1]}",
                    source, default=3) for k in ("in_channels", "out_channels")]
    vr = _field(meta, "value_range", lambda v: isinstance(v, list) and len(v) == 2 and all(map(_is_number, v))
                and v[0] < v[1], "[low, high] with low < high, e.g. [0, 1] or [0, 255]", source, default=[0.0, 1.0])
    size = _field(meta, "size_req", lambda v: isinstance(v, dict) and set(v) <= {"minimum", "multiple_of"}
                  and all(_is_int(x) and 1 <= x <= MAX_SIDE for x in v.values()),
                  f"{{minimum, multiple_of}} with integers 1..{MAX_SIDE}", source, default={})
    return ModelSpec(arch=arch.lower(), hparams=dict(hp), scale=scale, in_channels=chans[0], out_channels=chans[1],
                     value_range=(float(vr[0]), float(vr[1])), size_req=SizeReq(**size))


def check_student(text_arch: str, hparams: dict[str, Any], *, flag: str = "--student") -> dict[str, Any]:
    """Hyperparameters typed on the command line or in a config (``--student edsr:n_feats=32``): the same
    checks as a file's, as a ConfigError naming the flag."""
    return check_hparams(text_arch, hparams, source=flag, error=ConfigError)
