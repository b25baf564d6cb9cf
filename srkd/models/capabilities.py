"""What a model offers a KD method: output-level KD needs only ``model(x)``; feature-level KD needs the
feature-access contract (``blocks``, ``forward_features``, ``forward_from``) of native architectures.
Which methods need what is declared by the methods (``srkd.distill.methods``)."""
from __future__ import annotations

from torch import nn


def supports_features(model: nn.Module) -> bool:
    """Whether ``model`` implements the feature-access contract of the design notes."""
    if not getattr(model, "supports_features", True):
        return False
    return all(hasattr(model, name) for name in ("blocks", "forward_features", "forward_from"))


def can_teach(model: nn.Module) -> bool:
    """Whether a student can learn anything from ``model`` (not from bicubic interpolation)."""
    return getattr(model, "arch", "") != "bicubic"
