"""Where a batch writes: output folders checked before the first image, and what killed runs left there.

``check_outputs`` makes every output folder (and the report's folder) or says in one line why it
cannot (a file in the way, no permission, a read-only file system), before any image is read.
``leftovers`` finds the temp files a killed ``srkd upscale`` left beside the outputs this run is about
to write (``.<name>.<pid>.<random>.<ext>.tmp``, see srkd.fsutil), and only those whose writer is gone.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from srkd.errors import ConfigError
from srkd.fsutil import cannot_create, creatable, stale_temps
from srkd.serve.plan import Plan


def ensure_folder(folder: Path, *, what: str) -> None:
    """Create ``folder`` (and its parents) or raise ConfigError saying why it cannot be an output folder."""
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{folder}: exists and is not a folder; expected a folder for the {what}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{folder}: cannot create the folder for the {what} ({cannot_create(folder, exc)})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"{folder}: not writable; expected a folder the {what} can be written to")


def check_outputs(plan: Plan, *, reports: Iterable[Path]) -> None:
    """Every output folder of ``plan`` and the folders of the ``reports`` exist (made now, after every
    check passed: a refused run makes no folder) and are writable."""
    reports = list(reports)
    for report in reports:
        if report.is_dir():
            raise ConfigError(f"--report {report}: is a folder; expected a file name for the JSON report")
    for folder, what in [*((f, "outputs (-o)") for f in plan.out_dirs), *((r.parent, "report") for r in reports)]:
        why = creatable(folder)
        if why:
            raise ConfigError(f"{folder}: cannot be the folder for the {what} ({why})")
    for job in plan.jobs:
        if not job.error and not job.skip and job.dst.parent.exists() and not job.dst.parent.is_dir():
            raise ConfigError(f"{job.dst.parent}: exists and is not a folder; expected the output folder of {job.src}")
    for folder in plan.out_dirs:
        ensure_folder(folder, what="outputs (-o)")
    for report in reports:
        ensure_folder(report.parent, what="report (--report)")


def leftovers(plan: Plan, *, reports: Iterable[Path]) -> list[Path]:
    """Temp files of killed runs beside this plan's outputs and reports (their writers are gone)."""
    by_folder: dict[Path, set[str]] = {}
    for job in plan.jobs:
        by_folder.setdefault(job.dst.parent, set()).add(job.dst.name)
    for report in reports:
        by_folder.setdefault(report.parent, set()).add(report.name)
    found: list[Path] = []
    for folder, names in by_folder.items():
        found += stale_temps(folder, names)
    return [p for p in found if p.is_file()]
