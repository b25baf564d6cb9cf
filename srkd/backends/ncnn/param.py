"""ncnn's ``.param`` text: its layers, its input and output blobs, and renaming them.

The format: a magic line (7767517), ``layer_count blob_count``, then one line per layer:
``type name bottom_count top_count bottom... top... key=value...``. pnnx names the input blob ``in0``
and the output ``out0``; Real-ESRGAN-ncnn-vulkan feeds ``data`` and extracts ``output`` by name (Upscayl's
build prefers those names too), so srkd renames them (``rename_blobs``). Layer types with a dot
(``pnnx.Expression``, ``Tensor.reshape``, ``F.interpolate``) are operators pnnx could not lower to ncnn.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from srkd.errors import CheckpointError

MAGIC = "7767517"
INPUT_BLOB, OUTPUT_BLOB = "data", "output"  # what Real-ESRGAN-ncnn-vulkan and Upscayl read


@dataclasses.dataclass
class Layer:
    type: str
    name: str
    bottoms: list[str]
    tops: list[str]
    params: list[str]

    def line(self) -> str:
        head = f"{self.type:<24} {self.name:<24} {len(self.bottoms)} {len(self.tops)}"
        return " ".join([head, *self.bottoms, *self.tops, *self.params])


@dataclasses.dataclass
class ParamFile:
    """A parsed ``.param``: ``blob_count`` and the layers in order."""

    blob_count: int
    layers: list[Layer]

    @property
    def inputs(self) -> list[str]:
        return [t for layer in self.layers if layer.type == "Input" for t in layer.tops]

    @property
    def outputs(self) -> list[str]:
        """Blobs no layer reads (what an extractor can take as the network's output)."""
        read = {b for layer in self.layers for b in layer.bottoms}
        return [t for layer in self.layers for t in layer.tops if t not in read]

    @property
    def foreign_types(self) -> list[str]:
        """Layer types ncnn does not have (pnnx's leftovers), sorted."""
        return sorted({layer.type for layer in self.layers if "." in layer.type})

    def text(self) -> str:
        return "\n".join([MAGIC, f"{len(self.layers)} {self.blob_count}", *(layer.line() for layer in self.layers)]) + "\n"


def read_param(path: str | os.PathLike) -> ParamFile:
    """Parse ``path``; CheckpointError naming it when it is not an ncnn text ``.param``."""
    lines = [line.split() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    if len(lines) < 2 or lines[0] != [MAGIC] or len(lines[1]) != 2:
        raise CheckpointError(f"{path}: not an ncnn .param file (expected the magic {MAGIC} and a count line)")
    layers = []
    for n, tokens in enumerate(lines[2:], start=3):
        try:
            nb, nt = int(tokens[2]), int(tokens[3])
        except (IndexError, ValueError):
            raise CheckpointError(f"{path}: line {n} is not 'type name bottoms tops ...'") from None
        blobs = tokens[4: 4 + nb + nt]
        layers.append(Layer(tokens[0], tokens[1], blobs[:nb], blobs[nb:], tokens[4 + nb + nt:]))
    return ParamFile(int(lines[1][1]), layers)


def rename_blobs(param: ParamFile, renames: dict[str, str]) -> ParamFile:
    """The same graph with blobs (and the layers named like them, e.g. ``Input in0``) renamed."""
    taken = {b for layer in param.layers for b in (*layer.bottoms, *layer.tops)} - set(renames)
    clash = sorted(taken & set(renames.values()))
    if clash:
        raise CheckpointError(f"cannot rename blobs to {', '.join(clash)}: the graph already has blobs of that name")

    def new(name: str) -> str:
        return renames.get(name, name)

    return ParamFile(param.blob_count, [Layer(layer.type, new(layer.name), [new(b) for b in layer.bottoms],
                                              [new(t) for t in layer.tops], layer.params) for layer in param.layers])


def single_io(param: ParamFile, *, path: str | os.PathLike) -> tuple[str, str]:
    """The one input and one output blob; CheckpointError naming ``path`` otherwise."""
    ins, outs = param.inputs, param.outputs
    if len(ins) != 1 or len(outs) != 1:
        raise CheckpointError(f"{path}: expected one input and one output blob, found inputs {ins} and outputs {outs}")
    return ins[0], outs[0]
