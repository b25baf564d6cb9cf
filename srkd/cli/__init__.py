"""The ``srkd`` command line.

Exit codes: 0 done; 1 an SrkdError (one line on stderr: expected bad input, named where it was read);
2 a usage error (click); 3 a batch with failed files (``srkd upscale``); 130 interrupted (Ctrl-C or
SIGTERM, any number of them: see srkd.interrupts). Anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import importlib
import logging
import sys

import click

from srkd import __version__
from srkd.errors import Interrupted, SrkdError, one_line
from srkd.interrupts import EXIT_INTERRUPTED, interrupt_guard


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
    """Lazily loaded subcommands; an SrkdError becomes one line on stderr and its exit code, an interrupt 130."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module = importlib.import_module(f"srkd.cli.{COMMANDS[name]}")
        return module.command

    def invoke(self, ctx: click.Context):
        with interrupt_guard():
            try:
                return super().invoke(ctx)
            except Interrupted as exc:
                click.echo(f"srkd: interrupted: {one_line(str(exc))}", err=True)
                sys.exit(exc.exit_code)
            except SrkdError as exc:
                click.echo(f"srkd: error: {one_line(str(exc))}", err=True)
                sys.exit(exc.exit_code)
            except KeyboardInterrupt:  # a command with nothing to say beyond the stop itself
                click.echo("srkd: interrupted", err=True)
                sys.exit(EXIT_INTERRUPTED)


@click.group(cls=SrkdGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="srkd")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def main(verbose: int) -> None:
    """srkd: distil super-resolution networks into small, fast, deployable ones."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if verbose < 2:  # the libraries' own log lines (Pillow's TIFF complaints...) only with -vv: srkd says it once
        for handler in logging.getLogger().handlers:
            if not any(isinstance(f, _SrkdOnly) for f in handler.filters):
                handler.addFilter(_SrkdOnly())


class _SrkdOnly(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.name == "srkd" or record.name.startswith("srkd.")


def run() -> None:
    """The ``srkd`` program: the interrupt guard for the whole process, then the command line."""
    from srkd.interrupts import ignore_from_now, install_for_process

    install_for_process()
    try:
        main(prog_name="srkd")
    except KeyboardInterrupt:  # before a command started (option parsing)
        click.echo("srkd: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    finally:
        ignore_from_now()
