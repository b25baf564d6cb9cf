"""Option groups and helpers shared by several commands."""
from __future__ import annotations

import click
import torch

device_option = click.option(
    "--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
    help="Where to run torch: auto takes CUDA when present.",
)


def pick_device(choice: str) -> torch.device:
    """auto -> cuda if available else cpu; an explicit cuda without a GPU is an error."""
    from srkd.errors import BackendUnavailableError

    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice == "cuda" and not torch.cuda.is_available():
        raise BackendUnavailableError("--device cuda asked for, but torch sees no CUDA GPU")
    return torch.device(choice)
