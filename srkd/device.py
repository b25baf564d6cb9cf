"""One rule for choosing the torch device, shared by every command, and exact fp32 on GPUs."""
from __future__ import annotations

import contextlib
from typing import Iterator

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


@contextlib.contextmanager
def exact_fp32() -> Iterator[None]:
    """fp32 convolutions and matmuls in IEEE fp32, not TF32, for as long as the block runs.

    torch runs cuDNN convolutions in TF32 by default on Ampere and newer GPUs (about 10 mantissa bits),
    which is not the fp32 reference that parity is measured against. Uses ``fp32_precision`` where
    torch has it (2.9+) and the ``allow_tf32`` flags before that; the previous settings come back after.
    """
    conv = getattr(getattr(torch.backends.cudnn, "conv", None), "fp32_precision", None)
    if conv is not None:
        targets = [torch.backends.cudnn.conv, torch.backends.cuda.matmul]
        saved = [t.fp32_precision for t in targets]
        try:
            for t in targets:
                t.fp32_precision = "ieee"
            yield
        finally:
            for t, value in zip(targets, saved):
                t.fp32_precision = value
        return
    saved_flags = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    try:
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved_flags
