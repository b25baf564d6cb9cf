"""What this machine's torch and CPU offer: CUDA build, every GPU (compute capability, memory, real
bf16), CPU model, the instruction sets srkd's fast paths use, and thread counts."""
from __future__ import annotations

import logging
import os
from typing import Any

import torch

log = logging.getLogger(__name__)

# CPU flags (as /proc/cpuinfo spells them) that decide bf16 and int8 speed on the CPU.
CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8",
             "avx512_fp16")


def _gpu(index: int, arch_list: list[str]) -> dict[str, Any]:
    props = torch.cuda.get_device_properties(index)
    cc = (int(props.major), int(props.minor))
    sm = f"sm_{cc[0]}{cc[1]}"
    ptx = [a for a in arch_list if a.startswith("compute_") and int(a.split("_")[1]) <= cc[0] * 10 + cc[1]]
    return {"index": index, "name": str(props.name), "compute_capability": list(cc),
            "memory_gib": round(int(props.total_memory) / 2**30, 1),
            "bf16": cc >= (8, 0),  # bf16 units from Ampere on; torch emulates it below, slower than fp32
            "fp16_tensor_cores": cc >= (7, 0), "tf32": cc >= (8, 0),
            "torch_kernels": not arch_list or sm in arch_list or bool(ptx)}


def torch_info() -> dict[str, Any]:
    """torch's version and CUDA build, whether it sees a GPU (and if not, why), and every GPU."""
    cuda_build = torch.version.cuda
    info: dict[str, Any] = {"version": torch.__version__, "cuda_build": cuda_build, "cudnn": None,
                            "cuda_available": False, "gpus": [], "why": None}
    if not cuda_build:
        info["why"] = "this torch is a CPU-only build; install a CUDA build (README, 'On a GPU')"
        return info
    try:
        available = torch.cuda.is_available()
    except RuntimeError as exc:  # a broken driver install
        available, info["why"] = False, f"CUDA initialisation failed: {str(exc).splitlines()[0][:200]}"
    if not available:
        info["why"] = info["why"] or (f"this torch has CUDA {cuda_build} but sees no GPU (no NVIDIA driver, a driver "
                                      "too old for this CUDA, or CUDA_VISIBLE_DEVICES hides them)")
        return info
    info["cuda_available"] = True
    info["cudnn"] = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    arch_list = list(torch.cuda.get_arch_list())
    info["gpus"] = [_gpu(i, arch_list) for i in range(torch.cuda.device_count())]
    return info


def cpu_info() -> dict[str, Any]:
    """CPU model, cores, the CPU flags of CPU_FLAGS and thread counts."""
    from srkd.distill.precision import cpu_flags
    from srkd.host import cpu_model, physical_cores

    flags = cpu_flags()
    have = {f: f in flags for f in CPU_FLAGS}
    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = os.cpu_count()
    return {"model": cpu_model(), "logical_cpus": os.cpu_count(), "physical_cores": physical_cores(),
            "usable_cpus": affinity, "torch_threads": torch.get_num_threads(), "flags": have,
            "bf16": have["avx512_bf16"] or have["amx_bf16"], "int8_dot": have["avx512_vnni"] or have["avx_vnni"]
            or have["amx_int8"], "flags_known": bool(flags)}
