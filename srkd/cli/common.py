"""Option groups and helpers shared by several commands."""
from __future__ import annotations

import click

from srkd.device import pick_device

device_option = click.option(
    "--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
    help="Where to run torch: auto takes CUDA when present.",
)



def _parse_range(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    text = value.strip().replace(" ", "")
    for prefix in ("0-", "0,", "[0,"):
        text = text.removeprefix(prefix)
    text = text.rstrip("]")
    if text in ("1", "1.0"):
        return 1.0
    if text in ("255", "255.0"):
        return 255.0
    raise click.BadParameter(f"{value!r}: expected 1 (for [0, 1]) or 255 (for [0, 255])")


input_range_option = click.option(
    "--input-range", "input_range", metavar="1|255", default=None, callback=_parse_range,
    help="Value range the network was trained on, [0, 1] or [0, 255], when the weights do not say "
         "(default: read from the file, else guessed by trying both on a photo).",
)

__all__ = ["device_option", "input_range_option", "pick_device"]
