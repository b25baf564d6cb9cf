"""The ``srkd`` command line. Every SrkdError becomes one line on stderr and exit code 1."""
from __future__ import annotations

import importlib
import logging
import sys

import click

from srkd import __version__
from srkd.errors import SrkdError


# command name -> module in srkd.cli holding ``command``; imported only when that command runs
# (or for --help), so one command's heavy imports never slow or break another.
COMMANDS = {
    "bench": "bench",
    "check": "check",
    "demo": "demo",
    "distill": "distill",
    "doctor": "doctor",
    "eval": "eval",
    "export": "export",
    "gate": "gate",
    "inspect": "inspect",
    "upscale": "upscale",
    "zoo": "zoo",
}


class SrkdGroup(click.Group):
    """Lazily loaded subcommands; any SrkdError becomes one line on stderr and exit code 1."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module = importlib.import_module(f"srkd.cli.{COMMANDS[name]}")
        return module.command

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except SrkdError as exc:
            click.echo(f"srkd: error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=SrkdGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="srkd")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def main(verbose: int) -> None:
    """srkd: distil super-resolution networks into small, fast, deployable ones."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
