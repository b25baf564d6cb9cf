"""srkd: distil super-resolution networks into small, fast, deployable ones."""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "load"]


def __getattr__(name: str):
    # ``load`` pulls in numpy/torch; import it on first use so ``import srkd`` stays light.
    if name == "load":
        from srkd.serve.upscaler import load

        return load
    raise AttributeError(f"module 'srkd' has no attribute {name!r}")
