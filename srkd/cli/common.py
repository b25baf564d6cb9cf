"""Option groups and helpers shared by several commands."""
from __future__ import annotations

import click

from srkd.device import pick_device

device_option = click.option(
    "--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
    help="Where to run torch: auto takes CUDA when present.",
)

__all__ = ["device_option", "pick_device"]
