"""``srkd upscale``."""
from __future__ import annotations

from pathlib import Path

import click

from srkd.cli.common import device_option
from srkd.zoo import DEFAULT_MODEL

FORMATS = ("same", "png", "jpg", "webp", "tif")


@click.command()
@click.argument("inputs", metavar="INPUT...", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("-m", "--model", default=DEFAULT_MODEL, show_default=True,
              help="A bundle folder, a student file (.safetensors/.pth) or a shipped model name.")
@click.option("-o", "--out", type=click.Path(path_type=Path), default=None,
              help="Output folder (or output file for a single input file). "
                   "[default: <input>_x<scale> beside the input]")
@click.option("--backend", type=click.Choice(["auto", "torch", "onnxruntime"]), default="auto", show_default=True,
              help="Runtime; onnxruntime needs a bundle.")
@device_option
@click.option("--precision", type=click.Choice(["fp32", "bf16", "fp16", "int8"]), default="fp32", show_default=True,
              help="Which artifact/precision to run (lower ones only from a bundle that passed its parity check).")
@click.option("--tile", type=click.IntRange(min=0), default=256, show_default=True,
              help="Tile side in input pixels for large images; 0 runs whole images.")
@click.option("--tile-overlap", type=click.IntRange(min=0), default=32, show_default=True,
              help="Overlap between tiles in input pixels, cross-faded so no seams show.")
@click.option("-r", "--recursive", is_flag=True,
              help="Descend into subfolders; the output tree mirrors the input tree.")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs (default: skip them).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="same", show_default=True,
              help="Output file format; 'same' keeps each input's extension.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the JSON report here. [default: srkd-upscale-report.json in each output folder]")
@click.option("--no-progress", is_flag=True,
              help="No progress bar (it is hidden anyway when stderr is not a terminal).")
def command(inputs: tuple[Path, ...], model: str, out: Path | None, backend: str, device: str, precision: str,
            tile: int, tile_overlap: int, recursive: bool, overwrite: bool, fmt: str, report_path: Path | None,
            no_progress: bool) -> None:
    """Upscale image files and folders (INPUT...) with MODEL.

    Each file ends as ok, skipped (its output exists; see --overwrite) or failed; a failing file
    does not stop the batch. Outputs are written atomically. Exit code 0 when nothing failed,
    3 when any file failed, 1 on an error that stops the whole run (e.g. the model cannot be
    loaded), 2 on a usage error.
    """
    if tile and tile_overlap >= tile:
        raise click.BadParameter(f"must be smaller than --tile ({tile})", param_hint="--tile-overlap")
    from tqdm import tqdm

    from srkd.api import load
    from srkd.serve.pipeline import plan_jobs, run_batch
    from srkd.serve.report import REPORT_NAME, BatchReport, Outcome

    upscaler = load(model, backend=backend, device=device, tile=tile or None, tile_overlap=tile_overlap,
                    precision=precision)
    with upscaler:
        plan = plan_jobs(inputs, scale=upscaler.scale, out=out, recursive=recursive,
                         suffix=None if fmt == "same" else f".{fmt}")
        report = BatchReport(model=model, runner=upscaler.name, scale=upscaler.scale)
        with tqdm(total=len(plan.jobs), desc="upscale", unit="img", disable=True if no_progress else None,
                  leave=False) as bar:
            def progress(result) -> None:
                bar.update(1)
                if result.outcome is Outcome.FAILED:
                    where = "" if str(result.src) in result.message else f"{result.src}: "
                    bar.write(f"failed: {where}{result.message}", file=click.get_text_stream("stderr"))

            run_batch(plan, upscale=upscaler.upscale, report=report, overwrite=overwrite, on_result=progress)
    targets = [report_path] if report_path else [d / REPORT_NAME for d in plan.out_dirs]
    for target in targets:
        report.write(target)
    click.echo(report.summary())
    for target in targets:
        click.echo(f"report: {target}")
    click.get_current_context().exit(report.exit_code)
