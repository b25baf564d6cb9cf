"""``srkd distill``."""
from __future__ import annotations

from pathlib import Path

import click

from srkd.distill.config import load_config, parse_value
from srkd.distill.fields import RULES
from srkd.errors import ConfigError, Interrupted


def _t(name: str) -> click.ParamType:
    return RULES[name].click_type()  # one table of limits for flags and config files


@click.command()
@click.option("--teacher", help="Teacher: a shipped name (see `srkd zoo`) or a checkpoint file.")
@click.option("--student", help="Student architecture, ARCH[:k=v,...] (default compact:num_feat=64,num_conv=8), "
                                "e.g. edsr:n_feats=32,n_blocks=8, span:feature_channels=28 (an unknown ARCH "
                                "lists them all).")
@click.option("--method", help="scratch | kd | augkd | mipkd (default kd).")
@click.option("--method-arg", "method_args", multiple=True, metavar="K=V", help="Method option, e.g. lambda_kd=0.5 (repeatable).")
@click.option("--data", multiple=True, type=click.Path(), help="HR training image folder (repeatable).")
@click.option("--val", type=click.Path(), help="Validation folder (DIR/HR[, LR_bicubic]) scored every --val-every steps.")
@click.option("--val-limit", type=_t("val_limit"), help="Use only the first N validation images.")
@click.option("--scale", type=_t("scale"), help="Upscaling factor (the student architecture must support it).")
@click.option("--steps", type=_t("steps"), help="Total steps (on --resume: extend the run to this many).")
@click.option("--batch", type=_t("batch"))
@click.option("--patch", type=_t("patch"), help="LR patch size in pixels (HR = scale x patch).")
@click.option("--lr", type=_t("lr"), help="Adam learning rate.")
@click.option("--precision", type=_t("precision"), help="auto: bf16 + channels_last where fast.")
@click.option("--seed", type=_t("seed"))
@click.option("--threads", type=_t("threads"), help="torch intra-op threads.")
@click.option("--val-every", type=_t("val_every"))
@click.option("--ckpt-every", type=_t("ckpt_every"))
@click.option("--log-every", type=_t("log_every"))
@click.option("--term-grads-every", type=_t("term_grads_every"), metavar="N",
              help="Every N steps log each loss term's weighted gradient norm on the student (diagnostic; single process).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="YAML config; flags override it.")
@click.option("--out", type=click.Path(file_okay=False), help="Run folder (default runs/distill).")
@click.option("--resume", type=click.Path(file_okay=False), help="Continue the run in this folder where it stopped.")
@click.option("--overwrite", is_flag=True, help="Replace the run already in --out (default: refuse it; see --resume).")
@click.option("--device", type=_t("device"))
@click.option("--quiet", is_flag=True, help="No progress bar.")
def command(config_file, resume, overwrite, method_args, quiet, **flags) -> None:
    """Train a student from a teacher (or from scratch) and save it with EMA weights.

    The run folder gets config.yaml, log.jsonl, curves.png, student_best/last.safetensors
    and resume.pt (checkpointed atomically; --resume RUN_DIR continues it). A folder that already
    holds a run is refused unless --resume or --overwrite; every setting (flags and --config) is
    checked, and the data and teacher loaded, before anything is written. Ctrl-C or SIGTERM stops
    with exit code 130, keeping the last checkpoint (a run stopped before its first leaves nothing).
    """
    from srkd.distill.trainer import Trainer

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
        if overwrite:
            raise click.UsageError("--overwrite replaces a run and --resume continues it; give one of them")
        flags["out"] = resume
        cfg = load_config(saved, overrides=flags)
    else:
        cfg = load_config(config_file, overrides=flags)
    try:
        trainer = Trainer(cfg, resume=bool(resume), overwrite=overwrite, progress=not quiet)
    except KeyboardInterrupt:
        raise Interrupted(f"distill stopped while starting, before training; nothing was written to "
                          f"{cfg.out}") from None
    try:
        result = trainer.run()
    except KeyboardInterrupt:
        raise Interrupted(_stopped(trainer)) from None
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


def _stopped(trainer) -> str:
    """What an interrupted run kept, and how to go on."""
    if trainer.saved_step is None:
        return (f"distill stopped at step {trainer.step}, before its first checkpoint; nothing was kept in "
                f"{trainer.out} (start it again)")
    return (f"distill stopped at step {trainer.step}; {trainer.out} keeps the checkpoint of step "
            f"{trainer.saved_step}: `srkd distill --resume {trainer.out}` continues the run")
