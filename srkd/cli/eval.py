"""``srkd eval``."""
from __future__ import annotations

import json

import click

from srkd.cli.common import device_option, pick_device
from srkd.evaluate import evaluate
from srkd.fsutil import atomic_write_text
from srkd.models.resolve import resolve_model


@click.command()
@click.argument("model")
@click.option("--data", "data", multiple=True, required=True, help="Benchmark folder (DIR/HR, optional DIR/LR_bicubic/X<s>); repeatable.")
@click.option("--scale", type=click.IntRange(1, 8), default=None, help="Upscaling factor (default: the model's).")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None, help="Write results as JSON here ('-' for stdout).")
@click.option("--no-ssim", is_flag=True, help="Skip SSIM (faster).")
@device_option
def command(model: str, data: tuple[str, ...], scale: int | None, json_out: str | None, no_ssim: bool, device: str) -> None:
    """PSNR/SSIM of MODEL (a checkpoint, a shipped name, or `bicubic`) with BasicSR's protocol:
    Y channel, crop_border = scale, output rounded to uint8."""
    net, spec = resolve_model(model, scale=scale)
    results = [evaluate(net, data=d, scale=spec.scale, device=pick_device(device), with_ssim=not no_ssim, progress=True) for d in data]
    if json_out != "-":
        for res in results:
            click.echo(f"{res.data}  x{res.scale}  {model}")
            for row in res.rows:
                click.echo(f"  {row['name']:<16} {row['psnr']:8.4f} dB  {row['ssim']:.4f}")
            click.echo(f"  {'mean':<16} {res.psnr:8.4f} dB  {res.ssim:.4f}")
    payload = {"model": model, "spec": spec.to_dict(), "results": [r.to_dict() for r in results]}
    if json_out == "-":
        click.echo(json.dumps(payload, indent=2))
    elif json_out:
        atomic_write_text(json_out, json.dumps(payload, indent=2))
