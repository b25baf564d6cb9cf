"""Build the network a file declares only after checking it against the tensors the file stores.

The declared network is first built on torch's meta device (shapes, no memory), and its construction
stops as soon as it registers more parameters, or more parameter elements, than the file stores: a
header asking for ``n_blocks=100000`` is refused after a few hundred modules, not after the machine
ran out of memory. Its state-dict keys and shapes must then equal the stored ones; only then is the
real network built (as large as the file's own tensors).
"""
from __future__ import annotations

import contextlib
import logging
import os
from typing import Any, Iterator

import torch
from torch import nn
from torch.nn.modules import module as nn_module

from srkd.errors import CheckpointError, ConfigError

log = logging.getLogger(__name__)

Shapes = dict[str, tuple[int, ...]]


def stored_shapes(path: str | os.PathLike) -> Shapes:
    """Tensor name -> shape from a safetensors header (no tensor data is read)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            return {k: tuple(fh.get_slice(k).get_shape()) for k in fh.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from None


class _Overbudget(Exception):
    pass


@contextlib.contextmanager
def _budget(*, tensors: int, elements: int) -> Iterator[None]:
    """Within the block, constructing modules that register more than ``tensors`` parameters or more
    than ``elements`` parameter elements in total raises _Overbudget at once."""
    seen = {"n": 0, "numel": 0}

    def hook(module: nn.Module, name: str, param: Any) -> None:
        if param is None:
            return
        seen["n"] += 1
        seen["numel"] += param.numel()
        if seen["n"] > tensors or seen["numel"] > elements:
            raise _Overbudget(f"{seen['n']} parameter tensors, {seen['numel']:,} elements")

    handle = nn_module.register_module_parameter_registration_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def mismatch(expected: Shapes, stored: Shapes) -> str | None:
    """How ``stored`` differs from ``expected`` (missing and unexpected keys, shapes), or None."""
    missing = sorted(set(expected) - set(stored))
    extra = sorted(set(stored) - set(expected))
    shapes = [k for k in expected if k in stored and expected[k] != stored[k]]
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing tensor(s) ({', '.join(missing[:2])})")
    if extra:
        parts.append(f"{len(extra)} unexpected tensor(s) ({', '.join(extra[:2])})")
    if shapes:
        k = shapes[0]
        parts.append(f"{len(shapes)} shape mismatch(es) ({k}: stored {list(stored[k])}, declared {list(expected[k])})")
    return "; ".join(parts) or None


def build_checked(arch: str, hparams: dict[str, Any], *, stored: Shapes, source: str) -> nn.Module:
    """``arch(**hparams)`` on the CPU, after the meta-device build with the same hyperparameters fitted
    ``stored`` (names and shapes) within its budget; CheckpointError naming ``source`` otherwise."""
    from srkd.models import build_model

    elements = sum(_numel(s) for s in stored.values())
    try:
        with _budget(tensors=len(stored), elements=elements), torch.device("meta"):
            meta = build_model(arch, hparams)
    except _Overbudget as exc:
        raise CheckpointError(f"{source}: the stored tensors do not fit the {arch} its metadata declares: it needs "
                              f"more than the file's {len(stored)} tensors / {elements:,} elements (building stopped "
                              f"at {exc}, before allocating anything)") from None
    except ConfigError as exc:  # the constructor's own argument checks (build_model's ConfigError)
        raise CheckpointError(f"{source}: its metadata does not describe a valid {exc}") from None
    declared = {k: tuple(v.shape) for k, v in meta.state_dict().items()}
    problem = mismatch(declared, stored)
    if problem:
        raise CheckpointError(f"{source}: the stored tensors do not fit the {arch} its metadata declares "
                              f"({problem})")
    return build_model(arch, hparams)


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n
