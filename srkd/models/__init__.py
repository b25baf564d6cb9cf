"""Architectures, their registry, descriptors and checkpoint I/O."""
from __future__ import annotations

import inspect
from typing import Any

from torch import nn

from srkd.errors import ConfigError
from srkd.models.bicubic import Bicubic
from srkd.models.compact import Compact
from srkd.models.edsr import EDSR
from srkd.models.imdn import IMDN
from srkd.models.rcan import RCAN
from srkd.models.rfdn import RFDN
from srkd.models.span import SPAN
from srkd.models.spec import ModelSpec, SizeReq
from srkd.models.swinir import SwinIR
from srkd.registry import Registry

ARCHS: Registry[type[nn.Module]] = Registry("architecture")
ARCHS.add("edsr", EDSR)
ARCHS.add("rcan", RCAN)
ARCHS.add("swinir", SwinIR)
ARCHS.add("imdn", IMDN)
ARCHS.add("rfdn", RFDN)
ARCHS.add("span", SPAN)
ARCHS.add("compact", Compact)
ARCHS.add("bicubic", Bicubic)


def build_model(arch: str, hparams: dict[str, Any]) -> nn.Module:
    """Instantiate ``arch`` with keyword hyperparameters; unknown names are errors."""
    cls = ARCHS.get(arch)
    params = inspect.signature(cls.__init__).parameters
    unknown = sorted(set(hparams) - set(params) - {"self"})
    if unknown:
        allowed = ", ".join(n for n in params if n != "self")
        raise ConfigError(f"{arch}: unknown hyperparameter(s) {', '.join(unknown)}; accepted: {allowed}")
    try:
        return cls(**hparams)
    except ValueError as exc:  # the constructor's own checks of its arguments (e.g. a scale it cannot do)
        raise ConfigError(f"{arch}: {exc}") from None


def _coerce(value: str, default: Any) -> Any:
    if isinstance(default, bool):
        if value.lower() in ("1", "true", "yes"):
            return True
        if value.lower() in ("0", "false", "no"):
            return False
        raise ValueError(value)
    if isinstance(default, (tuple, list)):
        return [type(default[0])(v) for v in value.split("/")]
    if default is None:
        return value
    return type(default)(value)


def parse_arch_string(text: str, *, scale: int | None = None) -> tuple[str, dict[str, Any]]:
    """``"edsr:n_feats=32,n_blocks=8"`` -> ("edsr", {...}); values typed by the constructor's defaults."""
    arch, _, rest = text.partition(":")
    cls = ARCHS.get(arch)
    params = inspect.signature(cls.__init__).parameters
    hparams: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or key not in params or key == "self":
            allowed = ", ".join(n for n in params if n != "self")
            raise ConfigError(f"{text!r}: bad hyperparameter {item!r}; expected key=value with key in: {allowed}")
        try:
            hparams[key] = _coerce(value.strip(), params[key].default)
        except ValueError:
            raise ConfigError(f"{text!r}: {key}={value!r} is not a valid {type(params[key].default).__name__}") from None
    if scale is not None:
        hparams.setdefault("scale", scale)
    from srkd.models.metadata import check_student

    return arch.lower(), check_student(arch, hparams, flag=f"student {text!r}")


def describe(model: nn.Module) -> ModelSpec:
    """The descriptor of an srkd model (native, bicubic, or spandrel-wrapped).

    ``value_range`` is the range the wrapped network computes on (``model.value_range``, e.g. [0, 255]
    for weights trained that way); the srkd model itself always takes and returns [0, 1].
    """
    hp = dict(model.hparams)
    lo, hi = getattr(model, "value_range", (0.0, 1.0))
    return ModelSpec(
        arch=model.arch,
        hparams=hp,
        scale=int(hp["scale"]),
        in_channels=int(hp.get("in_channels", 3)),
        out_channels=int(hp.get("out_channels", 3)),
        value_range=(float(lo), float(hi)),
        size_req=getattr(model, "size_req", SizeReq()),
    )


__all__ = ["ARCHS", "build_model", "parse_arch_string", "describe", "ModelSpec", "SizeReq", "EDSR", "RCAN", "SwinIR",
           "IMDN", "RFDN", "SPAN", "Compact", "Bicubic"]
