"""Inputs to jobs: files, folders (``recursive``) and globs; output names from a template; shards.

A folder or a glob is mirrored under its output folder (``-o``, default ``<folder>_x<scale>`` beside
it; for a glob the folder is the part before the first wildcard). A file goes beside itself, into
``-o`` when that is a folder, or to ``-o`` itself when it is the only input and ``-o`` has an image
extension. Names come from a template (default ``{stem}_x{scale}.{ext}``). A template that would
leave the output folder is refused; an output that would leave it through a symlink fails that file.
A symlink in an input folder that leads nowhere (dangling, or a loop) is skipped with its reason.
"""
from __future__ import annotations

import dataclasses
import errno
import glob
import os
import string
from pathlib import Path
from typing import Sequence

from srkd.data.io import IMAGE_EXTS, list_images
from srkd.errors import ConfigError, DataError
from srkd.serve.encode import normalise_ext

DEFAULT_TEMPLATE = "{stem}_x{scale}.{ext}"
TEMPLATE_FIELDS = ("stem", "ext", "scale", "name", "suffix")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Job:
    """One input file, the output path it maps to, and a reason when it is known to fail (``error``)
    or to be skipped (``skip``) before running."""

    src: Path
    dst: Path
    error: str = ""
    skip: str = ""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Plan:
    """The jobs of a batch, in order, and the output folders they write into."""

    jobs: list[Job]
    out_dirs: list[Path]


def scale_label(scale: int, outscale: float | None = None) -> str:
    """``4``, or the outscale without trailing zeros (``2.5``)."""
    return str(scale) if outscale is None else f"{outscale:g}"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Naming:
    """Output file names: ``template`` with {stem} {ext} {scale} {name} {suffix}; ``ext`` None keeps the input's."""

    scale: str
    template: str = DEFAULT_TEMPLATE
    ext: str | None = None

    def __post_init__(self) -> None:
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(self.template) if f is not None}
        except ValueError as exc:
            raise ConfigError(f"name template {self.template!r}: {exc}") from None
        unknown = fields - set(TEMPLATE_FIELDS)
        if unknown:
            raise ConfigError(f"name template {self.template!r}: unknown field(s) {', '.join(sorted(unknown))}; "
                              f"available: {', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)}")
        if not self.template.strip():
            raise ConfigError(f"name template {self.template!r} is empty; expected a file name such as "
                              f"{DEFAULT_TEMPLATE}")
        if "/" in self.template or "\\" in self.template or self.template.strip() in (".", ".."):
            raise ConfigError(f"name template {self.template!r} must give a plain file name (no folders); expected "
                              f"e.g. {DEFAULT_TEMPLATE}")
        if self.ext is not None:
            object.__setattr__(self, "ext", normalise_ext(self.ext))

    def render(self, src: Path) -> str:
        suffix = src.suffix.lower().lstrip(".")
        name = self.template.format(stem=src.stem, ext=self.ext or suffix, scale=self.scale, name=src.name,
                                    suffix=suffix)
        if name in ("", ".", "..") or "/" in name or "\\" in name:
            raise ConfigError(f"name template {self.template!r} gives {name!r} for {src.name}")
        try:  # the template must end in a writable extension
            normalise_ext(Path(name).suffix or "none")
        except ConfigError as exc:
            raise ConfigError(f"name template {self.template!r} gives {name!r}: {exc}; expected a template ending "
                              "in .{ext} or an image extension") from None
        return name


def _glob_root(pattern: str) -> Path:
    parts = Path(pattern).parts
    fixed = [p for p in parts[: next(i for i, p in enumerate(parts) if glob.has_magic(p))]]
    return Path(*fixed) if fixed else Path(".")


