"""What a backend sees during ``srkd export``: before any work (``Preflight``), and when it makes an
artifact (``BuildContext`` in, ``Made`` out)."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Hashable, TypeVar

if TYPE_CHECKING:
    import numpy as np
    from torch import nn

    from srkd.backends.runner import Runner
    from srkd.bundle.manifest import Skipped
    from srkd.bundle.records import Engine, Quantization
    from srkd.export.options import ExportOptions
    from srkd.export.parity import ParityResult
    from srkd.models.spec import ModelSpec

T = TypeVar("T")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Preflight:
    """What a backend's ``preflight`` sees before any export work: the options, the student's spec and
    the parity photos (name, HR image)."""

    opts: ExportOptions
    spec: ModelSpec
    photos: list[tuple[str, np.ndarray]]

    @property
    def hr_images(self) -> list[np.ndarray]:
        return [img for _, img in self.photos]


@dataclasses.dataclass(kw_only=True)
class Made:
    """An artifact a maker wrote: how to open it, and what the manifest records about its making.

    ``file``: the file name when the backend's declaration only gives a pattern (TensorRT engines);
    ``io``: input/output names and dims (the layout, scale and size requirement are added for every
    artifact); ``toolchain``: build facts recorded with the versions; ``parity``: when the maker
    already measured it (int8 recipes); ``companions``: files it needs beside it; ``options``,
    ``conversion``, ``quantization``, ``engine``: the built-in backends' records of how it was made;
    ``other``: a plug-in backend's own records (top-level keys of its manifest entry).
    """

    open: Callable[[], Runner]
    file: str | None = None
    io: dict[str, Any] = dataclasses.field(default_factory=dict)
    toolchain: dict[str, Any] = dataclasses.field(default_factory=dict)
    parity: ParityResult | None = None
    companions: tuple[str, ...] = ()
    options: dict[str, Any] | None = None
    conversion: dict[str, Any] | None = None
    quantization: Quantization | None = None
    engine: Engine | None = None
    other: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(kw_only=True)
class BuildContext:
    """One export in progress. Makers write into ``folder`` (a hidden temp folder renamed to ``out`` at
    the end) and may read what earlier makers made (``made``, by file name).

    ``model``/``spec``/``meta``: the student as the bundle holds it (read once from ``checkpoint``);
    ``reference``: the active torch fp32 runner every artifact is compared with; ``photos``: the
    real (name, HR image) pairs of the parity check; ``skipped``: artifacts asked for and not made.
    """

    folder: Path
    out: Path
    checkpoint: Path
    model: nn.Module
    spec: ModelSpec
    meta: dict[str, Any]
    opts: ExportOptions
    photos: list[tuple[str, np.ndarray]]
    reference: Runner
    made: dict[str, Made] = dataclasses.field(default_factory=dict)
    skipped: list[Skipped] = dataclasses.field(default_factory=list)
    _once: dict[Hashable, Any] = dataclasses.field(default_factory=dict, repr=False)

    @property
    def hr_images(self) -> list[np.ndarray]:
        return [img for _, img in self.photos]

    def path(self, file: str) -> Path:
        """Where ``file`` of the bundle is being made."""
        return self.folder / file

    def once(self, key: Hashable, make: Callable[[], T]) -> T:
        """``make()``'s result, computed on the first call for ``key`` (one conversion for several artifacts)."""
        if key not in self._once:
            self._once[key] = make()
        return self._once[key]
