"""Typed distillation config: YAML file gives defaults, CLI flags override, unknown keys are errors."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import yaml

from srkd.errors import ConfigError


@dataclasses.dataclass(kw_only=True)
class DistillConfig:
    """Everything one ``srkd distill`` run needs; written resolved into the run folder."""

    teacher: str | None = None
    student: str = "edsr:n_feats=32,n_blocks=8"
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

    def validate(self) -> "DistillConfig":
        if self.precision not in ("auto", "fp32", "bf16", "fp16"):
            raise ConfigError(f"precision must be auto, fp32, bf16 or fp16, got {self.precision!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"device must be auto, cpu or cuda, got {self.device!r}")
        for name in ("steps", "batch", "patch", "scale", "val_every", "ckpt_every", "log_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.term_grads_every < 0:
            raise ConfigError(f"term_grads_every must be >= 0, got {self.term_grads_every}")
        if not self.data:
            raise ConfigError("no training data: pass --data DIR (repeatable) or set data in the config file")
        if self.method != "scratch" and not self.teacher:
            raise ConfigError(f"method {self.method!r} needs a teacher (--teacher NAME|FILE)")
        if any(not 0 < m < 1 for m in self.lr_milestones):
            raise ConfigError(f"lr_milestones are fractions of the run in (0, 1), got {self.lr_milestones}")
        return self

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
    """Defaults <- YAML file <- overrides (None values in overrides are ignored)."""
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"{path}: no such config file")
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping of config keys, got {type(loaded).__name__}")
        unknown = sorted(set(loaded) - FIELDS)
        if unknown:
            raise ConfigError(f"{path}: unknown config key(s) {', '.join(unknown)}; known: {', '.join(sorted(FIELDS))}")
        values.update(loaded)
    for key, value in overrides.items():
        if key not in FIELDS:
            raise ConfigError(f"unknown config key {key!r}")
        if value is not None and value != ():
            values[key] = list(value) if isinstance(value, tuple) else value
    if isinstance(values.get("data"), str):
        values["data"] = [values["data"]]
    try:
        return DistillConfig(**values)
    except TypeError as exc:
        raise ConfigError(f"bad config: {exc}") from None


def save_config(cfg: DistillConfig, path: str | os.PathLike) -> None:
    from srkd.fsutil import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))