def _is_image(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in IMAGE_EXTS and not p.name.startswith(".")


def default_root(root: Path, *, label: str) -> Path:
    """``<folder>_x<label>`` beside a folder (``.`` is named after the folder it stands for)."""
    folder = root if root.name not in ("", ".", "..") else root.resolve()
    return folder.parent / f"{folder.name}_x{label}"


def broken_links(folder: Path, *, recursive: bool) -> list[tuple[Path, str]]:
    """Symlinks with an image extension in ``folder`` that lead nowhere, with why (dangling or a loop)."""
    found = []
    for p in sorted(folder.rglob("*") if recursive else folder.iterdir()):
        if not p.is_symlink() or p.suffix.lower() not in IMAGE_EXTS or p.name.startswith("."):
            continue
        try:
            os.stat(p)
            continue
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                found.append((p, "symlink loop (it leads back to itself); skipped"))
            elif exc.errno == errno.ENOENT:
                found.append((p, f"dangling symlink (its target {os.readlink(p)} does not exist); skipped"))
            else:
                found.append((p, f"symlink that cannot be followed ({exc.strerror}); skipped"))
    return found


def _within(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def plan_jobs(inputs: Sequence[str | Path], *, naming: Naming, out: Path | None = None,
              recursive: bool = False) -> Plan:
    """Map inputs to output paths (see the module docstring); clashing or in-place outputs are ConfigError."""
    out = Path(out) if out is not None else None
    single = len(inputs) == 1 and Path(inputs[0]).is_file()
    out_is_file = (out is not None and single and out.suffix.lower() in IMAGE_EXTS and not out.is_dir())
    if out_is_file and naming.ext and out.suffix.lower().lstrip(".") != naming.ext:
        raise ConfigError(f"-o {out} and --ext {naming.ext} disagree; give one of them")
    jobs: list[Job] = []
    out_dirs: list[Path] = []
    for item in inputs:
        text, src = str(item), Path(item)
        if not src.exists() and glob.has_magic(text):
            root, links = _glob_root(text), []
            files = sorted(p for p in map(Path, glob.glob(text, recursive=True)) if _is_image(p))
            if not files:
                raise DataError(f"{text}: the pattern matches no image files ({', '.join(IMAGE_EXTS)})")
        elif src.is_dir():
            root = src
            files = list_images(src, recursive=recursive)
            links = broken_links(src, recursive=recursive)
            if not files and not links:
                hint = "" if recursive else "; use --recursive for subfolders"
                raise DataError(f"{src}: no image files ({', '.join(IMAGE_EXTS)}){hint}")
        elif src.is_file():
            if out_is_file:
                jobs.append(Job(src=src, dst=out))
                continue
            dest = out if out is not None else src.parent
            if out is not None:
                if out.exists() and not out.is_dir():
                    raise ConfigError(f"-o {out}: exists and is not a folder; expected a folder, or a new image "
                                      f"file name ({', '.join(IMAGE_EXTS)}) for a single input file")
                out_dirs.append(out)
            jobs.append(_job(src, dest / naming.render(src), dest))
            continue
        else:
            raise DataError(f"{src}: no such file or folder")
        dest = out if out is not None else default_root(root, label=naming.scale)
        if dest.exists() and not dest.is_dir():
            raise ConfigError(f"-o {dest}: exists and is not a folder; for the folder or pattern {text} -o must "
                              "name a folder (new or existing)")
        if dest.resolve() == root.resolve():
            raise ConfigError(f"{root}: the output folder is the input folder; outputs would overwrite the inputs")
        out_dirs.append(dest)
        for f in files:
            if not _within(f, dest):  # never read back what an earlier run wrote inside the input tree
                jobs.append(_job(f, dest / f.relative_to(root).parent / naming.render(f), dest))
        for link, why in links:
            jobs.append(Job(src=link, dst=dest / link.relative_to(root).parent / naming.render(link), skip=why))
    _check_clashes(jobs)
    return Plan(jobs=jobs, out_dirs=list(dict.fromkeys(out_dirs)))


def _job(src: Path, dst: Path, root: Path) -> Job:
    if not _within(dst, root):
        return Job(src=src, dst=dst, error=f"output {dst} would leave the output folder {root} (through a symlink); "
                                           "not written")
    return Job(src=src, dst=dst)


def _check_clashes(jobs: list[Job]) -> None:
    seen: dict[Path, Path] = {}
    for job in jobs:
        if job.skip:
            continue
        dst = job.dst.resolve()
        if dst == job.src.resolve():
            raise ConfigError(f"{job.src}: the output would overwrite the input; choose another -o or --name")
        if dst in seen:
            raise ConfigError(f"{seen[dst]} and {job.src} would both be written to {job.dst}; "
                              "use separate -o folders or a --name template with {suffix}")
        seen[dst] = job.src


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` (0 <= i < n) -> (i, n)."""
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise ConfigError(f"--shard {text!r}: expected I/N, e.g. 0/4") from None
    if n < 1 or not 0 <= i < n:
        raise ConfigError(f"--shard {text!r}: expected 0 <= I < N")
    return i, n


def shard(plan: Plan, *, index: int, count: int) -> Plan:
    """Every ``count``-th job starting at ``index`` (the job order is sorted, so shards are stable)."""
    return Plan(jobs=plan.jobs[index::count], out_dirs=plan.out_dirs)
