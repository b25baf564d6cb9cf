"""Fuzz: command-line values (upscale, distill) and YAML configs (distill), in this process.

Options get any text, numbers (negative, huge, non-finite) and near-valid forms; configs get any
mapping of known and unknown keys to any YAML value, or text that is not YAML at all. Each run ends in
success, a usage error naming the option (exit 2), a per-file failure in upscale's report (exit 3), or
one ``srkd: error:`` line naming the option, key or file and what was expected (exit 1). Distill is
stopped where training would start (everything before it, which validates and loads, really runs),
and must not have written anything by then.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
from fuzzlib import budget, check, files_under, invoke, photo_png, tiny_student
from hypothesis import given
from hypothesis import strategies as st

from srkd.distill.config import FIELDS

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=10)
NUMBERS = st.one_of(st.integers(-10**6, 10**6), st.sampled_from([0, -1, 1, 2, 3, 4, 5, 7, 8, 9, 255, 256, 257, 65536,
                                                                  2**31, 2**63, 10**30]))
VALUE = st.one_of(TEXT, NUMBERS.map(str), st.floats().map(str),
                  st.sampled_from(["auto", "0", "-1", "1/2", "3/2", "0/0", "1/0", "a/b", "nan", "inf", "-inf", "1e-3",
                                   "1e9", "", " ", "{stem}", "{x}", "{stem}.png", "a/b.png", "..", ".", "{name}",
                                   "{stem}_{scale}.jpg", "{stem}.txt", "png", "tif", "jpg", "webp", "64:128:256",
                                   "fp32", "bf16", "int8", "cuda", "cpu", "torch", "onnxruntime", "model", "bicubic"]))

UPSCALE_OPTIONS = ["--tile", "--tile-overlap", "--batch", "--quality", "--png-level", "--outscale", "--max-pixels",
                   "--shard", "--name", "--ext", "--alpha", "--precision", "--backend", "--device", "--threads",
                   "--io-threads", "--report"]
DISTILL_OPTIONS = ["--scale", "--steps", "--batch", "--patch", "--lr", "--seed", "--threads", "--val-limit",
                   "--val-every", "--ckpt-every", "--log-every", "--precision", "--device", "--method", "--method-arg",
                   "--student", "--teacher"]
STUDENTS = st.sampled_from(["edsr", "rcan", "imdn", "rfdn", "swinir", "bicubic", "nope", ""]).flatmap(
    lambda arch: st.lists(st.tuples(st.sampled_from(["n_feats", "n_blocks", "scale", "n_resgroups", "n_resblocks",
                                                     "embed_dim", "depths", "upsampler", "res_scale", "bogus"]),
                                    st.sampled_from(["0", "-1", "1", "2", "4", "8", "x", "1.5", "1/2", "true", ""])),
                          max_size=3).map(lambda kv: arch + (":" + ",".join(f"{k}={v}" for k, v in kv) if kv else "")))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("inputs")
    tiny_student(root / "tiny.safetensors")
    for i, size in enumerate((48, 40)):
        photo_png(root / "hr" / f"p{i}.png", size=size)
    return root


@budget(40)
@given(opts=st.lists(st.tuples(st.sampled_from(UPSCALE_OPTIONS), VALUE), min_size=1, max_size=3))
def test_upscale_values(inputs, tmp_path_factory, opts):
    work = tmp_path_factory.mktemp("u")
    photo_png(work / "in.png", size=16)
    args = [a for kv in opts for a in kv]
    before = files_under(work)
    res = invoke(["upscale", "in.png", "-m", inputs / "tiny.safetensors", "-o", "out", "--no-progress", *args], cwd=work)
    line = check(res, names=(*(k for k, _ in opts), *(v for _, v in opts if v.strip()), "template", "in.png", "out"),
                 codes=(0, 1, 2, 3), other_stderr=re.compile(r"^failed: in\.png"))
    made = files_under(work) - before
    if line is not None or res.code == 2:
        assert not made, made
    else:  # the outputs, the report in out/ or where --report put it (and the folders it made for it)
        report = next((Path(v) for k, v in reversed(opts) if k == "--report"), None)
        allowed = {str(p) for p in ([report, *report.parents] if report else [])}
        assert all(m == "out" or m.startswith("out/") or m in allowed for m in made), made
    shutil.rmtree(work)


@pytest.fixture
def no_training(monkeypatch):
    """Stop ``srkd distill`` where training would start (and time nothing to choose the precision)."""
    from srkd.distill import setup as setup_mod
    from srkd.distill import trainer as trainer_mod

    started = []

    def run(self, **kw):
        self.loader.close()
        started.append(self.out)
        return trainer_mod.TrainResult(self.out, self.step, None, None, self.prec.name, 0.0, 0.0, 1, self.cfg.batch)

    monkeypatch.setattr(trainer_mod.Trainer, "run", run)
    monkeypatch.setattr(setup_mod, "measure_cpu_speedup", lambda model, **kw: 1.0)
    return started


@budget(40)
@given(opts=st.lists(st.tuples(st.sampled_from(DISTILL_OPTIONS), VALUE | STUDENTS), min_size=1, max_size=3))
def test_distill_values(inputs, no_training, tmp_path_factory, opts):
    work = tmp_path_factory.mktemp("d")
    args = [a for kv in opts for a in kv]
    before = files_under(work)
    res = invoke(["distill", "--method", "scratch", "--data", inputs / "hr", "--scale", "2", "--patch", "8",
                  "--batch", "2", "--student", "edsr:n_feats=4,n_blocks=1", "--out", "run", "--quiet", *args], cwd=work)
    check(res, names=(*(k.lstrip("-").replace("-", "_") for k, _ in opts), *(k for k, _ in opts),
                      *(v for _, v in opts if v.strip()), "student", "teacher", "hr", "patch", "method"),
          codes=(0, 1, 2))
    assert files_under(work) == before
    shutil.rmtree(work)


YAML_VALUE = st.recursive(
    st.one_of(st.none(), st.booleans(), NUMBERS, st.floats(), TEXT,
              st.sampled_from(["1e-3", "5e-4", ".inf", "~", "yes", "edsr:n_feats=4,n_blocks=1", "scratch", "kd", "auto",
                               "fp32", "cpu", "2", "-3"])),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(TEXT, kids, max_size=3), max_leaves=6)


@st.composite
def config_text(draw, hr):
    if draw(st.integers(0, 9)) == 0:
        return draw(st.text(max_size=40))  # anything at all, YAML or not
    keys = draw(st.lists(st.sampled_from(sorted(FIELDS) + ["stepz", "lr_schedule", "1"]), max_size=5, unique=True))
    cfg = {k: draw(YAML_VALUE) for k in keys}
    if draw(st.booleans()):  # a mostly valid base, so later checks are reached
        cfg = {"method": "scratch", "data": [str(hr)], "scale": 2, "patch": 8, "batch": 2,
               "student": "edsr:n_feats=4,n_blocks=1", **cfg}
    return yaml.safe_dump(cfg, allow_unicode=True)


@budget(40)
@given(data=st.data())
def test_distill_config_files(inputs, no_training, tmp_path_factory, data):
    work = tmp_path_factory.mktemp("c")
    text = data.draw(config_text(inputs / "hr"))
    (work / "c.yaml").write_text(text, encoding="utf-8")
    before = files_under(work)
    res = invoke(["distill", "--config", "c.yaml", "--out", "run", "--quiet"], cwd=work)
    check(res, names=("c.yaml", *FIELDS, "training data", "teacher", "student", "hr"), codes=(0, 1))
    assert files_under(work) == before
    shutil.rmtree(work)
