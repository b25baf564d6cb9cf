"""``srkd zoo``."""
from __future__ import annotations

import click

from srkd.errors import CheckpointError
from srkd.zoo import DEFAULT_MODEL, ZOO, zoo_path


@click.command()
def command() -> None:
    """List the models shipped inside the package (usable as --teacher NAME or -m NAME)."""
    for name in ZOO.names():
        filename, about = ZOO.get(name)
        try:
            where = str(zoo_path(name))
        except CheckpointError:
            where = "(file missing from this install)"
        star = " (default)" if name == DEFAULT_MODEL else ""
        click.echo(f"{name}{star}: {about}\n    {where}")
    click.echo("bicubic: MATLAB-compatible bicubic, the reference every SR table starts from")
