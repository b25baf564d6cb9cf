"""``srkd export``."""
from __future__ import annotations

import click

from srkd.cli.bench import parse_sizes


@click.command()
@click.argument("student")
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False), help="Bundle folder to create.")
@click.option("--data", default=None,
              help="Folder of real HR images for the parity check (or DIR/HR); default: scikit-image sample photos.")
@click.option("--images", type=click.IntRange(1), default=3, show_default=True, help="Parity on the first N images.")
@click.option("--crop", type=click.IntRange(0), default=256, show_default=True,
              help="Center-crop parity images to this many HR pixels (0: full images).")
@click.option("--opset", type=click.IntRange(11, 23), default=17, show_default=True, help="ONNX opset.")
@click.option("--dynamo/--no-dynamo", default=False, show_default=True,
              help="Use torch's torch.export-based ONNX exporter instead of the TorchScript one.")
@click.option("--sizes", default="64,128", show_default=True, callback=parse_sizes,
              help="LR sizes to time, comma-separated.")
@click.option("--runs", type=click.IntRange(1), default=10, show_default=True, help="Timed runs per size.")
@click.option("--threads", type=click.IntRange(1), default=None, help="ONNX Runtime intra-op threads.")
@click.option("--overwrite", is_flag=True, help="Replace an existing bundle at --out.")
def command(student: str, out: str, data: str | None, images: int, crop: int, opset: int, dynamo: bool,
            sizes: tuple[int, ...], runs: int, threads: int | None, overwrite: bool) -> None:
    """Make a bundle from STUDENT (a checkpoint file or a shipped model name): student.safetensors,
    model.onnx (fp32, dynamic batch and size) and manifest.json. Every artifact is parity-checked
    against the torch fp32 output on real images; if one fails, nothing is written and the exit code is 1."""
    from srkd.cli.bench import host_line, latency_rows
    from srkd.cli.check import parity_rows
    from srkd.export.bundle import export_bundle

    bundle = export_bundle(student, out, data=data, opset=opset, dynamo=dynamo, overwrite=overwrite, images=images,
                           crop=crop or None, latency_sizes=sizes or (64,), latency_runs=runs, threads=threads)
    m = bundle.manifest
    spec = bundle.spec
    hp = ", ".join(f"{k}={v}" for k, v in spec.hparams.items() if k in ("n_feats", "n_blocks", "n_resgroups"))
    click.echo(f"{bundle.path}: {spec.arch} x{spec.scale}" + (f" ({hp})" if hp else ""))
    onnx_tc = next(a["toolchain"] for a in m["artifacts"] if a["backend"] == "onnxruntime")
    click.echo(f"  model.onnx: opset {onnx_tc['opset']}, {onnx_tc['exporter']} exporter, dynamic batch/height/width")
    pd = m["parity_data"]
    crop_note = f"; crop {pd['crop']}" if pd.get("crop") else ""
    click.echo(f"  parity on {len(pd['images'])} real images ({pd['source']}: {', '.join(pd['images'])}{crop_note})")
    for line in parity_rows([(a["file"], a["parity"]) for a in m["artifacts"]]):
        click.echo("    " + line)
    lat = m["artifacts"][0]["latency"]
    click.echo(f"  latency; {host_line(lat)}")
    rows = [{"backend": a["backend"], "precision": a["precision"], "threads": a["latency"]["threads"], **s}
            for a in m["artifacts"] for s in a["latency"]["sizes"]]
    for line in latency_rows(rows):
        click.echo("    " + line)
    click.echo(f"  wrote {', '.join(a['file'] for a in m['artifacts'])}, manifest.json")
