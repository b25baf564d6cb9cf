"""The resume checkpoint file: ``Trainer.state_dict()`` as ``resume.pt``, written atomically and read with
``weights_only=True`` (RNG states as tensors). The trainer decides what goes in; this module only stores it."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from srkd.errors import TrainingError
from srkd.fsutil import atomic_save

RESUME_FILE = "resume.pt"


def write(out: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``out/resume.pt`` atomically; returns the path."""
    path = Path(out) / RESUME_FILE
    atomic_save(path, lambda tmp: torch.save(state, tmp))
    return path


def read(out: str | Path) -> dict[str, Any]:
    """The resume checkpoint of the run folder ``out``; TrainingError when missing or unreadable."""
    path = Path(out) / RESUME_FILE
    if not path.is_file():
        raise TrainingError(f"{path}: no resume checkpoint in this run folder")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a foreign or damaged file
        raise TrainingError(f"{path}: not a readable resume checkpoint ({str(exc).splitlines()[0][:160]})") from None
