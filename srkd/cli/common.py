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

def check_output_file(path: str | None, *, flag: str) -> None:
    """Before the work: ``path`` (an output file a flag names) can be written, else one ConfigError line."""
    from pathlib import Path

    from srkd.errors import ConfigError
    from srkd.fsutil import creatable

    if not path or path == "-":
        return
    if Path(path).is_dir():
        raise ConfigError(f"{flag} {path}: is a folder; expected a file name to write")
    why = creatable(Path(path).parent)
    if why:
        raise ConfigError(f"{flag} {path}: cannot be written ({why})")


def write_output(path: str, text: str, *, flag: str) -> None:
    """Write an output file a flag names, atomically; an OS refusal is one ConfigError line naming it."""
    from pathlib import Path

    from srkd.errors import ConfigError
    from srkd.fsutil import atomic_write_text, cannot_create

    try:
        atomic_write_text(path, text)
    except OSError as exc:
        raise ConfigError(f"{flag} {path}: cannot write ({cannot_create(Path(path).parent, exc)})") from None


__all__ = ["check_output_file", "device_option", "input_range_option", "pick_device", "write_output"]
