"""``srkd distill``."""
from __future__ import annotations

from pathlib import Path

import click

from srkd.distill.config import load_config, parse_value
from srkd.distill.trainer import Trainer
from srkd.errors import ConfigError


@click.command()
@click.option("--teacher", help="Teacher: a shipped name (see `srkd zoo`) or a checkpoint file.")
@click.option("--student", help="Student architecture, ARCH[:k=v,...], e.g. edsr:n_feats=32,n_blocks=8.")
@click.option("--method", help="scratch | kd | augkd | mipkd (default kd).")
@click.option("--method-arg", "method_args", multiple=True, metavar="K=V", help="Method option, e.g. lambda_kd=0.5 (repeatable).")
@click.option("--data", multiple=True, type=click.Path(), help="HR training image folder (repeatable).")
@click.option("--val", type=click.Path(), help="Validation folder (DIR/HR[, LR_bicubic]) scored every --val-every steps.")
@click.option("--val-limit", type=int, help="Use only the first N validation images.")
@click.option("--scale", type=click.IntRange(2, 8))
@click.option("--steps", type=click.IntRange(1), help="Total steps (on --resume: extend the run to this many).")
@click.option("--batch", type=click.IntRange(1))
@click.option("--patch", type=click.IntRange(4), help="LR patch size in pixels (HR = scale x patch).")
@click.option("--lr", type=float, help="Adam learning rate.")
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16", "fp16"]), help="auto: bf16 + channels_last where fast.")
@click.option("--seed", type=int)
@click.option("--threads", type=int, help="torch intra-op threads.")
@click.option("--val-every", type=click.IntRange(1))
@click.option("--ckpt-every", type=click.IntRange(1))
@click.option("--log-every", type=click.IntRange(1))
@click.option("--term-grads-every", type=click.IntRange(0), metavar="N",
              help="Every N steps log each loss term's weighted gradient norm on the student (diagnostic; single process).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="YAML config; flags override it.")
@click.option("--out", type=click.Path(file_okay=False), help="Run folder (default runs/distill).")
@click.option("--resume", type=click.Path(file_okay=False), help="Continue the run in this folder where it stopped.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]))
@click.option("--quiet", is_flag=True, help="No progress bar.")
def command(config_file, resume, method_args, quiet, **flags) -> None:
    """Train a student from a teacher (or from scratch) and save it with EMA weights.

    The run folder gets config.yaml, log.jsonl, curves.png, student_best/last.safetensors
    and resume.pt (checkpointed atomically; --resume RUN_DIR continues it).
    """
    args = {}
    for item in method_args:
        key, eq, value = item.partition("=")
        if not eq:
            raise click.BadParameter(f"{item!r} is not K=V", param_hint="--method-arg")
        args[key] = parse_value(value)
    flags["data"] = list(flags["data"]) or None
    if args:
        flags["method_args"] = args
    if resume:
        saved = Path(resume) / "config.yaml"
        if not saved.is_file():
            raise ConfigError(f"{resume}: not a run folder (no config.yaml)")
        if flags.get("out") and Path(flags["out"]) != Path(resume):
            raise ConfigError("--out and --resume name different folders")
        flags["out"] = resume
        cfg = load_config(saved, overrides=flags)
    else:
        cfg = load_config(config_file, overrides=flags)
    trainer = Trainer(cfg, resume=bool(resume), progress=not quiet)
    try:
        result = trainer.run()
    finally:
        trainer.close()
    if not trainer.dist.main:
        return
    click.echo(f"run: {result.out}  steps: {result.steps}  precision: {result.precision}  "
               f"processes: {result.world_size} (effective batch {result.effective_batch})  "
               f"{result.sec_per_step:.3f} s/step  data wait: {100 * result.data_wait_share:.1f}%")
    if result.best_psnr is not None:
        click.echo(f"validation PSNR (EMA): last {result.last_psnr:.3f} dB, best {result.best_psnr:.3f} dB")
    click.echo(f"student: {result.out / 'student_best.safetensors'}")

