"""What a manifest records about one artifact: parity, latency, re-checks, quantization, engines.

Numbers that were not finite when measured (an identical output's PSNR, say) are stored as null.
Only the fields srkd cannot do without are required; the rest default to None when a hand-made or
older manifest leaves them out.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from srkd.bundle.record import Record, optional


@dataclasses.dataclass(frozen=True, kw_only=True)
class Parity(Record):
    """An artifact against the torch fp32 reference (``srkd.export.parity.ParityResult``, as recorded)."""

    name: str | None = None
    precision: str | None = None
    images: int | None = None
    psnr_vs_ref: float | None = None
    psnr_vs_hr: float | None = None
    ref_psnr_vs_hr: float | None = None
    max_abs: float | None = None
    mean_abs: float | None = None
    nan_count: int | None = None
    threshold: float | None = None
    criterion: str | None = None
    passed: bool
    worst_image: int | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class LatencySize(Record):
    """Timings at one square LR ``size`` (``srkd.export.latency.SizeLatency``)."""

    size: int
    batch: int | None = None
    runs: int | None = None
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    mean_ms: float | None = None
    min_ms: float | None = None
    mp_per_s: float | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class Latency(Record):
    """Per-size timings and the host they were taken on (CPU model, threads, GPU)."""

    name: str | None = None
    cpu: str | None = None
    logical_cpus: int | None = None
    torch_threads: int | None = None
    ort_threads: int | None = optional()
    threads: int | None = None
    gpu: str | None = None
    sizes: tuple[LatencySize, ...] = ()


@dataclasses.dataclass(frozen=True, kw_only=True)
class Companion(Record):
    """A file an artifact needs beside it (an OpenVINO IR's weights), hashed like the artifact."""

    file: str
    sha256: str
    bytes: int | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class CheckRecord(Record):
    """What ``srkd check`` measured later: when, on which images, parity, latency, heatmap."""

    created: str | None = None
    data: str | None = None
    images: tuple[str, ...] = ()
    parity: Parity
    latency: Latency | None = None
    heatmap: str | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class Calibration(Record):
    """Where int8 calibration photos came from: kind calib | provenance | parity."""

    kind: str
    source: str
    images_available: int | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class Int8Attempt(Record):
    """One int8 recipe tried at export, with its figures."""

    recipe: str
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)
    passed: bool
    psnr_vs_hr: float | None = None
    fp32_psnr_vs_hr: float | None = None
    drop_db: float | None = None
    psnr_vs_ref: float | None = None
    nan_count: int | None = None
    seconds: float | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class Quantization(Record):
    """How an int8 artifact was made: the recipe kept, its calibration and every recipe tried."""

    settings: dict[str, Any] = dataclasses.field(default_factory=dict)
    fp32_nodes: tuple[str, ...] = ()
    format: str | None = None
    weights: str
    activations: str
    biases: str | None = optional()  # "int32" or "float" (absent from manifests written before it was recorded)
    calibration: Calibration
    attempts: tuple[Int8Attempt, ...] = ()


@dataclasses.dataclass(frozen=True, kw_only=True)
class LayerCheck(Record):
    """A TensorRT engine's compute layers by the precision they run in."""

    asked: str | None = None
    compute_layers: int | None = None
    by_precision: dict[str, Any] = dataclasses.field(default_factory=dict)
    offending: tuple[str, ...] = ()
    passed: bool | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class Engine(Record):
    """How a TensorRT engine was built: from which ONNX, with what, for which GPU and shapes."""

    source: str
    tensorrt: str
    compute_capability: tuple[int, ...]
    opt_level: int | None = None
    profile: dict[str, Any] = dataclasses.field(default_factory=dict)
    timing_cache: str | None = None
    strongly_typed: bool | None = None
    layer_check: LayerCheck | None = None
