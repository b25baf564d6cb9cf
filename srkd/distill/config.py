"""Typed distillation config: YAML file gives defaults, CLI flags override, unknown keys are errors."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import yaml

from srkd.distill.fields import RULES
from srkd.errors import ConfigError, SrkdError


@dataclasses.dataclass(kw_only=True)
class DistillConfig:
    """Everything one ``srkd distill`` run needs; written resolved into the run folder."""

    teacher: str | None = None
    student: str = "compact:num_feat=64,num_conv=8"  # the best PSNR for its latency: RESULTS.md, "Which student"
    method: str = "kd"
    method_args: dict[str, Any] = dataclasses.field(default_factory=dict)
    data: list[str] = dataclasses.field(default_factory=list)
    val: str | None = None
    val_limit: int | None = None
    scale: int = 4
    steps: int = 1000
    batch: int = 16
    patch: int = 32
    lr: float = 1e-3  # small students on short budgets; beats bicubic on Set5 within 200 kd steps
    lr_milestones: list[float] = dataclasses.field(default_factory=lambda: [0.5, 0.75, 0.9])
    lr_gamma: float = 0.5
    ema_decay: float = 0.999
    grad_clip: float | None = None
    precision: str = "auto"
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    val_every: int = 250
    ckpt_every: int = 250
    log_every: int = 10
    term_grads_every: int = 0  # every N steps log each loss term's weighted gradient norm on the student (0: off)
    out: str = "runs/distill"

    def validate(self, *, where: str = "") -> "DistillConfig":
        """Every field against ``srkd.distill.fields.RULES`` (the flags' limits), then the cross-field rules
        and whether the student builds at this scale; ConfigError naming the field (after ``where``)."""
        for name, rule in RULES.items():
            setattr(self, name, rule.check(getattr(self, name), name=name, where=where))
        if not self.data:
            raise ConfigError("no training data: expected --data DIR (repeatable) or data in the config file")
        from srkd.distill.methods import METHODS

        if self.method not in METHODS:
            raise ConfigError(f"{where}method: expected one of {', '.join(METHODS.names())}, got {self.method!r}")
        if self.method != "scratch" and not self.teacher:
            raise ConfigError(f"method {self.method!r} needs a teacher (--teacher NAME|FILE)")
        self._check_student(where)
        return self

    def _check_student(self, where: str) -> None:
        """The student builds at this scale (on the meta device: no memory), or ConfigError saying why."""
        import torch

        from srkd.models import build_model, parse_arch_string

        try:
            arch, hp = parse_arch_string(self.student, scale=self.scale)
        except ConfigError as exc:
            raise ConfigError(f"{where}{exc}") from None
        except SrkdError as exc:  # an unknown architecture
            raise ConfigError(f"{where}student {self.student!r}: {exc}") from None
        try:
            with torch.device("meta"):
                build_model(arch, hp)
        except SrkdError as exc:
            raise ConfigError(f"{where}student {self.student!r} at scale {self.scale}: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def parse_value(text: str) -> Any:
    """A ``K=V`` value from the command line: int, float, true/false, else the text itself."""
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


FIELDS = {f.name for f in dataclasses.fields(DistillConfig)}


def load_config(path: str | os.PathLike | None, *, overrides: dict[str, Any]) -> DistillConfig:
    """Defaults <- YAML file <- overrides (None values in overrides are ignored). Each value in the file
    is checked as it is read (a ConfigError naming the file and the key); ``validate`` checks the whole."""
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"{path}: no such config file")
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ConfigError(f"{path}: not valid YAML ({first}); expected a mapping of config keys") from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping of config keys, got {type(loaded).__name__}")
        unknown = sorted(map(str, set(loaded) - FIELDS))
        if unknown:
            raise ConfigError(f"{path}: unknown config key(s) {', '.join(unknown)}; known: {', '.join(sorted(FIELDS))}")
        if isinstance(loaded.get("data"), str):
            loaded["data"] = [loaded["data"]]
        for key, value in loaded.items():
            values[key] = RULES[key].check(value, name=key, where=f"{path}: ")
    for key, value in overrides.items():
        if key not in FIELDS:
            raise ConfigError(f"unknown config key {key!r}")
        if key == "method_args" and value and isinstance(values.get(key), dict):
            values[key] = {**values[key], **value}  # --method-arg changes those options, keeps the file's others
        elif value is not None and value != ():
            values[key] = list(value) if isinstance(value, tuple) else value
    if isinstance(values.get("data"), str):
        values["data"] = [values["data"]]
    return DistillConfig(**values)


def save_config(cfg: DistillConfig, path: str | os.PathLike) -> None:
    from srkd.fsutil import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))
