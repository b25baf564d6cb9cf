"""Fuzz: checkpoint headers and metadata (safetensors, ONNX) through the real CLI, under a memory limit.

Every example is a small file whose ``srkd`` metadata, tensor shapes or safetensors header were
mutated (wrong types, missing fields, negative, huge and non-finite numbers, non-JSON); ``srkd
inspect`` (safetensors) or ``srkd upscale`` (ONNX) must end in success or one line naming the file
and what was expected, within the sandbox's memory limit, leaving nothing behind.
"""
from __future__ import annotations

import copy
import json
import shutil
import struct

import onnx
import pytest
import torch
from fuzzlib import Sandbox, budget, check, files_under, photo_png, tiny_student
from hypothesis import given
from hypothesis import strategies as st
from onnx import TensorProto, helper
from safetensors.torch import save_file

from srkd.models.checkpoint import read_metadata

NUMBERS = st.sampled_from([0, -1, 1, 2, 3, 4, 5, 8, 9, 17, 512, 513, 4096, 4097, 100_000, 2**31, 2**63, 2**80,
                           -(2**40), 0.5, -0.0, 1e308, float("inf"), float("-inf"), float("nan"), True, False])
SCALARS = st.one_of(NUMBERS, st.integers(-10, 10), st.floats(allow_nan=True), st.text(max_size=12), st.none(),
                    st.sampled_from(["edsr", "rcan", "swinir", "imdn", "bicubic", "spandrel", "", "4", "1e3"]))
JSON = st.recursive(SCALARS, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids,
                                                                                          max_size=4), max_leaves=8)


def _paths(obj, prefix=()):
    """Every location in a JSON tree (dict keys and list indices), for mutations."""
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


@st.composite
def mutated(draw, valid):
    """``valid`` (a JSON tree) with 1-3 mutations: a value replaced, a key dropped or added; or a whole other value."""
    if draw(st.integers(0, 9)) == 0:
        return draw(JSON)
    obj = copy.deepcopy(valid)
    for _ in range(draw(st.integers(1, 3))):
        locations = list(_paths(obj))[1:]
        if not locations:
            break
        path = draw(st.sampled_from(locations))
        parent = obj
        for key in path[:-1]:
            parent = parent[key]
        op = draw(st.sampled_from(["replace", "replace", "drop", "add"]))
        if op == "drop" and isinstance(parent, dict):
            del parent[path[-1]]
        elif op == "add" and isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = draw(JSON)
        else:
            parent[path[-1]] = draw(JSON)
    return obj


@pytest.fixture(scope="module")
def sandbox():
    box = Sandbox()
    yield box
    box.close()


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    path = tiny_student(tmp_path_factory.mktemp("student") / "m.safetensors")
    from safetensors.torch import load_file

    return read_metadata(path), load_file(str(path)), path


def _write_safetensors(path, tensors, meta_text: str) -> None:
    save_file(tensors, str(path), metadata={"srkd": meta_text})


@st.composite
def safetensors_case(draw, student):
    """(kind, bytes-writer) for one mutated safetensors file."""
    meta, tensors, _ = student
    kind = draw(st.sampled_from(["meta", "meta", "meta", "text", "shapes", "header"]))
    if kind == "meta":
        return kind, lambda p: _write_safetensors(p, tensors, json.dumps(draw(mutated(meta))))
    if kind == "text":
        return kind, lambda p: _write_safetensors(p, tensors, draw(st.text(max_size=40)))
    if kind == "shapes":  # the metadata stays, the stored tensors change (dropped, reshaped, extra)
        changed = dict(tensors)
        name = draw(st.sampled_from(sorted(changed)))
        op = draw(st.sampled_from(["drop", "reshape", "extra"]))
        if op == "drop":
            del changed[name]
        elif op == "reshape":
            changed[name] = torch.zeros(draw(st.lists(st.integers(1, 9), min_size=1, max_size=4)))
        else:
            changed["extra." + name] = changed[name].clone()
        return kind, lambda p: _write_safetensors(p, changed, json.dumps(meta))

    def raw(p):  # the safetensors header itself: lengths, dtypes, shapes and offsets
        _write_safetensors(p, tensors, json.dumps(meta))
        data = p.read_bytes()
        n = struct.unpack("<Q", data[:8])[0]
        header = json.loads(data[8:8 + n])
        new = draw(mutated(header))
        text = json.dumps(new).encode()
        length = draw(st.sampled_from([len(text), len(text), 0, 7, 2**40, 2**64 - 1, len(text) + 5]))
        p.write_bytes(struct.pack("<Q", length) + text + data[8 + n: 8 + n + draw(st.integers(0, len(data)))])
    return kind, raw


@budget(40)
@given(data=st.data())
def test_safetensors_headers_and_metadata(sandbox, student, tmp_path_factory, data):
    work = tmp_path_factory.mktemp("st")
    kind, write = data.draw(safetensors_case(student))
    path = work / "m.safetensors"
    write(path)
    before = files_under(work)
    res = sandbox.run(["inspect", path.name], cwd=work)
    check(res, names=("m.safetensors",), codes=(0, 1))
    assert files_under(work) == before
    shutil.rmtree(work)


def _tiny_onnx(meta: dict) -> onnx.ModelProto:
    """A real x2 network as ONNX: a 3x3 conv to 12 channels and DepthToSpace, with srkd metadata."""
    torch.manual_seed(0)
    w = helper.make_tensor("w", TensorProto.FLOAT, [12, 3, 3, 3], (torch.randn(12 * 27) * 0.1).tolist())
    nodes = [helper.make_node("Conv", ["input", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("DepthToSpace", ["c"], ["output"], blocksize=2, mode="CRD")]
    graph = helper.make_graph(nodes, "x2", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", 3, "h", "w"])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["n", 3, "H", "W"])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, {"srkd": meta if isinstance(meta, str) else json.dumps(meta)})
    return model


@budget(30)
@given(data=st.data())
def test_onnx_metadata(sandbox, student, tmp_path_factory, data):
    meta, _, _ = student
    valid = {**meta, "precision": "fp32"}
    work = tmp_path_factory.mktemp("onnx")
    photo_png(work / "in.png")
    value = data.draw(st.one_of(mutated(valid), st.text(max_size=30)))
    onnx.save(_tiny_onnx(value), str(work / "m.onnx"))
    before = files_under(work)
    res = sandbox.run(["upscale", "in.png", "-m", "m.onnx", "-o", "out", "--no-progress"], cwd=work)
    line = check(res, names=("m.onnx",), codes=(0, 1, 3), other_stderr=__import__("re").compile(r"^failed: in\.png"))
    made = files_under(work) - before
    if line is not None:
        assert not made, made
    else:
        assert made <= {"out", "out/in_x2.png", "out/srkd-upscale-report.json"} | \
            {f"out/in_x{s}.png" for s in range(1, 17)}, made
        report = json.loads((work / "out" / "srkd-upscale-report.json").read_text())
        assert all("\n" not in f["message"] for f in report["files"])
        assert report["exit_code"] == res.code
    shutil.rmtree(work)
