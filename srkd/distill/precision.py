"""Pick the training/inference precision: bf16 autocast + channels_last where the hardware runs it fast."""
from __future__ import annotations

import contextlib
import dataclasses
import logging
from functools import lru_cache

import torch

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


@dataclasses.dataclass(frozen=True)
class Precision:
    """The resolved choice, and why it was made (recorded in the run and the manifest)."""

    name: str  # fp32 | bf16 | fp16
    channels_last: bool
    reason: str

    @property
    def dtype(self) -> torch.dtype | None:
        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.name)

    def autocast(self, device: torch.device):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=self.dtype)


def resolve_precision(choice: str, device: torch.device) -> Precision:
    """``auto``: bf16 on CPUs with AMX-BF16 or AVX512-BF16 and on CUDA GPUs that support it; else fp32."""
    if choice == "fp32":
        return Precision("fp32", False, "asked for")
    if choice in ("bf16", "fp16"):
        return Precision(choice, device.type == "cpu", "asked for")
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return Precision("bf16", True, f"auto: {torch.cuda.get_device_name(device)} supports bf16")
        return Precision("fp32", False, "auto: this GPU lacks bf16")
    fast = sorted(cpu_flags() & {"amx_bf16", "avx512_bf16"})
    if fast:
        return Precision("bf16", True, f"auto: CPU has {', '.join(fast)}")
    return Precision("fp32", False, "auto: CPU has no bf16 instructions (amx_bf16/avx512_bf16)")
