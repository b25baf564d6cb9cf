"""Fuzz: image headers (PNG, JPEG, BMP, TIFF, WebP, GIF; 8/16-bit, grey, palette, alpha) through the real CLI.

Each example is a real photo crop in one format, then damaged: its PNG header rewritten (any width,
height, bit depth and colour type, with a valid CRC so the decoder believes it), bytes overwritten in
the header, the file cut short, junk appended, or nothing but junk. ``srkd upscale`` must upscale it
or fail that file with a one-line reason in its report (exit 0 or 3; nothing but ``failed:`` lines on
stderr: no libpng or OpenCV print), and ``srkd eval`` must score it or stop with one line naming the
file (exit 0 or 1), within the sandbox's memory limit.
"""
from __future__ import annotations

import io
import json
import re
import shutil
import struct
import zlib

import numpy as np
import pytest
from fuzzlib import Sandbox, budget, check, files_under, tiny_student
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from skimage import data as skdata

KINDS = ["png", "png16", "png_grey", "png_rgba", "png_palette", "jpg", "bmp", "tif", "tif16", "webp", "gif"]


def encode(kind: str) -> tuple[str, bytes]:
    """(extension, bytes) of a 24 px crop of a real photo in the format ``kind`` (GIF, which srkd does not
    list, under a .png name, as files often are)."""
    img = np.ascontiguousarray(skdata.astronaut()[100:124, 180:204])
    buf = io.BytesIO()
    if kind == "png16" or kind == "tif16":
        import cv2

        ok, enc = cv2.imencode(".png" if kind == "png16" else ".tif", (img.astype(np.uint16) * 257)[:, :, ::-1])
        return ("png" if kind == "png16" else "tif"), enc.tobytes()
    pil = Image.fromarray(img)
    pil = {"png_grey": pil.convert("L"), "png_rgba": pil.convert("RGBA"), "png_palette": pil.convert("P"),
           "gif": pil.convert("P")}.get(kind, pil)
    fmt = {"jpg": "JPEG", "bmp": "BMP", "tif": "TIFF", "webp": "WEBP", "gif": "GIF"}.get(kind, "PNG")
    pil.save(buf, format=fmt)
    return ("png" if kind.startswith("png") or kind == "gif" else kind), buf.getvalue()  # a GIF named .png


def _chunk(tag: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF)


@st.composite
def damaged(draw) -> tuple[str, bytes]:
    ext, raw = encode(draw(st.sampled_from(KINDS)))
    op = draw(st.sampled_from(["ihdr", "ihdr", "flip", "cut", "append", "junk", "none"]))
    if op == "ihdr" and ext == "png":  # a believable header: any size, depth and colour type, CRC fixed
        w = draw(st.sampled_from([0, 1, 23, 24, 25, 4096, 7000, 2**16, 2**20, 2**31 - 1]) | st.integers(0, 2**31 - 1))
        h = draw(st.sampled_from([0, 1, 24, 5000, 2**16, 2**31 - 1]) | st.integers(0, 2**31 - 1))
        depth, colour = draw(st.sampled_from([1, 2, 4, 8, 16, 3, 0])), draw(st.sampled_from([0, 2, 3, 4, 6, 1, 7]))
        ihdr = struct.pack(">IIBBBBB", w, h, depth, colour, 0, 0, draw(st.sampled_from([0, 0, 1, 2])))
        raw = raw[:8] + _chunk(b"IHDR", ihdr) + raw[33:]
    elif op == "flip":
        at = draw(st.integers(0, min(len(raw), 96) - 1))
        raw = raw[:at] + bytes([draw(st.integers(0, 255))]) + raw[at + 1:]
    elif op == "cut":
        raw = raw[:draw(st.integers(0, len(raw) - 1))]
    elif op == "append":
        raw = raw + draw(st.binary(min_size=1, max_size=64))
    elif op == "junk":
        raw = draw(st.binary(max_size=64))
    return ext, raw


@pytest.fixture(scope="module")
def sandbox():
    box = Sandbox()
    yield box
    box.close()


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny_student(tmp_path_factory.mktemp("model") / "tiny.safetensors")


@budget(40)
@given(case=damaged())
def test_upscale_any_image_header(sandbox, model, tmp_path_factory, case):
    ext, raw = case
    work = tmp_path_factory.mktemp("img")
    (work / "in").mkdir()
    (work / "in" / f"a.{ext}").write_bytes(raw)
    before = files_under(work)
    res = sandbox.run(["upscale", "in", "-m", model, "-o", "out", "--max-pixels", 250_000, "--no-progress"], cwd=work)
    check(res, names=(f"a.{ext}",), codes=(0, 3), other_stderr=re.compile(r"^failed: in/a\.\w+: "))
    report = json.loads((work / "out" / "srkd-upscale-report.json").read_text())
    (row,) = report["files"]
    assert row["src"] == f"in/a.{ext}" and "\n" not in row["message"] and report["exit_code"] == res.code
    if res.code == 3:
        assert row["outcome"] == "failed" and f"a.{ext}" in row["message"], row
        assert files_under(work) - before == {"out", "out/srkd-upscale-report.json"}
    else:
        assert files_under(work) - before == {"out", "out/srkd-upscale-report.json", f"out/a_x2.{ext}"}
    shutil.rmtree(work)


@budget(30)
@given(case=damaged())
def test_eval_any_image_header(sandbox, tmp_path_factory, case):
    ext, raw = case
    work = tmp_path_factory.mktemp("eval")
    (work / "HR").mkdir()
    (work / "HR" / f"a.{ext}").write_bytes(raw)
    before = files_under(work)
    res = sandbox.run(["eval", "bicubic", "--data", ".", "--scale", 2, "--no-ssim"], cwd=work)
    check(res, names=(f"a.{ext}", "no images found"), codes=(0, 1))
    assert files_under(work) == before
    shutil.rmtree(work)
