"""Per-file outcomes of a batch, their counts, the JSON report and the exit code (black-style)."""
from __future__ import annotations

import dataclasses
import enum
import json
import os
from pathlib import Path
from typing import Any

from srkd.fsutil import atomic_write_text

EXIT_OK = 0
EXIT_FAILED = 3
REPORT_NAME = "srkd-upscale-report.json"


class Outcome(str, enum.Enum):
    """What happened to one input file."""

    OK = "ok"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclasses.dataclass(frozen=True, kw_only=True)
class FileResult:
    """One input file: where its output went (or would go), the outcome and why."""

    src: Path
    dst: Path
    outcome: Outcome
    message: str = ""
    seconds: float = 0.0
    in_size: tuple[int, int] | None = None  # (width, height)
    out_size: tuple[int, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "src": str(self.src), "dst": str(self.dst), "outcome": self.outcome.value, "message": self.message,
            "seconds": round(self.seconds, 4),
            "in_size": list(self.in_size) if self.in_size else None,
            "out_size": list(self.out_size) if self.out_size else None,
        }


@dataclasses.dataclass(kw_only=True)
class BatchReport:
    """All file results of one run, with what ran them."""

    model: str
    runner: str
    scale: int
    results: list[FileResult] = dataclasses.field(default_factory=list)
    seconds: float = 0.0

    def add(self, result: FileResult) -> None:
        self.results.append(result)

    def count(self, outcome: Outcome) -> int:
        return sum(r.outcome is outcome for r in self.results)

    @property
    def counts(self) -> dict[str, int]:
        """``{"ok": n, "skipped": n, "failed": n}``."""
        return {o.value: self.count(o) for o in Outcome}

    @property
    def failed(self) -> list[FileResult]:
        return [r for r in self.results if r.outcome is Outcome.FAILED]

    @property
    def exit_code(self) -> int:
        """0 when every file was written or skipped, 3 when any failed."""
        return EXIT_FAILED if self.failed else EXIT_OK

    def summary(self) -> str:
        """One line: counts, model, runner and time."""
        c = self.counts
        parts = [f"{c['ok']} upscaled", f"{c['skipped']} skipped (output exists)", f"{c['failed']} failed"]
        return f"{', '.join(parts)}; x{self.scale} {self.model} on {self.runner} in {self.seconds:.2f} s"

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model, "runner": self.runner, "scale": self.scale, "seconds": round(self.seconds, 3),
            "counts": self.counts, "exit_code": self.exit_code, "files": [r.to_dict() for r in self.results],
        }

    def write(self, path: str | os.PathLike) -> Path:
        """Write the report as JSON, atomically; returns the path."""
        path = Path(path)
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")
        return path
