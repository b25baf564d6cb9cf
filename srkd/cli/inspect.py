"""``srkd inspect``."""
from __future__ import annotations

import json

import click

from srkd.models.resolve import resolve_model


@click.command()
@click.argument("checkpoint")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def command(checkpoint: str, as_json: bool) -> None:
    """What CHECKPOINT (file or shipped name) is: architecture, scale, parameters, value range, size needs."""
    model, spec = resolve_model(checkpoint)
    info = spec.to_dict()
    info["params"] = sum(p.numel() for p in model.parameters())
    info["feature_kd"] = hasattr(model, "forward_features") and hasattr(model, "forward_from")
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    click.echo(f"{checkpoint}: {spec.arch} x{spec.scale}, {info['params']:,} parameters")
    click.echo(f"  hparams: {spec.hparams}")
    click.echo(f"  channels {spec.in_channels} -> {spec.out_channels}, input range {list(spec.value_range)}, "
               f"size: min {spec.size_req.minimum}, multiple of {spec.size_req.multiple_of}")
    click.echo(f"  feature-level KD (forward_features/forward_from): {'yes' if info['feature_kd'] else 'no'}")
