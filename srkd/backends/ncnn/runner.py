"""ncnn backend: a ``.param`` + ``.bin`` pair run by the ``ncnn`` Python package, one image per extractor.

On the CPU by default; on a Vulkan device when ``SRKD_NCNN_VULKAN`` names one (its index, e.g. ``0``).
``precision="fp32"`` turns every fp16/bf16 option off, so the CPU computes in fp32 throughout;
``"fp16"`` stores weights and blobs in fp16 (packed) and computes in fp32 (fp16 arithmetic off, as
Real-ESRGAN-ncnn-vulkan runs). Two facts of the Python binding shape ``infer_impl``: an ``ncnn.Mat``
made from a numpy array borrows its buffer without keeping it alive, and its channel stride is the
unpadded ``h * w``, which the Vulkan upload mishandles when ``h * w`` is not a multiple of 4 (seen on
lavapipe: wrong output for odd sizes); ``.clone()`` gives an aligned Mat ncnn owns, which avoids both.
ncnn's Vulkan probe prints several lines from C; they go to the log, not the terminal.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from srkd.backends.ncnn.param import INPUT_BLOB, OUTPUT_BLOB
from srkd.backends.probe import captured_stderr
from srkd.backends.runner import Runner
from srkd.backends.spec import OpenRequest, open_on_cpu
from srkd.errors import BackendUnavailableError, CheckpointError, ConfigError, SrkdError
from srkd.models.spec import ModelSpec

PRECISIONS = ("fp32", "fp16")
VULKAN_ENV = "SRKD_NCNN_VULKAN"
INSTALL = "pip install 'srkd[ncnn]'"


def require_ncnn() -> Any:
    """The ``ncnn`` module, or BackendUnavailableError naming the extra."""
    try:
        import ncnn
    except ImportError:
        raise BackendUnavailableError(f"ncnn is not installed ({INSTALL})") from None
    return ncnn


def vulkan_devices() -> list[str]:
    """Names of the Vulkan devices ncnn sees ([] without ncnn, a Vulkan loader or a device); its C-level
    chatter goes to the log."""
    try:
        ncnn = require_ncnn()
    except BackendUnavailableError:
        return []
    with captured_stderr("ncnn vulkan probe"):
        count = ncnn.get_gpu_count()
        return [ncnn.get_gpu_info(i).device_name() for i in range(count)]


def vulkan_choice() -> int | None:
    """The Vulkan device index ``SRKD_NCNN_VULKAN`` asks for, or None (CPU)."""
    value = os.environ.get(VULKAN_ENV, "").strip()
    if not value:
        return None
    if not value.isdigit():
        raise ConfigError(f"{VULKAN_ENV}={value!r}: expected a Vulkan device index such as 0 (unset: the CPU)")
    return int(value)


def open_request(request: OpenRequest) -> "NcnnRunner":
    """The Runner of a bundle's ncnn artifact (the registry's ``open``)."""
    return open_on_cpu(request, NcnnRunner, "ncnn")


class NcnnRunner(Runner):
    backend = "ncnn"

    def __init__(self, param: str | os.PathLike, *, spec: ModelSpec, precision: str = "fp32",
                 threads: int | None = None, vulkan: int | None = None) -> None:
        super().__init__(spec=spec, precision=precision)
        if precision not in PRECISIONS:
            raise ConfigError(f"ncnn precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        self.param, self.threads = Path(param), threads
        self.vulkan = vulkan if vulkan is not None else vulkan_choice()
        self.net: Any = None
        self.device_name = "CPU"

    def activate_impl(self) -> None:
        from srkd.host import physical_cores

        ncnn = require_ncnn()
        net = ncnn.Net()
        fp16 = self.precision == "fp16"
        net.opt.use_vulkan_compute = self.vulkan is not None
        if self.vulkan is not None:
            devices = vulkan_devices()
            if self.vulkan >= len(devices):
                raise BackendUnavailableError(f"{self.param}: {VULKAN_ENV}={self.vulkan} but ncnn sees "
                                              f"{len(devices)} Vulkan device(s) {devices}")
            net.set_vulkan_device(self.vulkan)
            self.device_name = f"Vulkan {self.vulkan}: {devices[self.vulkan]}"
        net.opt.num_threads = self.threads or physical_cores()
        net.opt.use_fp16_storage = net.opt.use_fp16_packed = fp16
        net.opt.use_fp16_arithmetic = net.opt.use_bf16_storage = False
        weights = self.param.with_suffix(".bin")
        with captured_stderr("ncnn load") as printed:
            bad = net.load_param(str(self.param)) or net.load_model(str(weights))
        if bad:
            why = printed[-1] if printed else f"ncnn returned {bad}"
            raise CheckpointError(f"{self.param}: ncnn cannot load it with {weights.name} ({why})")
        self.net = net

    def deactivate_impl(self) -> None:
        if self.net is not None:
            self.net.clear()
        self.net = None

    def runs_in(self) -> str:
        what = "fp32" if self.precision == "fp32" else "fp16 storage, fp32 arithmetic"
        return what if self.vulkan is None else f"{what} on {self.device_name}"

    def toolchain(self) -> dict[str, Any]:
        ncnn = require_ncnn()
        return {"ncnn": ncnn.__version__, "device": self.device_name, "threads": self.thread_info()["threads"]}

    def thread_info(self) -> dict[str, int]:
        from srkd.host import physical_cores

        return {"threads": self.threads or physical_cores()}

    def infer_impl(self, batch: np.ndarray) -> np.ndarray:
        import ncnn

        outs = []
        for image in batch:
            pixels = np.ascontiguousarray(image)  # alive until the clone below has copied it
            mat = ncnn.Mat(pixels).clone()  # aligned and owned by ncnn (see the module docstring)
            extractor = self.net.create_extractor()
            extractor.input(INPUT_BLOB, mat)
            ret, out = extractor.extract(OUTPUT_BLOB)
            if ret != 0:
                raise SrkdError(f"{self.param}: ncnn could not compute blob {OUTPUT_BLOB!r} (error {ret})")
            outs.append(np.array(out, dtype=np.float32, copy=True))
        return np.stack(outs)
