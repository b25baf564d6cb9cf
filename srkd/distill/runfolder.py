"""The run folder's life: refused when it already holds a run (unless resumed or overwritten), written
only once everything is validated and loaded, and left empty-handed by a run that stops before its
first checkpoint.

Only srkd's own run files (``RUN_FILES``) and their temp files are ever deleted; anything else a user
keeps in the folder stays.
"""
from __future__ import annotations

import logging
from pathlib import Path

from srkd.distill.resume import RESUME_FILE
from srkd.errors import ConfigError
from srkd.fsutil import cannot_create, creatable, remove_paths, remove_stale_temps

log = logging.getLogger(__name__)

RUN_FILES = (RESUME_FILE, "student_best.safetensors", "student_last.safetensors", "log.jsonl", "config.yaml",
             "curves.png", "summary.json")


def existing_run_files(out: Path) -> list[str]:
    """The run files already in ``out``."""
    return [name for name in RUN_FILES if (out / name).exists()]


def check_new_run(out: Path, *, overwrite: bool) -> None:
    """A new run may use ``out`` when it is absent, holds no run, or ``overwrite`` allows replacing one."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: exists and is not a folder; expected a run folder (new or empty)")
    why = creatable(out)
    if why:
        raise ConfigError(f"--out {out}: cannot be a run folder ({why})")
    found = existing_run_files(out) if out.is_dir() else []
    if found and not overwrite:
        raise ConfigError(f"--out {out}: already holds a run ({', '.join(found)}); pass --resume {out} to continue "
                          "it, or --overwrite to replace it")


def start(out: Path, *, resume: bool, overwrite: bool) -> bool:
    """Make the folder ready for writing; returns whether this run created it. Removes the temp files
    killed runs left, and with ``overwrite`` the previous run's files (nothing else)."""
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot create the run folder ({cannot_create(out, exc)})") from None
    stale = remove_stale_temps(out, RUN_FILES)  # a kill mid-checkpoint leaves its temp file
    if stale:
        log.warning("%s: removed %d unfinished temp file(s) of a killed run: %s", out, len(stale),
                    ", ".join(p.name for p in stale))
    if overwrite and not resume:
        old = remove_paths(out / name for name in existing_run_files(out))
        if old:
            log.warning("%s: --overwrite: removed the previous run's %s", out, ", ".join(p.name for p in old))
    return created


def discard(out: Path, *, created: bool) -> None:
    """Remove what a run wrote when it stopped before its first checkpoint (nothing there to resume)."""
    gone = remove_paths(out / name for name in RUN_FILES if (out / name).exists())
    if created:
        try:
            out.rmdir()
        except OSError:  # not empty: the user's own files stay, and so does the folder
            pass
    if gone:
        log.info("%s: stopped before the first checkpoint; removed %s", out, ", ".join(p.name for p in gone))

