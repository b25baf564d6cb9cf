"""The run folder's records: the JSONL log, its PNG plot of loss and validation curves, and ``summary.json``."""
from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path
from typing import Any

from srkd.fsutil import atomic_save, atomic_write_text
from srkd.interrupts import uninterrupted

log = logging.getLogger(__name__)


class RunLog:
    """Appends one JSON object per line; reads the whole history back for plots and resume."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def write(self, record: dict[str, Any]) -> None:
        with open(self.path, "a") as fh:
            fh.write(json.dumps(record) + "\n")

    def begin(self, *, resumed_at: int | None) -> None:
        """A new run's log starts empty; a run resumed at step ``resumed_at`` keeps its records up to it."""
        if resumed_at is None:
            self.path.unlink(missing_ok=True)
            return
        self.truncate_after(resumed_at)
        log.info("resumed %s at step %d", self.path.parent, resumed_at)

    def records(self) -> list[dict[str, Any]]:
        return read_jsonl(self.path)

    def truncate_after(self, step: int) -> None:
        """Drop records past ``step`` (written after the checkpoint a resume starts from)."""
        keep = [r for r in self.records() if r.get("step", 0) <= step]
        atomic_save(self.path, lambda tmp: tmp.write_text("".join(json.dumps(r) + "\n" for r in keep)))

    def plot(self, path: str | os.PathLike) -> None:
        """Training loss and validation PSNR against step, as a PNG. A Ctrl-C meanwhile comes when it is
        done: one inside matplotlib's first import would become an ImportError, or be lost."""
        with uninterrupted():
            self._plot(path)

    def _plot(self, path: str | os.PathLike) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        recs = self.records()
        train = [r for r in recs if "loss" in r]
        val = [r for r in recs if "val_psnr" in r]
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
        ax1.plot([r["step"] for r in train], [r["loss"] for r in train], lw=1)
        ax1.set(xlabel="step", ylabel="loss", title="training loss", yscale="log")
        ax2.plot([r["step"] for r in val], [r["val_psnr"] for r in val], marker="o")
        ax2.set(xlabel="step", ylabel="PSNR (dB, Y)", title="validation PSNR (EMA)")
        fig.tight_layout()
        atomic_save(path, lambda tmp: fig.savefig(tmp, format="png", dpi=90))
        plt.close(fig)


@dataclasses.dataclass
class TrainResult:
    out: Path
    steps: int
    best_psnr: float | None
    last_psnr: float | None
    precision: str
    sec_per_step: float
    data_wait_share: float
    world_size: int = 1
    effective_batch: int = 0


def write_summary(path: str | os.PathLike, result: TrainResult, *, precision_reason: str) -> None:
    """``summary.json``: the result's fields plus why the precision was chosen."""
    summary = {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(result).items()}
    summary["precision_reason"] = precision_reason
    atomic_write_text(path, json.dumps(summary, indent=2))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every record of a JSON-lines file (none if it is absent); a line cut by a kill mid-append is skipped."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out
