"""``srkd upscale``."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from srkd.bundle.manifest import PRECISIONS
from srkd.cli.common import BackendChoice, device_option, threads_option
from srkd.zoo import DEFAULT_MODEL

EXTS = ("same", "png", "jpg", "webp", "tif", "bmp")


def _tile(ctx: click.Context, param: click.Parameter, value: str) -> int | str:
    if value == "auto":
        return value
    try:
        tile = int(value)
    except ValueError:
        raise click.BadParameter(f"{value!r}: expected auto, 0 (whole images) or a number of pixels") from None
    if tile < 0:
        raise click.BadParameter("must be >= 0")
    return tile


def _shard(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, int] | None:
    from srkd.errors import ConfigError
    from srkd.serve.plan import parse_shard

    if value is None:
        return None
    try:
        return parse_shard(value)
    except ConfigError as exc:
        raise click.BadParameter(str(exc).removeprefix("--shard ")) from None


def _default_io_threads() -> int:
    return 1 if (os.cpu_count() or 1) <= 4 else 2


@click.command()
@click.argument("inputs", metavar="INPUT...", nargs=-1, required=True)
@click.option("-m", "--model", default=DEFAULT_MODEL, show_default=True,
              help="A bundle folder, a student file (.safetensors/.pth), an srkd .onnx file or a shipped model name.")
@click.option("-o", "--out", default=None,
              help="Output folder (or output file for a single input file). [default: <input>_x<scale> beside a "
                   "folder or glob, beside the file for a file]")
@click.option("--backend", type=BackendChoice("auto"), default="auto",
              show_default=True, help="Runtime; auto takes the fastest artifact of a bundle that passed parity.")
@device_option
@click.option("--precision", type=click.Choice(["auto", *PRECISIONS]), default="auto",
              show_default=True, help="Artifact precision (auto: any that passed its parity check).")
@click.option("--tile", default="auto", show_default=True, callback=_tile,
              help="Tile side in input pixels: auto (from the memory budget or the engine's profile), 0 for whole "
                   "images, or N. Out of memory retries with smaller tiles.")
@click.option("--tile-overlap", type=click.IntRange(min=0), default=16, show_default=True,
              help="Context pixels added on each inner side of a tile, cross-faded so no seams show.")
@click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True,
              help="Equal-shape tiles or images per model call (from one or several images).")
@click.option("-r", "--recursive", is_flag=True,
              help="Descend into subfolders; the output tree mirrors the input tree.")
@click.option("--ext", "--format", "ext", type=click.Choice(EXTS), default="same", show_default=True,
              help="Output format; 'same' keeps each input's extension.")
@click.option("--name", "template", default="{stem}_x{scale}.{ext}", show_default=True,
              help="Output file name template: {stem} {ext} {scale} {name} {suffix}.")
@click.option("--quality", type=click.IntRange(1, 100), default=95, show_default=True,
              help="JPEG/WebP quality (WebP 100 = lossless).")
@click.option("--png-level", type=click.IntRange(0, 9), default=1, show_default=True,
              help="PNG (and TIFF deflate) compression level.")
@click.option("--outscale", type=click.FloatRange(min=0, min_open=True, max=64), default=None,
              help="Final scale when it differs from the model's (resized after the model).")
@click.option("--alpha", type=click.Choice(["bicubic", "model"]), default="bicubic", show_default=True,
              help="Alpha channel: bicubic resize, or its own pass through the model.")
@click.option("--max-pixels", type=click.IntRange(min=0), default=40_000_000, show_default=True,
              help="Refuse inputs with more pixels (decompression bombs); 0 for no limit.")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs (default: skip them, so a rerun resumes).")
@click.option("--dry-run", is_flag=True, help="List what would be written or skipped, and stop.")
@click.option("--shard", "shard_ix", default=None, metavar="I/N", callback=_shard,
              help="Only every N-th file starting at I (0-based), for job arrays.")
@threads_option(help="Intra-op threads of the runtime (torch, ONNX Runtime, OpenVINO) [default: the runtime's own].")
@click.option("--io-threads", type=click.IntRange(1, 64), default=None, help="Reader and writer threads (each).")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the JSON report here. [default: srkd-upscale-report.json in each output folder]")
@click.option("--ray", "use_ray", is_flag=True,
              help="Run on Ray Data (pip install 'srkd[ray]'): an actor pool holding the model; inputs and -o may "
                   "be fsspec URLs.")
@click.option("--ray-address", default=None, help="Ray cluster address [default: start or join a local one].")
@click.option("--ray-actors", type=click.IntRange(min=1), default=2, show_default=True, help="Model actors.")
@click.option("--ray-cpus", type=click.FloatRange(min=0.1), default=1.0, show_default=True, help="CPUs per actor.")
@click.option("--ray-gpus", type=click.FloatRange(min=0), default=0.0, show_default=True, help="GPUs per actor.")
@click.option("--no-progress", is_flag=True,
              help="No progress bar (it is hidden anyway when stderr is not a terminal).")
def command(inputs: tuple[str, ...], model: str, out: str | None, backend: str, device: str, precision: str,
            tile: int | str, tile_overlap: int, batch: int, recursive: bool, ext: str, template: str, quality: int,
            png_level: int, outscale: float | None, alpha: str, max_pixels: int, overwrite: bool, dry_run: bool,
            shard_ix: tuple[int, int] | None, threads: int | None, io_threads: int | None, report_path: Path | None,
            use_ray: bool,
            ray_address: str | None, ray_actors: int, ray_cpus: float, ray_gpus: float, no_progress: bool) -> None:
    """Upscale image files, folders and globs (INPUT...) with MODEL.

    Each file ends as ok, skipped (its output exists; see --overwrite) or failed with its reason; a
    failing file does not stop the batch. Outputs are written atomically, keep the input's bit depth,
    grey/colour/alpha and ICC profile, and its EXIF with the orientation reset. Exit code 0 when
    nothing failed, 3 when any file failed, 130 when interrupted (Ctrl-C or SIGTERM, any number of
    times; the report is still written; rerun to resume), 1 on an error that stops the whole run (e.g.
    the model cannot be loaded, -o cannot be created, or the report cannot be written), 2 on a usage
    error. Temp files that a killed run left beside the outputs are removed, and listed.
    """
    from srkd.serve.encode import EncodeOptions
    from srkd.serve.pipeline import RunOptions
    from srkd.serve.task import ImageOptions

    io = io_threads or _default_io_threads()
    options = RunOptions(overwrite=overwrite, max_pixels=max_pixels or None, batch=batch,
                         image=ImageOptions(alpha=alpha, outscale=outscale),
                         encode=EncodeOptions(quality=quality, png_level=png_level),
                         queue=max(4, 2 * batch), readers=io, writers=io)
    ext_choice = None if ext == "same" else ext
    if use_ray:
        _run_ray(list(inputs), model=model, out=out, recursive=recursive, template=template, ext=ext_choice,
                 options=options, backend=backend, device=device, precision=precision, tile=tile,
                 tile_overlap=tile_overlap, shard_ix=shard_ix, dry_run=dry_run, report_path=report_path,
                 cluster=(ray_address, ray_actors, ray_cpus, ray_gpus))
        return
    _run_local(inputs, model=model, out=out, backend=backend, device=device, precision=precision, tile=tile,
               tile_overlap=tile_overlap, recursive=recursive, ext=ext_choice, template=template, options=options,
               dry_run=dry_run, shard_ix=shard_ix, report_path=report_path, no_progress=no_progress, threads=threads)


def _run_local(inputs, *, model, out, backend, device, precision, tile, tile_overlap, recursive, ext, template,
               options, dry_run, shard_ix, report_path, no_progress, threads) -> None:
    from tqdm import tqdm

    from srkd.cli.upscale_out import dry_run as _dry_run, finish as _finish, remove_leftovers as _remove
    from srkd.serve.outputs import check_outputs, leftovers
    from srkd.serve.pipeline import run_batch
    from srkd.serve.plan import Naming, plan_jobs, scale_label, shard
    from srkd.serve.report import BatchReport, Outcome, report_name
    from srkd.serve.upscaler import load

    upscaler = load(model, backend=backend, device=device, tile=0 if dry_run else tile, tile_overlap=tile_overlap,
                    precision=precision, batch=options.batch, alpha=options.image.alpha, threads=threads)
    with upscaler:
        naming = Naming(scale=scale_label(upscaler.scale, options.image.outscale), template=template, ext=ext)
        plan = plan_jobs(inputs, naming=naming, out=Path(out) if out else None, recursive=recursive)
        if shard_ix:
            plan = shard(plan, index=shard_ix[0], count=shard_ix[1])
        reports = [report_path] if report_path else [d / report_name(shard_ix) for d in plan.out_dirs]
        stale = leftovers(plan, reports=reports)
        if dry_run:
            _dry_run(plan, overwrite=options.overwrite, stale=stale)
            return
        check_outputs(plan, reports=reports)
        removed = _remove(stale)
        report = BatchReport(model=model, runner=upscaler.name, scale=upscaler.scale,
                             settings={"tile": upscaler.tiles.tile, "overlap": tile_overlap, "batch": options.batch,
                                       "outscale": options.image.outscale, "alpha": options.image.alpha,
                                       "shard": list(shard_ix) if shard_ix else None, "threads": threads},
                             removed=[str(p) for p in removed])
        stderr = sys.stderr
        with tqdm(total=len(plan.jobs), desc="upscale", unit="img", disable=True if no_progress else None,
                  leave=False) as bar:
            def progress(result) -> None:
                bar.update(1)
                if result.outcome is Outcome.FAILED:
                    bar.write(f"failed: {result.line}", file=stderr)

            run_batch(plan, upscaler=upscaler, report=report, options=options, on_result=progress)
    from srkd.interrupts import uninterrupted

    with uninterrupted():  # the reports are written whole; an interrupt now comes after them (exit 130)
        _finish(report, reports)
        if report.interrupted:
            c = report.counts
            click.echo(f"srkd: interrupted: upscale stopped after {c['ok']} of {len(plan.jobs)} files; no partial file "
                       "was left and the report lists every file; rerun the same command to resume", err=True)
    click.get_current_context().exit(report.exit_code)


def _run_ray(inputs, *, model, out, recursive, template, ext, options, backend, device, precision, tile,
             tile_overlap, shard_ix, dry_run, report_path, cluster) -> None:
    from srkd.cli.upscale_out import finish as _finish
    from srkd.serve.cluster import RayOptions, plan_ray, run_ray
    from srkd.serve.report import report_name

    address, actors, cpus, gpus = cluster
    ray_opts = RayOptions(address=address, actors=actors, cpus=cpus, gpus=gpus)
    plan = plan_ray(inputs, model=model, out=out, recursive=recursive, template=template, ext=ext, options=options,
                    backend=backend, precision=precision, shard=shard_ix, cluster=ray_opts)
    if dry_run:
        for row in plan.todo:
            click.echo(f"upscale  {row['src']} -> {row['dst']}")
        for r in plan.report.results:
            click.echo(f"{'skip' if r.outcome.value == 'skipped' else 'fail':<8} {r.src} -> {r.dst} ({r.message})")
        click.echo(f"dry run: {len(plan.todo)} to upscale, {len(plan.report.results)} to skip or fail; nothing written")
        return
    report = run_ray(plan, model=model, options=options, backend=backend, device=device, precision=precision,
                     tile=tile, tile_overlap=tile_overlap, cluster=ray_opts)
    name = report_name(shard_ix)
    _finish(report, [str(report_path)] if report_path else [f"{d.rstrip('/')}/{name}" for d in plan.out_dirs])
    click.get_current_context().exit(report.exit_code)
