"""What ``srkd upscale`` prints around a batch: the dry-run listing, removed leftovers, the report."""
from __future__ import annotations

from pathlib import Path

import click

from srkd.errors import one_line


def remove_leftovers(stale: list[Path]) -> list[Path]:
    """Delete the temp files of killed runs and say so (one line)."""
    from srkd.fsutil import remove_paths

    removed = remove_paths(stale)
    if removed:
        more = f" and {len(removed) - 5} more" if len(removed) > 5 else ""
        names = ", ".join(one_line(str(p)) for p in removed[:5]) + more
        click.echo(f"removed {len(removed)} unfinished temp file(s) left by an earlier run that was killed: {names}")
    return removed


def dry_run(plan, *, overwrite: bool, stale: list[Path]) -> None:
    """List what a run would write, skip, fail and remove; write nothing."""
    counts = {"upscale": 0, "skip": 0, "fail": 0}
    for job in plan.jobs:
        src, dst = one_line(str(job.src)), one_line(str(job.dst))
        if job.error:
            action = "fail"
            click.echo(f"fail     {src}: {one_line(job.error)}")
        elif job.skip:
            action = "skip"
            click.echo(f"skip     {src}: {one_line(job.skip)}")
        elif job.dst.exists() and not overwrite:
            action = "skip"
            click.echo(f"skip     {src} -> {dst} (output exists)")
        else:
            action = "upscale"
            click.echo(f"upscale  {src} -> {dst}")
        counts[action] += 1
    for path in stale:
        click.echo(f"remove   {one_line(str(path))} (temp file of a killed run)")
    click.echo(f"dry run: {counts['upscale']} to upscale, {counts['skip']} to skip, {counts['fail']} would fail; "
               "nothing written")


def finish(report, targets) -> None:
    """Write the report(s), print the table; a report that cannot be written is one line on stderr and
    makes the exit code at least 1 (3 for failed files and 130 for an interrupt stay as they are)."""
    from srkd.serve.remote import write_report

    written = []
    for target in targets:
        try:
            write_report(report, str(target))
            written.append(target)
        except OSError as exc:
            click.echo(f"srkd: error: cannot write the report to {one_line(str(target))} "
                       f"({exc.strerror or type(exc).__name__})", err=True)
            report.report_errors += 1
    click.echo(report.table())
    click.echo(report.summary())
    for target in written:
        click.echo(f"report: {one_line(str(target))}")
