"""What a backend declares: its name, the artifacts it makes and from what, where it runs, how to open one.

A backend is one module (or folder) in ``srkd/backends/`` whose ``BACKEND`` is a ``Backend``, and one
line in ``srkd/backends/__init__.py``. Everything else (export's artifact list, the bundle reader's
dispatch, ``--backend`` choices, the ``auto`` order, what ``check``/``bench``/``gate`` skip) asks the
registry. Heavy imports (onnxruntime, openvino, tensorrt) belong inside the functions, so importing
the registry costs nothing.
"""
from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    import torch

    from srkd.backends.runner import Runner
    from srkd.bundle.manifest import ArtifactEntry
    from srkd.export.context import BuildContext, Made, Preflight
    from srkd.export.options import ExportOptions
    from srkd.models.spec import ModelSpec


@dataclasses.dataclass(frozen=True)
class CanRun:
    """Whether a backend can run here; ``why`` says what is missing when it cannot."""

    ok: bool
    why: str = ""

    def __bool__(self) -> bool:
        return self.ok


YES = CanRun(True)


def cannot(why: str) -> CanRun:
    return CanRun(False, why)


def lazy(module: str, name: str, **bound: Any) -> Callable[..., Any]:
    """A function that imports ``module`` when called and calls its ``name`` with ``bound`` keywords added, so
    a backend's declaration names its heavy parts without importing them."""
    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module), name)(*args, **bound, **kwargs)

    call.__name__ = name
    return call


def cpu_only(label: str, module: str, install: str) -> Callable[[torch.device, str | None], CanRun]:
    """``can_run`` of a runtime that srkd runs on the CPU only and that imports as ``module``."""
    def can_run(device: torch.device, precision: str | None) -> CanRun:
        if device.type != "cpu":
            return cannot(f"{label} artifacts run on the CPU in srkd, not on {device}")
        if importlib.util.find_spec(module) is None:
            return cannot(f"{label} is not installed ({install})")
        return YES

    return can_run


def open_on_cpu(request: OpenRequest, runner: Callable[..., Runner], label: str) -> Runner:
    """``runner(path, spec, precision, threads)`` for a manifest entry of a CPU-only runtime; BackendUnavailableError
    naming the file for another device."""
    from srkd.errors import BackendUnavailableError

    if request.device.type != "cpu":
        raise BackendUnavailableError(f"{request.path}: {label} artifacts run on the CPU in srkd, not on {request.device}")
    return runner(request.path, spec=request.spec, precision=request.entry.precision, threads=request.threads)


@dataclasses.dataclass(frozen=True, kw_only=True)
class OpenRequest:
    """Everything needed to open a Runner for one manifest entry of the bundle at ``root``.

    ``ort_ep``: ONNX Runtime's execution provider (cpu | cuda | tensorrt); other backends ignore it.
    ``rebuild``: the ``srkd export`` line that rebuilds the bundle (for errors that need one).
    """

    root: Path
    entry: ArtifactEntry
    spec: ModelSpec
    device: torch.device
    threads: int | None = None
    ort_ep: str | None = None
    rebuild: str = ""

    @property
    def path(self) -> Path:
        return self.root / self.entry.file


@dataclasses.dataclass(frozen=True, kw_only=True)
class ArtifactSpec:
    """One artifact a backend can make: its precision, its file, the bundle file it is made from.

    ``source``: the file it is made from (None: the checkpoint handed to ``srkd export``); export makes
    that file's artifact first, recording it too. ``file`` may be a pattern when the maker names the
    file (TensorRT engines carry the GPU and version). ``make(ctx)`` writes the file into
    ``ctx.folder`` and returns a ``Made`` (or None after recording in ``ctx.skipped`` why it could not).
    ``always``: made for every bundle; else ``wanted(options)`` decides, and without ``wanted`` the
    artifact is made when ``srkd export --with NAME`` names its backend.
    """

    precision: str
    file: str
    source: str | None
    make: Callable[[BuildContext], Made | None]
    always: bool = False
    wanted: Callable[[ExportOptions], bool] | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class Diagnosis:
    """How ``srkd doctor`` examines a backend: ``report(probe)`` gathers what it can tell without raising
    (``probe=False``: no test sessions or builds), as JSON-ready data with an optional ``warnings`` list;
    ``lines(report)`` is its text; ``missing(report)`` says why ``--require NAME`` fails (None: usable),
    and without it the backend cannot be required."""

    report: Callable[[bool], dict[str, Any]]
    lines: Callable[[dict[str, Any]], list[str]]
    missing: Callable[[dict[str, Any]], str | None] | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class Backend:
    """A runtime srkd can export to and run with (see the module docstring).

    ``can_run(device, precision)``: whether its artifacts (of ``precision``, or any when None) run on
    ``device`` here, with the reason when not. ``open(request)``: an inactive Runner for a manifest
    entry. ``auto_rank``: its place in ``--backend auto`` when no latency figures decide (lower
    first). ``extra``: the pip extra that installs it. ``export_flags``: the ``srkd export`` flags that
    ask for its artifacts ("" means ``--with NAME``). ``preflight(request)``: raise, before any export
    work, when the export asked of it cannot be done here (BackendUnavailableError when what it builds
    with is missing, ConfigError for options its artifacts cannot honour). ``versions()``: toolchain versions
    recorded with each of its artifacts. ``suffixes``/``open_file``: bare files it opens outside a bundle.
    ``doctor``: what ``srkd doctor`` reports about it. ``timed_sides(options)``: the LR sides its
    fixed-shape artifacts take (LiteRT); export times every artifact at them too, so ``--backend auto``
    compares at a size they all ran.
    """

    name: str
    about: str
    artifacts: tuple[ArtifactSpec, ...]
    can_run: Callable[[torch.device, str | None], CanRun]
    open: Callable[[OpenRequest], Runner]
    auto_rank: int = 50
    extra: str | None = None
    export_flags: str = ""
    preflight: Callable[[Preflight], None] | None = None
    versions: Callable[[], dict[str, str]] | None = None
    suffixes: tuple[str, ...] = ()
    open_file: Callable[[Path, torch.device, int | None], Runner] | None = None
    doctor: Diagnosis | None = None
    timed_sides: Callable[[ExportOptions], tuple[int, ...]] | None = None

    @property
    def precisions(self) -> tuple[str, ...]:
        """The precisions of the artifacts it can make, in declaration order."""
        return tuple(dict.fromkeys(a.precision for a in self.artifacts))

    @property
    def install(self) -> str:
        """How to install it (``pip install 'srkd[extra]'``), or "" when it needs nothing extra."""
        return f"pip install 'srkd[{self.extra}]'" if self.extra else ""
