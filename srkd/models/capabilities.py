"""What a model can do as a teacher: output-level KD needs only ``model(x)``; feature-level KD needs
the feature-access contract (``blocks``, ``forward_features``, ``forward_from``) of native architectures."""
from __future__ import annotations

from torch import nn

from srkd.errors import ConfigError

OUTPUT_METHODS = ("kd", "augkd")  # use only the teacher's output
FEATURE_METHODS = ("mipkd",)  # tap and swap the teacher's body blocks


def supports_features(model: nn.Module) -> bool:
    """Whether ``model`` implements the feature-access contract of DESIGN.md."""
    if not getattr(model, "supports_features", True):
        return False
    return all(hasattr(model, name) for name in ("blocks", "forward_features", "forward_from"))


def teacher_methods(model: nn.Module) -> list[str]:
    """The KD methods that can use ``model`` as their teacher."""
    if getattr(model, "arch", "") == "bicubic":
        return []  # nothing to learn from bicubic
    return list(OUTPUT_METHODS) + (list(FEATURE_METHODS) if supports_features(model) else [])


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
        f"offer; use a native architecture ({native}) or an output-level method ({', '.join(OUTPUT_METHODS)})"
    )
