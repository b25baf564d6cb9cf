"""What an export reads and writes: the student, and the bundle folder (checked first, built hidden
beside it, renamed into place when done).

A bundle is built in ``.<name>.<pid>-<hex>.partial/`` beside ``--out`` and renamed onto it only when
every artifact passed; an existing bundle being replaced waits as ``.<name>.old-<pid>/`` for that
instant. A process killed in between leaves those folders behind: the next export to the same
``--out`` removes them (when the process that made them is gone) and says so. Nothing else is touched.
"""
from __future__ import annotations

import logging
import os
import secrets
import shutil
from pathlib import Path

from srkd.bundle.manifest import MANIFEST_NAME
from srkd.errors import CheckpointError, ConfigError
from srkd.fsutil import cannot_create, pid_alive, remove_paths
from srkd.interrupts import uninterrupted

log = logging.getLogger(__name__)


def student_file(student: str | os.PathLike) -> Path:
    """The checkpoint file an export starts from: a file, or a shipped model's."""
    from srkd.zoo import ZOO, zoo_path

    if Path(student).is_file():
        return Path(student)
    if str(student) in ZOO:
        return zoo_path(str(student))
    raise CheckpointError(f"{student}: neither a checkpoint file nor a shipped model "
                          f"(shipped: {', '.join(ZOO.names())})")


def check_target(out: Path, *, overwrite: bool) -> None:
    """``out`` may become the bundle: absent, or (with ``overwrite``) an existing bundle or empty folder."""
    if not out.exists():
        return
    if not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a folder; expected a new or existing bundle folder")
    if not overwrite:
        raise ConfigError(f"{out}: already exists; pass --overwrite (overwrite=True) to replace it")
    if any(out.iterdir()) and not (out / MANIFEST_NAME).is_file():
        raise ConfigError(f"{out}: exists and is not a bundle (no {MANIFEST_NAME}); refusing to replace it")


def _leftover_pid(name: str, bundle: str) -> int | None:
    """The pid in ``.<bundle>.<pid>-<hex>.partial`` or ``.<bundle>.old-<pid>``; None for other names."""
    rest = name.removeprefix(f".{bundle}.")
    if rest == name:
        return None
    if rest.endswith(".partial"):
        head = rest.removesuffix(".partial").split("-", 1)[0]
    elif rest.startswith("old-"):
        head = rest.removeprefix("old-")
    else:
        return None
    return int(head) if head.isdigit() else None


def leftovers(out: Path) -> list[Path]:
    """Half-built and set-aside bundles of killed exports to ``out`` (their process is gone)."""
    try:
        entries = list(os.scandir(out.parent))
    except OSError:
        return []
    found = []
    for entry in entries:
        pid = _leftover_pid(entry.name, out.name)
        if pid is not None and entry.is_dir(follow_symlinks=False) and not pid_alive(pid):
            found.append(out.parent / entry.name)
    return sorted(found)


def make_workdir(out: Path) -> Path:
    """Remove what killed exports to ``out`` left, then make the hidden folder to build the bundle in."""
    removed = remove_paths(leftovers(out))
    if removed:
        log.warning("removed %d unfinished folder(s) left by an export that was killed: %s", len(removed),
                    ", ".join(str(p) for p in removed))
    tmp = out.parent / f".{out.name}.{os.getpid()}-{secrets.token_hex(4)}.partial"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()  # not mkdtemp: its 0700 mode would stick to the finished bundle
    except OSError as exc:
        raise ConfigError(f"{out}: cannot create the bundle folder here ({cannot_create(tmp, exc)}); "
                          "expected a writable location for --out") from None
    return tmp


def move_into_place(tmp: Path, out: Path) -> None:
    """Rename the finished ``tmp`` onto ``out`` (an existing bundle there is replaced, atomically enough:
    it is set aside first and put back if the rename fails)."""
    with uninterrupted():  # a Ctrl-C between the renames would leave no bundle at all
        old = None
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, old)
        try:
            os.replace(tmp, out)
        except OSError:
            if old is not None:
                os.replace(old, out)
            raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
