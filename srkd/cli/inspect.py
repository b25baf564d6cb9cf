"""``srkd inspect``."""
from __future__ import annotations

import json

import click

from srkd.cli.common import input_range_option
from srkd.distill.methods import teacher_methods
from srkd.models.capabilities import supports_features
from srkd.models.repconv import fold_for_inference
from srkd.models.spandrel_export import SPANDREL_ARCHS, spandrel_problem
from srkd.models.resolve import resolve_model

RANGE_NOTES = {
    "recorded": "recorded in the file",
    "weights": "read from the weights",
    "spandrel": "set by spandrel for this architecture",
    "user": "set by --input-range",
    "probe": "GUESSED by trying both ranges on a photo; override with --input-range",
    "default": "GUESSED: the layout's usual range (the photo probe was inconclusive); override with --input-range",
}


@click.command()
@click.argument("checkpoint")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@input_range_option
def command(checkpoint: str, as_json: bool, input_range: float | None) -> None:
    """What CHECKPOINT (file or shipped name) is: architecture, scale, parameters (and, for SPAN, how many
    remain once its branches are folded for export), channels, input range (and whether it is a guess),
    size requirements, the KD methods it can teach with, and for SPAN/Compact whether `srkd export
    --spandrel` can write it."""
    model, spec = resolve_model(checkpoint, input_range=input_range)
    info = spec.to_dict()
    info["params"] = sum(p.numel() for p in model.parameters())
    info["params_exported"] = sum(p.numel() for p in fold_for_inference(model).parameters())
    info["spandrel_file"] = ((spandrel_problem(model) or "writable (srkd export --spandrel)")
                             if spec.arch in SPANDREL_ARCHS else None)
    info["value_range_source"] = spec.value_range_source
    info["value_range_guessed"] = spec.range_is_guess
    info["feature_kd"] = supports_features(model)
    info["teacher_methods"] = teacher_methods(model)
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    detail = spec.hparams.get("architecture")
    arch = f"{spec.arch} ({detail})" if detail else spec.arch
    lo, hi = spec.value_range
    req = spec.size_req
    click.echo(f"{checkpoint}")
    click.echo(f"  architecture   {arch}")
    click.echo(f"  scale          x{spec.scale}")
    folded = info["params_exported"]
    click.echo(f"  parameters     {info['params']:,}"
               + (f" ({folded:,} exported: branches folded)" if folded != info["params"] else ""))
    click.echo(f"  channels       {spec.in_channels} -> {spec.out_channels}")
    click.echo(f"  input range    [{lo:g}, {hi:g}] ({RANGE_NOTES.get(spec.value_range_source, spec.value_range_source)})")
    click.echo(f"  size           min {req.minimum}, multiple of {req.multiple_of}")
    click.echo(f"  hparams        {spec.hparams}")
    methods = ", ".join(info["teacher_methods"]) or "none"
    click.echo(f"  as a teacher   {methods}" + ("" if info["feature_kd"] else " (no feature access: not mipkd)"))
    if info["spandrel_file"]:
        click.echo(f"  for spandrel   {info['spandrel_file']}")
