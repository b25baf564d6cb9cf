"""KD methods, registered by hand, and what a model can teach with them."""
from __future__ import annotations

from torch import nn

from srkd.distill.methods.augkd import AugKD
from srkd.distill.methods.base import Method
from srkd.distill.methods.kd import KD
from srkd.distill.methods.mipkd import MiPKD
from srkd.distill.methods.scratch import Scratch
from srkd.errors import ConfigError
from srkd.models.capabilities import can_teach, supports_features
from srkd.registry import Registry

METHODS: Registry[type[Method]] = Registry("distillation method")
METHODS.add("scratch", Scratch)
METHODS.add("kd", KD)
METHODS.add("augkd", AugKD)
METHODS.add("mipkd", MiPKD)


def output_methods() -> list[str]:
    """Methods that use only a teacher's output (any model srkd loads can teach them)."""
    return [name for name, m in METHODS.items() if m.needs_teacher and not m.needs_features]


def teacher_methods(model: nn.Module) -> list[str]:
    """The KD methods that can use ``model`` as their teacher, as each method declares its needs."""
    if not can_teach(model):
        return []
    return [name for name, m in METHODS.items()
            if m.needs_teacher and (not m.needs_features or supports_features(model))]


def require_features(model: nn.Module, *, method: str, name: str = "teacher") -> None:
    """ConfigError naming the model and the methods it does support, unless it has feature access."""
    if supports_features(model):
        return
    from srkd.models import ARCHS

    arch = getattr(model, "arch", type(model).__name__)
    detail = getattr(model, "hparams", {}).get("architecture")
    what = f"{arch} ({detail})" if detail else arch
    native = ", ".join(a for a in ARCHS.names() if a != "bicubic")
    raise ConfigError(
        f"{name}: method {method} needs feature access (forward_features/forward_from), which {what} does not "
        f"offer; use a native architecture ({native}) or an output-level method ({', '.join(output_methods())})"
    )


__all__ = ["METHODS", "Method", "output_methods", "require_features", "teacher_methods"]
