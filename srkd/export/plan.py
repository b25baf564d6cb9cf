"""Which artifacts an export makes, in which order, and the manifest entry of each one made.

The backend registry says what every backend can make and from which file; ``plan_artifacts`` takes
those the options ask for (the student and ``model.onnx`` always), adds what they are made from, and
orders them: every bundle's artifacts first, then the rest in registry order, each after its source.
``record`` opens a made artifact, checks its parity against the reference, times it and returns its
``ArtifactEntry``.
"""
from __future__ import annotations

import platform

import numpy as np

from srkd import __version__
from srkd.backends import BACKENDS
from srkd.backends.spec import ArtifactSpec, Backend
from srkd.bundle.manifest import ArtifactEntry
from srkd.bundle.records import Companion, Latency, Parity
from srkd.export.context import BuildContext, Made
from srkd.export.latency import measure_latency
from srkd.export.options import ExportOptions
from srkd.export.parity import check_parity
from srkd.fsutil import sha256_file

Planned = tuple[Backend, ArtifactSpec]


def _wanted(backend: Backend, spec: ArtifactSpec, opts: ExportOptions) -> bool:
    if spec.always:
        return True
    return spec.wanted(opts) if spec.wanted is not None else backend.name in opts.with_backends


def plan_artifacts(opts: ExportOptions) -> list[Planned]:
    """The artifacts ``opts`` ask for plus their sources, in making (and manifest) order."""
    every = [(b, s) for _, b in BACKENDS.items() for s in b.artifacts]
    maker = {}
    for backend, spec in every:
        maker.setdefault(spec.file, (backend, spec))  # a file's first declaration makes it
    chosen = sorted((item for item in every if _wanted(*item, opts)), key=lambda item: not item[1].always)
    plan: list[Planned] = []

    def add(item: Planned) -> None:
        if item in plan:
            return
        source = maker.get(item[1].source) if item[1].source else None
        if source is not None and source is not item:
            add(source)
        plan.append(item)

    for item in chosen:
        add(item)
    return plan


def base_toolchain() -> dict[str, str]:
    """Versions every artifact records: srkd, Python, numpy, torch."""
    import torch

    return {"srkd": __version__, "python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__}


def record(ctx: BuildContext, backend: Backend, spec: ArtifactSpec, made: Made) -> ArtifactEntry:
    """Parity (unless the maker measured it), latency and hashes of a made artifact, as its manifest entry;
    ParityError naming the artifact when it does not reproduce the reference."""
    file, opts = made.file or spec.file, ctx.opts
    with made.open() as runner:
        parity = made.parity or check_parity(runner, ctx.reference, images=ctx.hr_images, scale=ctx.spec.scale)
        parity.require(label=ctx.out / file)
        latency = measure_latency(runner, sizes=opts.latency_sizes, runs=opts.latency_runs)
        runner_toolchain, runs_in = runner.toolchain(), runner.runs_in()
    versions = backend.versions() if backend.versions else {}
    io = {**made.io, "layout": "NCHW", "dtype": "float32", "scale": ctx.spec.scale,
          "in_channels": ctx.spec.in_channels, "out_channels": ctx.spec.out_channels,
          "value_range": [0.0, 1.0],  # every srkd graph takes [0, 1]; model.value_range is the network's own
          "size_req": ctx.spec.size_req.to_dict()}
    companions = tuple(Companion(file=c, sha256=sha256_file(ctx.path(c)), bytes=ctx.path(c).stat().st_size)
                       for c in made.companions)
    return ArtifactEntry(
        file=file, sha256=sha256_file(ctx.path(file)), bytes=ctx.path(file).stat().st_size, backend=backend.name,
        precision=spec.precision, io=io, toolchain={**base_toolchain(), **versions, **runner_toolchain, **made.toolchain},
        parity=Parity.from_dict(parity.to_dict()), latency=Latency.from_dict(latency.to_dict()), companions=companions,
        runs_in=runs_in, options=made.options, conversion=made.conversion, quantization=made.quantization,
        engine=made.engine, other=made.other,
    )
