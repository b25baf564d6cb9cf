"""What ``srkd export`` can be asked for, and the flags that ask for the same again (rebuild commands)."""
from __future__ import annotations

import dataclasses
from typing import Sequence

from srkd.errors import ConfigError
from srkd.export.int8 import DEFAULT_INT8
from srkd.export.quantize import Int8Settings


@dataclasses.dataclass(frozen=True, kw_only=True)
class ExportOptions:
    """Everything ``srkd export`` can be asked for (see ``srkd export --help``).

    ``with_backends``: plug-in backends (``srkd export --with NAME``) whose artifacts to make too;
    ``spandrel``: also the student as a ``.pth`` spandrel loads (srkd.export.spandrel).
    """

    opset: int = 17
    dynamo: bool = False
    simplify: bool = False
    bf16: bool = False
    openvino: bool = False
    fp16: bool = False
    int8: bool = False
    int8_settings: Int8Settings = DEFAULT_INT8
    int8_remedies: bool = True
    calib: str | None = None
    trt: tuple[str, ...] = ()
    trt_sides: tuple[int, int, int] | None = None
    trt_batch: tuple[int, int, int] = (1, 1, 1)
    trt_opt_level: int = 3
    trt_timing_cache: str | None = None
    ncnn: bool = False
    litert: bool = False
    litert_side: int = 128
    with_backends: tuple[str, ...] = ()
    spandrel: bool = False
    images: int | None = 3
    crop: int | None = 256
    latency_sizes: Sequence[int] = (64, 128, 256)
    latency_runs: int = 10
    threads: int | None = None

    def __post_init__(self) -> None:
        from srkd.backends import BACKENDS

        trt = BACKENDS.get("tensorrt").precisions
        bad = [p for p in self.trt if p not in trt]
        if bad:
            raise ConfigError(f"--trt {','.join(bad)}: expected precisions among {', '.join(trt)}")
        if not self.trt and (self.trt_sides or tuple(self.trt_batch) != (1, 1, 1)):
            raise ConfigError("--trt-profile and --trt-batch shape TensorRT engines; they need --trt")
        if self.litert_side < 8:
            raise ConfigError(f"--litert-size {self.litert_side}: expected an LR side of at least 8 px")
        for name in self.with_backends:
            backend = BACKENDS.get(name)
            if backend.export_flags:
                raise ConfigError(f"--with {name}: {name} artifacts are asked for with {backend.export_flags}")

    def int8_recipe(self) -> Int8Settings:
        """The first int8 recipe: as asked, except that a TensorRT int8 engine (explicit quantization) needs
        symmetric activations and float biases (its ONNX parser rejects INT32 DequantizeLinear)."""
        for_trt = "int8" in self.trt
        return dataclasses.replace(self.int8_settings, symmetric=self.int8_settings.symmetric or for_trt,
                                   quantize_bias=self.int8_settings.quantize_bias and not for_trt)

    def artifact_flags(self) -> list[str]:
        """The ``srkd export`` flags that make the same set of artifacts (for rebuild commands)."""
        flags = [f"--opset {self.opset}"] + ["--dynamo"] * self.dynamo + ["--simplify"] * self.simplify
        flags += ["--bf16"] * self.bf16 + ["--openvino"] * self.openvino + ["--fp16"] * self.fp16 + ["--int8"] * self.int8
        if self.calib:
            flags.append(f"--calib {self.calib}")
        s, d = self.int8_settings, DEFAULT_INT8
        if self.int8 or "int8" in self.trt:
            flags += [f"--int8-calibration {s.calibration}"] * (s.calibration != d.calibration)
            flags += [f"--int8-images {s.images}"] * (s.images != d.images)
            flags += [f"--int8-keep-fp32 {s.keep_fp32}"] * (s.keep_fp32 != d.keep_fp32)
            flags += ["--int8-symmetric"] * (s.symmetric and not d.symmetric)
            flags += ["--no-int8-remedies"] * (not self.int8_remedies)
        if self.trt:
            flags.append(f"--trt {','.join(self.trt)}")
            if self.trt_sides:
                flags.append(f"--trt-profile {':'.join(map(str, self.trt_sides))}")
            if tuple(self.trt_batch) != (1, 1, 1):
                flags.append(f"--trt-batch {':'.join(map(str, self.trt_batch))}")
            flags.append(f"--trt-opt-level {self.trt_opt_level}")
        flags += ["--ncnn"] * self.ncnn + ["--litert"] * self.litert
        flags += [f"--litert-size {self.litert_side}"] * (self.litert and self.litert_side != 128)
        flags += [f"--with {name}" for name in self.with_backends]
        return flags + ["--spandrel"] * self.spandrel
