"""srkd: distil super-resolution networks into small, fast, deployable ones."""
from __future__ import annotations

__version__ = "0.1.0"
