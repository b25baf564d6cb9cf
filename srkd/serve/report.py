"""Per-file outcomes of a batch, their counts, the summary table, the JSON report and the exit code (black-style)."""
from __future__ import annotations

import dataclasses
import enum
import json
import os
from pathlib import Path
from typing import Any

from srkd.errors import one_line
from srkd.fsutil import atomic_write_text

EXIT_OK = 0
EXIT_FAILED = 3
EXIT_INTERRUPTED = 130
REPORT_NAME = "srkd-upscale-report.json"


def report_name(shard: tuple[int, int] | None = None) -> str:
    """``srkd-upscale-report.json``, or ``srkd-upscale-report.shard-I-of-N.json`` for one shard of a job array."""
    return REPORT_NAME if shard is None else f"srkd-upscale-report.shard-{shard[0]}-of-{shard[1]}.json"


class Outcome(str, enum.Enum):
    """What happened to one input file."""

    OK = "ok"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclasses.dataclass(frozen=True, kw_only=True)
class FileResult:
    """One input file: where its output went (or would go), the outcome and why, and what was converted."""

    src: Path
    dst: Path
    outcome: Outcome
    message: str = ""
    seconds: float = 0.0
    in_size: tuple[int, int] | None = None  # (width, height)
    out_size: tuple[int, int] | None = None
    notes: tuple[str, ...] = ()  # e.g. "palette converted to RGB", "first of 3 frames only"

    @property
    def line(self) -> str:
        """``src: message`` as one printable line (the name only once when the message already has it)."""
        src, msg = one_line(str(self.src)), one_line(self.message)
        return msg if src in msg else f"{src}: {msg}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "src": str(self.src), "dst": str(self.dst), "outcome": self.outcome.value, "message": self.message,
            "seconds": round(self.seconds, 4),
            "in_size": list(self.in_size) if self.in_size else None,
            "out_size": list(self.out_size) if self.out_size else None,
            "notes": list(self.notes),
        }


@dataclasses.dataclass(kw_only=True)
class BatchReport:
    """All file results of one run, with what ran them."""

    model: str
    runner: str
    scale: int
    results: list[FileResult] = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)
    removed: list[str] = dataclasses.field(default_factory=list)  # temp files of killed runs, removed first
    report_errors: int = 0  # report files that could not be written

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
        """0 when every file was written or skipped, 3 when any failed, 130 when interrupted; 1 when only
        the report could not be written."""
        if self.interrupted:
            return EXIT_INTERRUPTED
        if self.failed:
            return EXIT_FAILED
        return 1 if self.report_errors else EXIT_OK

    @property
    def megapixels(self) -> float:
        """Output megapixels written."""
        return sum(r.out_size[0] * r.out_size[1] for r in self.results if r.out_size) / 1e6

    @property
    def skipped_other(self) -> list[FileResult]:
        """Skipped files for another reason than an existing output (e.g. a dangling symlink)."""
        return [r for r in self.results if r.outcome is Outcome.SKIPPED and r.message != "output exists"]

    def summary(self) -> str:
        """One line: counts, model, runner and time."""
        c = self.counts
        why = "output exists" if not self.skipped_other else "see the table"
        parts = [f"{c['ok']} upscaled", f"{c['skipped']} skipped ({why})", f"{c['failed']} failed"]
        tail = "; interrupted (rerun the same command to resume)" if self.interrupted else ""
        return f"{', '.join(parts)}; x{self.scale} {self.model} on {self.runner} in {self.seconds:.2f} s{tail}"

    def table(self) -> str:
        """A small text table: one row per outcome with counts, then the failed files with their reasons."""
        c, rate = self.counts, (self.count(Outcome.OK) / self.seconds if self.seconds > 0 else 0.0)
        rows = [("upscaled", c["ok"]), ("skipped", c["skipped"]), ("failed", c["failed"])]
        lines = [f"{'outcome':<10}{'files':>8}", *(f"{k:<10}{v:>8}" for k, v in rows),
                 f"{'total':<10}{len(self.results):>8}",
                 f"{rate:.2f} images/s, {self.megapixels / self.seconds if self.seconds > 0 else 0:.2f} output MP/s"]
        for title, rows in (("failed files:", self.failed), ("skipped files:", self.skipped_other)):
            if rows:
                lines.append(title)
                lines += ["  " + r.line for r in rows]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model, "runner": self.runner, "scale": self.scale, "seconds": round(self.seconds, 3),
            "counts": self.counts, "exit_code": self.exit_code, "interrupted": self.interrupted,
            "settings": self.settings, "removed_leftovers": self.removed, "files": [r.to_dict() for r in self.results],
        }

    def write(self, path: str | os.PathLike) -> Path:
        """Write the report as JSON, atomically; returns the path."""
        path = Path(path)
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2, default=str) + "\n")
        return path
