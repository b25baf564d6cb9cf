"""What each distillation setting accepts: one table for the command-line flags and the YAML config.

``RULES[name].check(value, where=...)`` returns the value (a YAML ``1e-3``, which YAML reads as text,
becomes the number) or raises ConfigError naming where it came from, the field, what it expects and
what it got; ``RULES[name].click_type()`` gives the flag the same limits (a bad flag is a usage error,
exit 2).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import click

from srkd.errors import ConfigError


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclasses.dataclass(frozen=True, kw_only=True)
class Rule:
    """One setting: its kind (int, float, str, bool, list, dict), bounds, choices, and whether None is allowed."""

    kind: type
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    choices: tuple[str, ...] = ()
    optional: bool = False
    item: type | None = None  # list items

    def expected(self) -> str:
        if self.choices:
            text = "one of " + ", ".join(self.choices)
        elif self.kind is list:
            inner = "text" if self.item is str else self._range("numbers")
            text = f"a list of {inner}"
        elif self.kind is dict:
            text = "a mapping of option names to values"
        elif self.kind is str:
            text = "text"
        else:
            text = self._range("an integer" if self.kind is int else "a number")
        return text + (" (or null)" if self.optional else "")

    def _range(self, what: str) -> str:
        if self.lo is not None and self.hi is not None:
            left, right = "(" if self.lo_open else "[", ")" if self.hi_open else "]"
            return f"{what} in {left}{self.lo:g}, {self.hi:g}{right}"
        if self.lo is not None:
            return f"{what} {'>' if self.lo_open else '>='} {self.lo:g}"
        return what

    def _number(self, value: Any, kind: type) -> Any:
        if isinstance(value, bool):
            return None
        if kind is float and isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                return None
        if kind is float and isinstance(value, int):
            value = float(value)
        if not isinstance(value, kind) or (kind is float and not math.isfinite(value)):
            return None
        if self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo):
            return None
        if self.hi is not None and (value >= self.hi if self.hi_open else value > self.hi):
            return None
        return value

    def check(self, value: Any, *, name: str, where: str) -> Any:
        """``value`` as the setting's type, or ConfigError ``"<where>: <name>: expected ..., got ..."``."""
        if value is None and self.optional:
            return None
        out: Any = None
        if self.choices:
            out = value if isinstance(value, str) and value in self.choices else None
        elif self.kind in (int, float):
            out = self._number(value, self.kind)
        elif self.kind is str:
            out = value if isinstance(value, str) and value.strip() else None
        elif self.kind is list and isinstance(value, (list, tuple)):
            items = [(v if isinstance(v, str) and v.strip() else None) if self.item is str else self._number(v, float)
                     for v in value]
            out = items if all(v is not None for v in items) else None
        elif self.kind is dict and isinstance(value, dict) and all(isinstance(k, str) for k in value):
            out = dict(value)
        if out is None:
            raise ConfigError(f"{where}{name}: expected {self.expected()}, got {_show(value)}")
        return out

    def click_type(self) -> click.ParamType:
        """A click type with the same limits (choices, ranges) for the flag of this setting."""
        if self.choices:
            return click.Choice(self.choices)
        if self.kind is int:
            return click.IntRange(self.lo, self.hi, min_open=self.lo_open, max_open=self.hi_open)
        if self.kind is float:
            return _FiniteFloat(self.lo, self.hi, min_open=self.lo_open, max_open=self.hi_open)
        return click.STRING


class _FiniteFloat(click.FloatRange):
    """A FloatRange that also refuses nan and inf."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        out = super().convert(value, param, ctx)
        if not math.isfinite(out):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return out


_POS = Rule(kind=int, lo=1)
RULES: dict[str, Rule] = {
    "teacher": Rule(kind=str, optional=True),
    "student": Rule(kind=str),
    "method": Rule(kind=str),
    "method_args": Rule(kind=dict),
    "data": Rule(kind=list, item=str),
    "val": Rule(kind=str, optional=True),
    "val_limit": Rule(kind=int, lo=1, optional=True),
    "scale": Rule(kind=int, lo=2, hi=8),
    "steps": _POS,
    "batch": Rule(kind=int, lo=1, hi=4096),
    "patch": Rule(kind=int, lo=4, hi=2048),
    "lr": Rule(kind=float, lo=0, hi=10, lo_open=True),
    "lr_milestones": Rule(kind=list, lo=0, hi=1, lo_open=True, hi_open=True),
    "lr_gamma": Rule(kind=float, lo=0, hi=1, lo_open=True),
    "ema_decay": Rule(kind=float, lo=0, hi=1, hi_open=True),
    "grad_clip": Rule(kind=float, lo=0, lo_open=True, optional=True),
    "precision": Rule(kind=str, choices=("auto", "fp32", "bf16", "fp16")),
    "seed": Rule(kind=int, lo=0, hi=2**63 - 1),
    "device": Rule(kind=str, choices=("auto", "cpu", "cuda")),
    "threads": Rule(kind=int, lo=1, hi=256, optional=True),
    "val_every": _POS,
    "ckpt_every": _POS,
    "log_every": _POS,
    "term_grads_every": Rule(kind=int, lo=0),
    "out": Rule(kind=str),
}
