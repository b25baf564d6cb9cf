"""Export an srkd model to one self-contained ``.onnx`` file (weights inside, no external data).

The graph takes ``lr`` (float32 NCHW RGB in [0, 1], dims ``batch, C, height, width``) and returns
``sr`` (dims ``batch, C, out_height, out_width``). Both exporters are supported: the TorchScript one
(``dynamo=False``) and the torch.export-based one (``dynamo=True``). ``simplify=True`` runs onnxslim
over the graph (``pip install 'srkd[slim]'``).
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import onnx
import torch
from torch import nn

from srkd import __version__
from srkd.errors import BackendUnavailableError, SrkdError
from srkd.fsutil import atomic_path
from srkd.models import describe

log = logging.getLogger(__name__)

INPUT_NAME, OUTPUT_NAME = "lr", "sr"
INPUT_DIMS = ("batch", None, "height", "width")  # None: the channel count stays fixed
OUTPUT_DIMS = ("batch", None, "out_height", "out_width")


def _dummy_input(model: nn.Module) -> torch.Tensor:
    spec = describe(model)
    req = spec.size_req
    side = max(32, req.minimum)
    side += (-side) % req.multiple_of
    return torch.rand(2, spec.in_channels, side, side, generator=torch.Generator().manual_seed(0))


def _export_torchscript(model: nn.Module, x: torch.Tensor, opset: int) -> onnx.ModelProto:
    buf = io.BytesIO()
    axes = {i: n for i, n in enumerate(INPUT_DIMS) if n}
    out_axes = {i: n for i, n in enumerate(OUTPUT_DIMS) if n}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the legacy exporter announces itself
        torch.onnx.export(
            model, (x,), buf, dynamo=False, opset_version=opset, input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME], dynamic_axes={INPUT_NAME: axes, OUTPUT_NAME: out_axes},
            do_constant_folding=True,
        )
    return onnx.load_model_from_string(buf.getvalue())


@contextlib.contextmanager
def _quiet_loggers(*names: str):
    """Raise the given third-party loggers to ERROR for the duration (exporter chatter, not problems)."""
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _export_dynamo(model: nn.Module, x: torch.Tensor, opset: int, minimum: int) -> onnx.ModelProto:
    from torch.export import Dim

    shapes = ({0: Dim("batch"), 2: Dim("height", min=minimum), 3: Dim("width", min=minimum)},)
    chatter = io.StringIO()  # onnxscript prints progress; keep it out of the caller's stdout
    with contextlib.redirect_stdout(chatter), warnings.catch_warnings(), _quiet_loggers("torch.onnx", "onnxscript"):
        warnings.simplefilter("ignore", FutureWarning)
        program = torch.onnx.export(
            model, (x,), dynamo=True, opset_version=opset, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
            dynamic_shapes=shapes, verbose=False, optimize=True, external_data=False,
        )
    if chatter.getvalue().strip():
        log.debug("torch.onnx: %s", chatter.getvalue().strip())
    # model_proto holds every initializer in memory; nothing refers to an external file.
    return program.model_proto


def _name_dims(proto: onnx.ModelProto) -> None:
    """Give the graph's input and output the fixed dim names (the dynamo exporter writes '4*height')."""
    for value, names in ((proto.graph.input[0], INPUT_DIMS), (proto.graph.output[0], OUTPUT_DIMS)):
        for dim, name in zip(value.type.tensor_type.shape.dim, names):
            if name:
                dim.dim_param = name


def _has_external_data(proto: onnx.ModelProto) -> bool:
    return any(t.data_location == onnx.TensorProto.EXTERNAL for t in proto.graph.initializer)


