"""KD methods, registered by hand."""
from srkd.distill.methods.augkd import AugKD
from srkd.distill.methods.base import Method
from srkd.distill.methods.kd import KD
from srkd.distill.methods.mipkd import MiPKD
from srkd.distill.methods.scratch import Scratch
from srkd.registry import Registry

METHODS: Registry[type[Method]] = Registry("distillation method")
METHODS.add("scratch", Scratch)
METHODS.add("kd", KD)
METHODS.add("augkd", AugKD)
METHODS.add("mipkd", MiPKD)

__all__ = ["METHODS", "Method"]
