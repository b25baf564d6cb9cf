"""``srkd check``."""
from __future__ import annotations

import json

import click

from srkd.cli.common import (check_output_file, host_line, latency_rows, parity_rows, runs_option, sizes_option,
    threads_option, write_output)


@click.command()
@click.argument("bundle", type=click.Path(file_okay=False))
@click.option("--data", default=None, help="Folder of real HR images (or DIR/HR); default: scikit-image sample photos.")
@click.option("--images", type=click.IntRange(1), default=5, show_default=True, help="Use the first N images.")
@click.option("--crop", type=click.IntRange(0), default=256, show_default=True,
              help="Center-crop HR images to this many pixels (0: full images).")
@sizes_option(help="LR sizes for the latency part, comma-separated ('' skips it).")
@runs_option()
@threads_option()
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None, help="Write the figures as JSON here.")
@click.option("--heatmaps", type=click.Path(file_okay=False), default=None,
              help="Folder for the error heatmaps (PNG, worst image per artifact); default: BUNDLE/check.")
@click.option("--record/--no-record", default=True, show_default=True,
              help="Write the figures into the bundle's manifest.json (each artifact's 'check' entry).")
def command(bundle: str, data: str | None, images: int, crop: int, sizes: tuple[int, ...], runs: int,
            threads: int | None, json_out: str | None, heatmaps: str | None, record: bool) -> None:
    """Re-check every artifact of BUNDLE on real images: file hashes, a parity table against the torch
    fp32 student (PSNR vs it and vs HR, max |diff|, NaN count; thresholds of each precision), a
    latency table, an error heatmap per artifact, and the figures written into the manifest.
    TensorRT engines are skipped where there is no GPU. Exits 1 if any artifact fails."""
    from pathlib import Path

    from srkd.backends import unrunnable_backends
    from srkd.bundle.manifest import MANIFEST_NAME
    from srkd.errors import ParityError
    from srkd.export.check import check_bundle, record_checks
    from srkd.fsutil import json_safe

    check_output_file(json_out, flag="--json")
    heat_dir = Path(heatmaps) if heatmaps else Path(bundle) / "check"
    every = check_bundle(bundle, data=data, images=images, crop=crop or None, sizes=sizes, runs=runs, threads=threads,
                         heatmaps=heat_dir, skip=unrunnable_backends())
    if record:
        record_checks(bundle, every, data=data)
    checks = [c for c in every if c.parity is not None]
    first = checks[0].parity
    click.echo(f"{bundle}: parity on {first.images} real images ({data or 'scikit-image sample photos'}"
               f"{f', crop {crop}' if crop else ''})")
    for line in parity_rows([(c.entry.file, c.parity.to_dict()) for c in checks]):
        click.echo("  " + line)
    timed = [c for c in checks if c.latency]
    if timed:
        click.echo(f"latency; {host_line(timed[0].latency.host)}")
        rows = [{"backend": c.entry.backend, "precision": c.entry.precision, "threads": c.latency.host["threads"],
                 **s.to_dict()} for c in timed for s in c.latency.sizes]
        for line in latency_rows(rows):
            click.echo("  " + line)
    maps = [c for c in checks if c.heatmap]
    if maps:
        click.echo(f"error heatmaps (worst image per artifact): {', '.join(str(c.heatmap) for c in maps)}")
    for c in every:
        if c.skipped:
            click.echo(f"skipped {c.entry.file} ({c.entry.key}): {c.skipped}")
    if record:
        click.echo(f"figures recorded in {Path(bundle) / MANIFEST_NAME}")
    if json_out:
        write_output(json_out, json.dumps(json_safe({"bundle": bundle, "artifacts": [c.to_dict() for c in every]}), indent=2),
                     flag="--json")
    failed = [c for c in checks if not c.passed]
    if failed:
        raise ParityError(f"{bundle}: {len(failed)} of {len(checks)} artifacts fail parity: "
                          + "; ".join(f"{c.entry.file}: {c.parity.summary()}" for c in failed))
    skipped = len(every) - len(checks)
    click.echo(f"all {len(checks)} artifacts pass" + (f"; {skipped} could not run here (skipped above)" if skipped else ""))
