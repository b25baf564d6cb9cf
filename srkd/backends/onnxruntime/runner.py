"""ONNX Runtime backend: CPU, CUDA, or the TensorRT execution provider with an engine cache.

``execution_providers("cuda")`` sets ``cudnn_conv_algo_search=HEURISTIC`` (the exhaustive default
benchmarks every conv algorithm for every new input shape, which a tiled upscaler keeps producing) and,
for fp32 artifacts, ``use_tf32=0`` (their parity is measured against fp32 at 60 dB).
``execution_providers("tensorrt", cache_dir=...)`` turns on TensorRT's engine and timing caches,
with the optimisation profile from the model's size requirement.

ONNX Runtime quietly falls back to its other providers when the one asked for fails to start or
fails during ``run()``, so a "GPU" artifact would be checked and timed on the CPU. ``OrtRunner``
turns that fallback off and refuses a session whose first active provider is not the one asked for
(BackendUnavailableError). The GPU paths are EXPERIMENTAL: not yet run on a GPU.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from srkd.backends.runner import Runner
from srkd.errors import BackendUnavailableError, ConfigError
from srkd.models.spec import ModelSpec

log = logging.getLogger(__name__)

EP_KINDS = ("cpu", "cuda", "tensorrt")
_EP_NAMES = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}
GPU_EPS = (_EP_NAMES["cuda"], _EP_NAMES["tensorrt"])
# Wheels that all install the one ``onnxruntime`` package folder: two of them side by side overwrite each other.
ORT_DISTRIBUTIONS = ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino", "onnxruntime-directml",
                     "onnxruntime-rocm", "onnxruntime-qnn", "onnxruntime-training")
GPU_HINT = "for GPUs install onnxruntime-gpu alone, not beside onnxruntime (see README, 'On a GPU'; `srkd doctor` checks)"


def _shape_text(name: str, shape: Sequence[int]) -> str:
    return f"{name}:{'x'.join(str(int(s)) for s in shape)}"


def execution_providers(
    kind: str, *, spec: ModelSpec | None = None, input_name: str = "lr", cache_dir: str | os.PathLike | None = None,
    precision: str = "fp32", device_id: int = 0,
) -> list[Any]:
    """The ``providers`` list for an InferenceSession of ``kind`` (cpu | cuda | tensorrt) on GPU ``device_id``."""
    if kind not in EP_KINDS:
        raise ConfigError(f"unknown ONNX Runtime execution provider {kind!r}; expected one of {', '.join(EP_KINDS)}")
    cpu = _EP_NAMES["cpu"]
    cuda = (_EP_NAMES["cuda"], {"device_id": int(device_id), "cudnn_conv_algo_search": "HEURISTIC",
                                "use_tf32": 0 if precision == "fp32" else 1})
    if kind == "cpu":
        return [cpu]
    if kind == "cuda":
        return [cuda, cpu]
    from srkd.backends.tensorrt.info import profile_shapes
    from srkd.models.spec import SizeReq

    profile = profile_shapes(spec.size_req if spec else SizeReq(), channels=spec.in_channels if spec else 3)
    cache = str(cache_dir or "trt_cache")
    options: dict[str, Any] = {
        "device_id": int(device_id),
        "trt_engine_cache_enable": True, "trt_timing_cache_enable": True,
        "trt_engine_cache_path": cache, "trt_timing_cache_path": cache,
        "trt_fp16_enable": precision == "fp16", "trt_int8_enable": precision == "int8",
        "trt_profile_min_shapes": _shape_text(input_name, profile.min),
        "trt_profile_opt_shapes": _shape_text(input_name, profile.opt),
        "trt_profile_max_shapes": _shape_text(input_name, profile.max),
    }
    return [(_EP_NAMES["tensorrt"], options), cuda, cpu]


def available_kinds() -> list[str]:
    """The EP kinds this onnxruntime build offers (``[]`` when onnxruntime is not installed)."""
    try:
        import onnxruntime
    except ImportError:
        return []
    names = set(onnxruntime.get_available_providers())
    return [k for k in EP_KINDS if _EP_NAMES[k] in names]


def installed_distributions() -> list[str]:
    """``name==version`` of every installed wheel that provides the ``onnxruntime`` package."""
    found = []
    for name in ORT_DISTRIBUTIONS:
        try:
            found.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return found


def mixed_install() -> str | None:
    """Why the installed onnxruntime may not be the one wanted (two wheels in one folder), else None."""
    dists = installed_distributions()
    if len(dists) < 2:
        return None
    names = " ".join(d.split("==")[0] for d in dists)
    return (f"{' and '.join(dists)} are installed side by side and share one package folder, so the providers "
            f"are whichever was installed last; keep one: pip uninstall -y {names}, then pip install onnxruntime-gpu "
            f"(GPU) or onnxruntime (CPU)")


# TensorRT wheels, newest naming first (the libs wheel is what ONNX Runtime's TensorRT EP loads).
TRT_DISTRIBUTIONS = ("tensorrt", "tensorrt-cu13", "tensorrt-cu12", "tensorrt-cu13-libs", "tensorrt-cu12-libs", "tensorrt-libs")


def installed_trt_version() -> str | None:
    """The installed TensorRT wheel's version (without importing it), or None."""
    for name in TRT_DISTRIBUTIONS:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def gpu_tag(gpu_id: int) -> str:
    """``sm89`` for GPU ``gpu_id`` (``gpu0`` when torch cannot tell)."""
    import torch

    if not torch.cuda.is_available():
        return f"gpu{gpu_id}"
    major, minor = torch.cuda.get_device_capability(gpu_id)
    return f"sm{major}{minor}"


