"""Files behind fsspec URLs for ``--ray``: planning jobs over URL folders and globs, reading, writing.

Local paths go through the local planner (srkd.serve.plan) unchanged, so both modes map inputs to
outputs the same way; anything with ``://`` (``s3://``, ``gs://``, ``file://``...) goes through
fsspec with the same rules: folders and globs mirrored under ``-o`` (default ``<folder>_x<scale>``
on the same filesystem), names from the template.
"""
from __future__ import annotations

import glob
import json
import posixpath
from pathlib import Path, PurePosixPath
from typing import Sequence

from srkd.data.io import IMAGE_EXTS
from srkd.errors import ConfigError, DataError, ImageReadError
from srkd.fsutil import atomic_write_bytes
from srkd.serve.plan import Naming, plan_jobs

Job = tuple[str, str, str]  # (src, dst, error)


def is_url(ref: str) -> bool:
    """True for ``proto://...`` references (``file://`` included)."""
    return "://" in str(ref)


def _fs(url: str):
    import fsspec

    return fsspec.core.url_to_fs(url)


def read_bytes(ref: str) -> bytes:
    """The bytes of a local file or a URL; ImageReadError naming it when unreadable."""
    try:
        if not is_url(ref):
            return Path(ref).read_bytes()
        fs, path = _fs(ref)
        return fs.cat_file(path)
    except (OSError, ValueError) as exc:
        raise ImageReadError(f"{ref}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None


def write_bytes(ref: str, data: bytes) -> None:
    """Write ``data`` to a local path (atomically) or a URL (one upload; folders made as needed)."""
    if not is_url(ref):
        atomic_write_bytes(ref, data)
        return
    from fsspec.implementations.local import LocalFileSystem

    fs, path = _fs(ref)
    if isinstance(fs, LocalFileSystem):
        atomic_write_bytes(path, data)
        return
    fs.makedirs(posixpath.dirname(path), exist_ok=True)
    fs.pipe_file(path, data)


def write_report(report, target: str) -> None:
    """Write a BatchReport's JSON to a local path or a URL."""
    if is_url(target):
        write_bytes(target, (json.dumps(report.to_dict(), indent=2, default=str) + "\n").encode())
    else:
        report.write(target)


def _glob_root(path: str) -> str:
    parts = path.split("/")
    i = next(i for i, p in enumerate(parts) if glob.has_magic(p))
    return "/".join(parts[:i]) or "/"


def _is_image(path: str) -> bool:
    name = posixpath.basename(path)
    return posixpath.splitext(name)[1].lower() in IMAGE_EXTS and not name.startswith(".")


def _existing(fs, root: str) -> set[str]:
    return {fs.unstrip_protocol(p) for p in fs.find(root)} if fs.exists(root) else set()


def plan_urls(inputs: Sequence[str], *, out: str | None, recursive: bool, template: str, ext: str | None,
              label: str) -> tuple[list[Job], list[str], set[str]]:
    """(jobs, output folders, outputs that exist already) for local paths or fsspec URLs."""
    naming = Naming(scale=label, template=template, ext=ext)
    if not any(is_url(i) for i in inputs) and not (out and is_url(out)):
        plan = plan_jobs(list(inputs), naming=naming, out=Path(out) if out else None, recursive=recursive)
        jobs = [(str(j.src.resolve()), str(j.dst.resolve()), j.error) for j in plan.jobs]
        return jobs, [str(d.resolve()) for d in plan.out_dirs], {d for _, d, _ in jobs if Path(d).exists()}
    jobs: list[Job] = []
    out_dirs: list[str] = []
    existing: set[str] = set()
    for item in inputs:
        fs, path = _fs(item)
        if glob.has_magic(path):
            root, files = _glob_root(path), [p for p in fs.glob(path) if fs.isfile(p)]
        elif fs.isdir(path):
            root, files = path.rstrip("/"), fs.find(path, maxdepth=None if recursive else 1)
        elif fs.isfile(path):
            root, files = posixpath.dirname(path), [path]
        else:
            raise DataError(f"{item}: no such file or folder")
        files = sorted(f for f in files if _is_image(f))
        if not files:
            raise DataError(f"{item}: no image files ({', '.join(IMAGE_EXTS)})")
        single = fs.isfile(path) and len(inputs) == 1
        out_url = out or (fs.unstrip_protocol(root) if single else fs.unstrip_protocol(root) + f"_x{label}")
        ofs, opath = _fs(out_url)
        if not single or out:
            out_dirs.append(out_url)
        existing |= _existing(ofs, opath)
        for f in files:
            rel_dir = posixpath.dirname(posixpath.relpath(f, root))
            dst = posixpath.normpath(posixpath.join(opath, rel_dir, naming.render(PurePosixPath(f))))
            jobs.append((fs.unstrip_protocol(f), ofs.unstrip_protocol(dst), ""))
    seen: dict[str, str] = {}
    for src, dst, _ in jobs:
        if dst == src:
            raise ConfigError(f"{src}: the output would overwrite the input; choose another -o or --name")
        if dst in seen:
            raise ConfigError(f"{seen[dst]} and {src} would both be written to {dst}; use separate -o folders")
        seen[dst] = src
    return jobs, list(dict.fromkeys(out_dirs)), existing