def simplify_proto(proto: onnx.ModelProto, *, label: str | os.PathLike = "") -> onnx.ModelProto:
    """The graph simplified by onnxslim (constant folding, dead nodes, fusions); shapes stay dynamic."""
    try:
        import onnxslim
    except ImportError:
        raise BackendUnavailableError(f"{label}: --simplify needs onnxslim (pip install 'srkd[slim]')") from None
    before = len(proto.graph.node)
    with contextlib.redirect_stdout(io.StringIO()):
        slim = onnxslim.slim(proto)
    log.info("%s: onnxslim %d -> %d nodes", label, before, len(slim.graph.node))
    return slim


def export_module(
    module: nn.Module, path: str | os.PathLike, *, example: torch.Tensor, opset: int = 17, dynamo: bool = False,
    minimum: int = 1, simplify: bool = False, label: str = "", props: dict[str, str] | None = None,
    doc: str = "",
) -> onnx.ModelProto:
    """Export any NCHW image module (input ``lr``, output ``sr``, batch/height/width dynamic) to the
    single file ``path``, atomically; returns the graph, which passed ``onnx.checker``.

    ``minimum``: smallest input side; ``props``: ONNX metadata properties; ``doc``: the doc string.
    """
    path = Path(path)
    module = module.eval().to("cpu", torch.float32)
    exporter = "dynamo" if dynamo else "torchscript"
    try:
        with torch.no_grad():
            proto = _export_dynamo(module, example, opset, minimum) if dynamo else _export_torchscript(module, example, opset)
    except Exception as exc:  # exporters raise many unrelated types
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise SrkdError(f"{path}: ONNX export ({exporter}, opset {opset}) of {label or type(module).__name__} "
                        f"failed: {first}") from exc
    if _has_external_data(proto):
        raise SrkdError(f"{path}: the {exporter} exporter produced external weight data; expected one self-contained file")
    if simplify:
        proto = simplify_proto(proto, label=path)
    _name_dims(proto)
    if props:
        onnx.helper.set_model_props(proto, props)
    proto.producer_name, proto.doc_string = "srkd", doc
    _save_checked(proto, path)
    return proto


def _save_checked(proto: onnx.ModelProto, path: Path) -> None:
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as exc:
        raise SrkdError(f"{path}: exported ONNX graph fails onnx.checker: {str(exc).splitlines()[0]}") from None
    with atomic_path(path) as tmp:
        onnx.save_model(proto, str(tmp), save_as_external_data=False)


def export_onnx(
    model: nn.Module, path: str | os.PathLike, *, opset: int = 17, dynamo: bool = False,
    metadata: dict[str, Any] | None = None, simplify: bool = False,
) -> dict[str, Any]:
    """Export ``model`` (float32 NCHW [0, 1] in and out) to the single file ``path``, atomically.

    Batch, height and width are dynamic; the output's spatial dims are named apart from the input's.
    ``metadata`` (default: the model's descriptor) is stored as JSON under the ONNX metadata key
    ``srkd``. The result passes ``onnx.checker.check_model``. Returns what the manifest records about
    the export: exporter, opset, input/output names and dims, whether onnxslim ran.
    """
    path = Path(path)
    spec = describe(model)
    exporter = "dynamo" if dynamo else "torchscript"
    meta = metadata if metadata is not None else spec.to_dict()
    proto = export_module(model, path, example=_dummy_input(model), opset=opset, dynamo=dynamo,
                          minimum=spec.size_req.minimum, simplify=simplify, label=model.arch,
                          props={"srkd": json.dumps(meta), "srkd_version": __version__},
                          doc=f"{model.arch} x{spec.scale}, exported with {exporter}")
    opset_used = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), opset)
    log.info("%s: exported %s with %s, opset %d%s", path, model.arch, exporter, opset_used, ", simplified" if simplify else "")
    return {
        "exporter": exporter, "opset": opset_used, "simplified": simplify,
        "input": {"name": INPUT_NAME, "dims": _dims(proto.graph.input[0])},
        "output": {"name": OUTPUT_NAME, "dims": _dims(proto.graph.output[0])},
    }


def _dims(value: onnx.ValueInfoProto) -> list[str | int]:
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]