def ort_trt_cache_dir(bundle: str | os.PathLike, *, gpu: str) -> Path:
    """Engine/timing cache folder of ONNX Runtime's TensorRT EP for ``bundle`` on GPU tag ``gpu`` (``sm89``).

    ``bundle/trt_cache/trt<ver>-<gpu>`` when the bundle folder is writable, else the same under
    ``$XDG_CACHE_HOME/srkd/trt_cache/<bundle name>-<path hash>`` (a read-only bundle must still run).
    Keyed by TensorRT version and GPU because an engine runs only where it was built.
    """
    bundle = Path(bundle)
    key = f"trt{'.'.join((installed_trt_version() or 'unknown').split('.')[:3])}-{gpu}"
    inside = bundle / "trt_cache" / key
    if _writable(inside):
        return inside
    home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    tag = hashlib.sha256(str(bundle.resolve()).encode()).hexdigest()[:12]
    outside = home / "srkd" / "trt_cache" / f"{bundle.name}-{tag}" / key
    outside.mkdir(parents=True, exist_ok=True)
    return outside


def _provider(entry: Any) -> tuple[str, dict[str, Any]]:
    return (entry[0], dict(entry[1])) if isinstance(entry, (tuple, list)) else (str(entry), {})


def _preload(ort: Any) -> None:
    """Load the CUDA/cuDNN libraries of the nvidia-* wheels before a CUDA session (ORT >= 1.21); harmless after torch."""
    if not hasattr(ort, "preload_dlls"):
        return
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            ort.preload_dlls()
    except (OSError, RuntimeError) as exc:
        log.debug("onnxruntime.preload_dlls failed: %s", exc)
    if printed.getvalue().strip():
        log.debug("onnxruntime.preload_dlls: %s", printed.getvalue().strip())


class OrtRunner(Runner):
    backend = "onnxruntime"

    def __init__(self, path: str | os.PathLike, *, spec: ModelSpec, precision: str = "fp32",
                 threads: int | None = None, providers: list[Any] | None = None) -> None:
        super().__init__(spec=spec, precision=precision)
        self.path, self.threads, self.providers = Path(path), threads, providers
        self.session = None

    def _unavailable(self, ort: Any, wanted: str, why: str) -> BackendUnavailableError:
        hints = [h for h in (mixed_install(), GPU_HINT if wanted in GPU_EPS else None) if h]
        return BackendUnavailableError(f"{self.path.name}: onnxruntime {ort.__version__} {why}"
                                       + "".join(f"; {h}" for h in hints))

    def activate_impl(self) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise BackendUnavailableError("onnxruntime is not installed (pip install 'srkd[cpu]')") from None
        providers = self.providers or ["CPUExecutionProvider"]
        wanted, options = _provider(providers[0])
        available = ort.get_available_providers()
        if wanted not in available:
            raise self._unavailable(ort, wanted, f"has no {wanted} (has: {', '.join(available)})")
        if wanted in GPU_EPS:
            _preload(ort)
        opts = ort.SessionOptions()
        if self.threads:
            opts.intra_op_num_threads = self.threads
        opts.log_severity_level = 3
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):  # ORT prints its "EP Error ... falling back" here
            session = ort.InferenceSession(str(self.path), sess_options=opts, providers=providers)
        session.disable_fallback()  # a provider failing inside run() raises instead of rerunning on the CPU
        active = session.get_providers()
        if not active or active[0] != wanted:
            said = next((ln.strip() for ln in printed.getvalue().splitlines() if "Error" in ln), "")
            raise self._unavailable(ort, wanted, f"could not start {wanted}: the session came up on "
                                    f"{', '.join(active) or 'nothing'}" + (f" ({said[:200]})" if said else ""))
        self.session = session
        self.input_name = session.get_inputs()[0].name
        self.device = f"cuda:{int(options.get('device_id', 0))}" if wanted in GPU_EPS else "cpu"

    def deactivate_impl(self) -> None:
        self.session = None

    def toolchain(self) -> dict:
        import onnxruntime as ort

        return {"onnxruntime": ort.__version__, "providers": self.session.get_providers() if self.session else [],
                "device": str(self.device)}

    def thread_info(self) -> dict[str, int]:
        from srkd.host import physical_cores

        threads = self.threads or physical_cores()  # ONNX Runtime's default: one per physical core
        return {"ort_threads": threads, "threads": threads}

    def infer_impl(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: batch})[0]
