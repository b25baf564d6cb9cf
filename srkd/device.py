"""One rule for choosing the torch device, shared by every command."""
from __future__ import annotations

import torch

from srkd.errors import BackendUnavailableError


def pick_device(choice: str | torch.device) -> torch.device:
    """``auto`` -> CUDA when torch sees a GPU, else CPU; an explicit ``cuda`` without a GPU is an error."""
    if str(choice) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(choice)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise BackendUnavailableError(f"device {choice} asked for, but torch sees no CUDA GPU")
    return device
