"""Backends: one Runner subclass each. Heavy imports happen in activate_impl."""
from srkd.export.runners.base import Runner
from srkd.export.runners.ort import OrtRunner
from srkd.export.runners.torch_runner import TorchRunner

__all__ = ["Runner", "TorchRunner", "OrtRunner"]
