"""``srkd eval``."""
from __future__ import annotations

import json

import click

from srkd.cli.common import check_output_file, device_option, input_range_option, pick_device, write_output
from srkd.evaluate import evaluate, markdown_table
from srkd.models.resolve import resolve_model


@click.command()
@click.argument("model")
@click.option("--data", "data", multiple=True, required=True,
              help="HR folder: DIR/HR (+ optional DIR/LR_bicubic/X<s>), or images directly in DIR; repeatable.")
@click.option("--lr", "lr_dir", type=click.Path(file_okay=False), default=None,
              help="Paired LR folder for a single --data (files <name>x<s>.* or <name>.*).")
@click.option("--scale", type=click.IntRange(1, 8), default=None, help="Upscaling factor (default: the model's).")
@click.option("--self-ensemble", "ensemble", is_flag=True, help="Average the x8 flip/transpose self-ensemble.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None, help="Write results as JSON here ('-' for stdout).")
@click.option("--markdown", "md_out", type=click.Path(dir_okay=False), default=None, help="Write a Markdown table here.")
@click.option("--no-ssim", is_flag=True, help="Skip SSIM (faster).")
@input_range_option
@device_option
def command(model: str, data: tuple[str, ...], lr_dir: str | None, scale: int | None, ensemble: bool,
            json_out: str | None, md_out: str | None, no_ssim: bool, input_range: float | None, device: str) -> None:
    """PSNR/SSIM of MODEL (a checkpoint, a shipped name, or `bicubic`) with BasicSR's protocol:
    Y channel, crop_border = scale, output rounded to uint8.

    LR images come from --lr, else DIR/LR_bicubic/X<s>/<name>x<s>.png, else MATLAB-compatible bicubic."""
    if lr_dir and len(data) != 1:
        raise click.UsageError("--lr pairs with exactly one --data folder")
    check_output_file(json_out, flag="--json")
    check_output_file(md_out, flag="--markdown")
    net, spec = resolve_model(model, scale=scale, input_range=input_range)
    dev = pick_device(device)
    results = [evaluate(net, data=d, scale=spec.scale, device=dev, with_ssim=not no_ssim, progress=True,
                        ensemble=ensemble, lr_dir=lr_dir) for d in data]
    if json_out != "-":
        note = " (guessed)" if spec.range_is_guess else ""
        detail = spec.hparams.get("architecture")
        arch = f"{spec.arch} ({detail})" if detail else spec.arch
        click.echo(f"{model}: {arch} x{spec.scale}, input range {_range(spec.value_range)}{note}"
                   f"{', x8 self-ensemble' if ensemble else ''}")
        for res in results:
            click.echo(f"{res.data}  x{res.scale}  ({len(res.rows)} images, LR: {_sources(res.rows)})")
            for row in res.rows:
                click.echo(f"  {row['name']:<16} {row['psnr']:8.4f} dB  {row['ssim']:.4f}")
            click.echo(f"  {'mean':<16} {res.psnr:8.4f} dB  {res.ssim:.4f}")
    payload = {"model": model, "spec": spec.to_dict(), "value_range_source": spec.value_range_source,
               "results": [r.to_dict() for r in results]}
    if json_out == "-":
        click.echo(json.dumps(payload, indent=2))
    elif json_out:
        write_output(json_out, json.dumps(payload, indent=2), flag="--json")
    if md_out:
        write_output(md_out, markdown_table(results, model=model), flag="--markdown")


def _range(value_range) -> str:
    lo, hi = value_range
    return f"[{lo:g}, {hi:g}]"


def _sources(rows: list[dict]) -> str:
    return ", ".join(sorted({r["lr_source"] for r in rows}))
