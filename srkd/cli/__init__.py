"""The ``srkd`` command line. Every SrkdError becomes one line on stderr and exit code 1."""
from __future__ import annotations

import logging
import sys

import click

from srkd import __version__
from srkd.errors import SrkdError


class SrkdGroup(click.Group):
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


def _register() -> None:
    from srkd.cli import bench as bench_cmd
    from srkd.cli import check as check_cmd
    from srkd.cli import demo as demo_cmd
    from srkd.cli import distill as distill_cmd
    from srkd.cli import eval as eval_cmd
    from srkd.cli import export as export_cmd
    from srkd.cli import inspect as inspect_cmd
    from srkd.cli import upscale as upscale_cmd
    from srkd.cli import zoo as zoo_cmd

    main.add_command(bench_cmd.command, "bench")
    main.add_command(check_cmd.command, "check")
    main.add_command(demo_cmd.command, "demo")
    main.add_command(distill_cmd.command, "distill")
    main.add_command(eval_cmd.command, "eval")
    main.add_command(export_cmd.command, "export")
    main.add_command(inspect_cmd.command, "inspect")
    main.add_command(upscale_cmd.command, "upscale")
    main.add_command(zoo_cmd.command, "zoo")


_register()
