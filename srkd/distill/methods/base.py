"""What every KD method is: ``forward(batch) -> {"loss": ..., named parts}``."""
from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

import torch
from torch import nn

from srkd.distill.teacher import FrozenTeacher
from srkd.errors import ConfigError, TrainingError

C = TypeVar("C")


def parse_method_args(cls: type[C], args: dict[str, Any], *, method: str) -> C:
    """Build a method's config dataclass from ``method_args``; unknown keys are errors."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(args) - names)
    if unknown:
        raise ConfigError(f"method {method}: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    return cls(**args)


class Method(nn.Module):
    """Base of KD methods. Holds the student (trained), the frozen teacher, and any trainable helpers.

    Trainable helpers are submodules of the method, never of the student, so exports drop them.
    """

    name = "method"
    needs_teacher = True  # builds without a teacher when False (scratch)
    needs_features = False  # uses the feature-access contract of teacher and student (docs/design.md, "Feature access")
    updates_per_step = 1  # optimizer steps per iteration; >1: forward(batch, phase=0..n-1), a step after each

    cfg: Any  # the method's options dataclass (parse_method_args), set by each method

    def __init__(self, *, student: nn.Module, teacher: FrozenTeacher | None) -> None:
        super().__init__()
        self.student = student
        self.teacher = teacher

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        raise NotImplementedError(f"{type(self).__name__} must implement forward(batch)")

    def resolved_args(self) -> dict[str, Any]:
        """Every option as this run uses it, given or default: config.yaml records them all, so that a resumed
        run keeps its settings even where a later srkd changed a default."""
        return dataclasses.asdict(self.cfg)

    def term_weights(self) -> dict[str, float]:
        """The weight of each named loss part in ``loss`` (for the per-term gradient-norm log)."""
        return {}

    def helper_parameters(self) -> list[nn.Parameter]:
        """Trainable parameters beyond the student's (e.g. MiPKD's mixers)."""
        student_ids = {id(p) for p in self.student.parameters()}
        teacher_ids = {id(p) for p in self.teacher.parameters()} if self.teacher is not None else set()
        return [p for p in self.parameters() if p.requires_grad and id(p) not in student_ids | teacher_ids]

    def helper_state(self) -> dict[str, torch.Tensor]:
        """State of the method's own parts (for resume), without student and teacher."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith(("student.", "teacher."))}

    def load_helper_state(self, state: dict[str, torch.Tensor], *, where: object) -> None:
        """Restore ``helper_state()``'s dict; TrainingError naming ``where`` when it does not fit this method."""
        hint = ("; resume with the method options the run started with (--method-arg KEY=VALUE; before 2026-12-03 "
                "mipkd's defaults were stages=4, lambda_block=0.1)")
        try:
            missing, unexpected = self.load_state_dict(state, strict=False)
        except RuntimeError as exc:  # a saved tensor of another shape
            raise TrainingError(f"{where}: the method's saved state does not fit this config "
                                f"({str(exc).splitlines()[-1].strip()}){hint}") from None
        helper_missing = [k for k in missing if not k.startswith(("student.", "teacher."))]
        if helper_missing or unexpected:
            raise TrainingError(f"{where}: the method's saved state does not fit this config "
                                f"(missing {helper_missing[:3]}, unexpected {unexpected[:3]}){hint}")
