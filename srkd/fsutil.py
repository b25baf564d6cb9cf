"""Atomic file writing: a temp file in the target folder, fsync, then rename; and the leftovers of killed writers.
Strict JSON (``json_safe``) and file hashes (``sha256_file``) for the files srkd writes and checks.

A temp file is named ``.<target name>.<pid>.<random><suffix>`` (suffix default ``<target suffix>.tmp``):
hidden, beside its target, and tagged with the writer's process id, so a later run can tell the
leftovers of a killed process (its pid is gone) from a write in progress (its pid runs) and remove
only the former, and only beside targets it is about to write itself.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from srkd.interrupts import uninterrupted


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temp path beside ``target``; rename it onto ``target`` only if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = None
    try:
        with uninterrupted():  # a Ctrl-C just after the temp file is made comes here, where it is removed
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", dir=target.parent,
                                       suffix=suffix if suffix is not None else target.suffix + ".tmp")
            os.close(fd)
            tmp_path = Path(tmp)
        yield tmp_path
        umask = os.umask(0)
        os.umask(umask)
        # mkstemp makes 0600, and writers that replace the file (safetensors) keep that: give the file the mode
        # open() would
        os.chmod(tmp_path, 0o666 & ~umask)
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, target)
    finally:
        if tmp_path is not None and tmp_path.exists():
            tmp_path.unlink()


def atomic_write_bytes(target: str | os.PathLike, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(target: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(target, text.encode("utf-8"))


def atomic_save(target: str | os.PathLike, writer: Callable[[Path], None], *, suffix: str | None = None) -> None:
    """Call ``writer(tmp_path)`` and move the result onto ``target`` atomically."""
    with atomic_path(target, suffix=suffix) as tmp:
        writer(tmp)


def pid_alive(pid: int) -> bool:
    """True when a process with this id runs on this machine (or may: it belongs to another user)."""
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    return True


def _writer_pid(rest: str) -> int | None:
    """The pid in what follows ``.<name>.`` in a temp name (None for names without one)."""
    head = rest.split(".", 1)[0].split("-", 1)[0]
    return int(head) if head.isdigit() else None


def stale_temps(folder: str | os.PathLike, names: Iterable[str], *, suffix: str = ".tmp") -> list[Path]:
    """Leftovers beside ``folder/<name>`` (for each of ``names``): ``.<name>.<...><suffix>`` entries whose
    writer is gone (a pid that no longer runs, or no pid in the name: an older srkd). One listing of
    ``folder``; nothing that does not have that exact shape is ever listed."""
    wanted = set(names)
    found = []
    try:
        entries = list(os.scandir(folder))
    except OSError:  # no such folder (yet): nothing left there
        return []
    for entry in entries:
        name = entry.name
        if not (name.startswith(".") and name.endswith(suffix)):
            continue
        pids = [_writer_pid(name[i + 1:]) for i, c in enumerate(name) if c == "." and i > 0 and name[1:i] in wanted]
        if not pids:
            continue
        tagged = [pid for pid in pids if pid is not None]
        if not tagged or not pid_alive(tagged[0]):
            found.append(Path(folder) / name)
    return sorted(found)


def remove_paths(paths: Iterable[Path]) -> list[Path]:
    """Delete files and folders (a killed export's half-built bundle); returns those that went."""
    gone = []
    for path in paths:
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        except FileNotFoundError:
            continue
        gone.append(path)
    return gone


def remove_stale_temps(folder: str | os.PathLike, names: Iterable[str]) -> list[Path]:
    """Delete the temp files ``atomic_path`` left beside ``folder/<name>`` when a process was killed
    mid-write (see ``stale_temps``); the targets themselves are never touched. Returns what went."""
    return remove_paths(p for p in stale_temps(folder, names) if p.is_file())


def cannot_create(path: str | os.PathLike, exc: OSError) -> str:
    """Why ``path`` (a folder to make) cannot be created, in words: a file in the way, or the OS's reason."""
    for parent in [Path(path), *Path(path).parents]:
        if parent.exists():
            if not parent.is_dir():
                return f"{parent} is a file, not a folder"
            break
    return exc.strerror or type(exc).__name__


def creatable(path: str | os.PathLike) -> str | None:
    """None when the folder ``path`` exists or could be made now; else why not (checked without making it)."""
    for parent in [Path(path), *Path(path).parents]:
        if parent.exists():
            if not parent.is_dir():
                return f"{parent} is a file, not a folder"
            if not os.access(parent, os.W_OK | os.X_OK):
                return f"{parent} is not writable"
            return None
    return None


def json_safe(obj: Any) -> Any:
    """Replace non-finite floats (anywhere in nested dicts/lists) by None, so the JSON stays strict."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
