"""``srkd demo``."""
from __future__ import annotations

import click

from srkd.demo import DemoConfig, run_demo


@click.command()
@click.option("--out", default="srkd-demo", show_default=True, type=click.Path(file_okay=False),
              help="Folder for everything the demo makes (re-used by later demo runs).")
@click.option("--steps", default=DemoConfig.steps, show_default=True, type=click.IntRange(1), help="Distillation steps.")
@click.option("--teacher", default=DemoConfig.teacher, show_default=True, help="Teacher (shipped name or file).")
@click.option("--student", default=DemoConfig.student, show_default=True,
              help="Student, ARCH[:k=v,...] (the default: RESULTS.md, \"Which student\").")
@click.option("--threads", type=click.IntRange(1, 256), default=None, help="torch/ORT threads (default: all cores).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def command(out: str, steps: int, teacher: str, student: str, threads: int | None, quiet: bool) -> None:
    """The whole chain with no arguments and no downloads: distill a student from the shipped
    teacher with `kd` on scikit-image's sample photos, score teacher and student, export an
    ONNX bundle with parity and latency, and upscale a folder with it."""
    click.echo(f"srkd demo: teacher {teacher}, student {student}, {steps} kd steps, everything goes to {out}/")
    r = run_demo(DemoConfig(out=out, steps=steps, teacher=teacher, student=student, threads=threads),
                 progress=not quiet)
    click.echo("\nheld-out photos (x4, PSNR/SSIM on Y, crop 4):")
    for name, s in r.scores.items():
        click.echo(f"  {name:<22} {s['psnr']:7.3f} dB  {s['ssim']:.4f}")
    click.echo("latency, p50 ms per LR size:")
    for name, sizes in r.latency.items():
        click.echo(f"  {name:<22} " + "  ".join(f"{size}px {ms:7.2f}" for size, ms in sizes.items()))
    base = r.latency.get("torch:fp32", {})
    for name, sizes in r.latency.items():
        if name != "torch:fp32" and base:
            ratios = ", ".join(f"{size}px {base[size] / ms:.2f}x" for size, ms in sizes.items() if size in base)
            click.echo(f"  speed-up of {name} over torch:fp32: {ratios}")
    click.echo(f"upscale: {r.upscale_summary}")
    click.echo("\nwhere everything went:")
    for label, path in (("training run", r.run), ("student", r.student), ("bundle", r.bundle),
                        ("upscaled images", r.upscaled), ("upscale report", r.report)):
        click.echo(f"  {label:<16} {path}")
    click.echo(f"wall time: {r.seconds['total']:.0f} s (" + ", ".join(f"{k} {v:.0f} s" for k, v in r.seconds.items()
                                                                  if k != "total") + ")")
