"""Run folders: never overwritten unless asked, nothing written before everything is checked, nothing left by a
run that stops before its first checkpoint; and one table of limits for flags and config files."""
from __future__ import annotations

import json
import math
import os

import click
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import ctrl_c_after, photo_run_folder
from srkd.cli import main
from srkd.distill import trainer as trainer_mod
from srkd.distill.config import DistillConfig, load_config
from srkd.distill.fields import RULES
from srkd.distill.trainer import Trainer
from srkd.errors import ConfigError


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return photo_run_folder(tmp_path_factory.mktemp("photos"), teacher_hparams={"n_feats": 8, "n_blocks": 1})


def _flags(photos, out, *extra):
    return ["distill", "--method", "scratch", "--student", "edsr:n_feats=8,n_blocks=1", "--data", str(photos / "hr"),
            "--scale", "2", "--steps", "2", "--batch", "2", "--patch", "16", "--precision", "fp32", "--threads", "1",
            "--ckpt-every", "2", "--quiet", "--out", str(out), *map(str, extra)]


def _run(*args):
    return CliRunner().invoke(main, list(args))


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def a_run(photos, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "run"
    res = _run(*_flags(photos, out))
    assert res.exit_code == 0, res.output
    return out


def test_an_existing_run_is_refused(photos, a_run):
    before = _snapshot(a_run)
    res = _run(*_flags(photos, a_run))
    assert res.exit_code == 1 and "already holds a run" in res.stderr
    assert f"--resume {a_run}" in res.stderr and "--overwrite" in res.stderr and "Traceback" not in res.output
    assert _snapshot(a_run) == before
    with pytest.raises(ConfigError, match="already holds a run"):  # the library's own rule (benchmarks use it)
        Trainer(load_config(a_run / "config.yaml", overrides={}), progress=False)


def test_a_bad_start_changes_nothing_even_with_overwrite(photos, a_run, tmp_path):
    before = _snapshot(a_run)
    res = _run(*_flags(photos, a_run, "--overwrite", "--data", tmp_path / "nothing"))
    assert res.exit_code == 1 and "nothing: no such data folder" in res.stderr
    assert _snapshot(a_run) == before
    fresh = tmp_path / "fresh"
    res = _run(*_flags(photos, fresh, "--data", tmp_path / "nothing"))
    assert res.exit_code == 1 and not fresh.exists()


def test_overwrite_replaces_the_run_files_only(photos, tmp_path):
    out = tmp_path / "run"
    assert _run(*_flags(photos, out)).exit_code == 0
    (out / "notes.txt").write_text("mine")
    old = (out / "resume.pt").read_bytes()
    res = _run(*_flags(photos, out, "--overwrite", "--steps", "3", "--ckpt-every", "3"))
    assert res.exit_code == 0, res.output
    assert (out / "notes.txt").read_text() == "mine" and (out / "resume.pt").read_bytes() != old
    assert yaml.safe_load((out / "config.yaml").read_text())["steps"] == 3
    assert [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()] == [3]  # no old records
    res = _run(*_flags(photos, out, "--overwrite", "--resume", out))
    assert res.exit_code == 2 and "give one of them" in res.stderr


def test_a_run_stopped_before_its_first_checkpoint_leaves_nothing(photos, tmp_path, monkeypatch):
    def boom(self, lr, hr):
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer_mod.Trainer, "train_step", boom)
    res = _run(*_flags(photos, tmp_path / "run"))
    assert res.exit_code == 130 and not (tmp_path / "run").exists()
    assert "srkd: interrupted: distill stopped at step 0, before its first checkpoint" in res.stderr
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "notes.txt").write_text("mine")
    assert _run(*_flags(photos, tmp_path / "kept")).exit_code == 130
    assert [p.name for p in (tmp_path / "kept").iterdir()] == ["notes.txt"]


@pytest.mark.parametrize("moment", ["making the folder", "config saved", "progress bar"])
def test_a_ctrl_c_at_any_moment_of_the_first_writes_leaves_nothing(photos, tmp_path, monkeypatch, moment):
    """The window between the first write and the first step (CI once caught a signal there: the folder stayed)."""
    from srkd.distill import runfolder

    target = {"making the folder": (runfolder, "remove_stale_temps"), "config saved": (trainer_mod, "save_config"),
              "progress bar": (trainer_mod, "tqdm")}[moment]
    monkeypatch.setattr(*target, ctrl_c_after(getattr(*target)))
    res = _run(*_flags(photos, tmp_path / "run"))
    assert res.exit_code == 130, res.output
    assert "before its first checkpoint; nothing was kept" in res.stderr and not (tmp_path / "run").exists()


def test_a_ctrl_c_while_the_first_checkpoint_is_written_keeps_it(photos, tmp_path, monkeypatch):
    from srkd.distill import resume

    monkeypatch.setattr(resume, "write", ctrl_c_after(resume.write))
    out = tmp_path / "run"
    res = _run(*_flags(photos, out, "--steps", "4", "--ckpt-every", "2"))
    assert res.exit_code == 130, res.output
    assert f"keeps the checkpoint of step 2: `srkd distill --resume {out}`" in res.stderr
    assert (out / "resume.pt").is_file() and (out / "student_last.safetensors").is_file()


def test_a_nan_loss_before_any_checkpoint_says_nothing_was_kept(photos, tmp_path, monkeypatch):
    import torch

    from srkd.distill.methods.scratch import Scratch

    real = Scratch.forward
    monkeypatch.setattr(Scratch, "forward", lambda self, batch: {**real(self, batch), "loss": torch.tensor(float("nan"))})
    res = _run(*_flags(photos, tmp_path / "run"))
    assert res.exit_code == 1 and "loss is not finite" in res.stderr and "nothing was kept" in res.stderr
    assert not (tmp_path / "run").exists()


def test_the_issue_examples(photos, tmp_path):
    for extra, needle, code in ((["--scale", "5"], "EDSR supports scale 2, 3, 4 or 8, got 5", 1),
                                (["--student", "edsr:n_feats=0"], "'n_feats' must be an integer 1..4096, got 0", 1),
                                (["--student", "edsr:n_feats=-8"], "'n_feats' must be an integer", 1),
                                (["--lr", "nan"], "'nan' is not a finite number", 2),
                                (["--lr", "-1"], "--lr", 2), (["--patch", "2"], "--patch", 2)):
        res = _run(*_flags(photos, tmp_path / "run", *extra))
        assert res.exit_code == code and needle in res.stderr and "Traceback" not in res.output, (extra, res.output)
        assert not (tmp_path / "run").exists()
    for text, needle in (("patch: 2\n", "c.yaml: patch: expected an integer in [4, 2048], got 2"),
                         ("scale: 9\n", "c.yaml: scale: expected an integer in [2, 8], got 9"),
                         ("steps: abc\n", "c.yaml: steps: expected an integer >= 1, got 'abc'"),
                         ("lr: .nan\n", "c.yaml: lr: expected a number in (0, 10], got nan"),
                         ("data: 3\n", "c.yaml: data: expected a list of text, got 3"),
                         ("method_args: [1]\n", "c.yaml: method_args: expected a mapping"),
                         ("- a\n- b\n", "expected a mapping of config keys, got list"),
                         ("steps: [\n", "c.yaml: not valid YAML")):
        (tmp_path / "c.yaml").write_text(text)
        res = _run("distill", "--config", str(tmp_path / "c.yaml"), "--method", "scratch", "--data",
                   str(photos / "hr"), "--out", str(tmp_path / "run"))
        assert res.exit_code == 1 and needle in res.stderr and "Traceback" not in res.output, (text, res.output)
        assert not (tmp_path / "run").exists()


def test_yaml_numbers_written_as_text_are_read_as_numbers(tmp_path):
    (tmp_path / "c.yaml").write_text("lr: 1e-3\n")  # YAML 1.1 reads 1e-3 as a string
    assert load_config(tmp_path / "c.yaml", overrides={}).lr == 1e-3


NUMERIC = sorted(k for k, r in RULES.items() if r.kind in (int, float) and not r.choices)


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from(NUMERIC),
       value=st.one_of(st.integers(-2**70, 2**70), st.floats(allow_nan=True), st.sampled_from([0, 1, 2, 3, 4, 8, 9])))
def test_flags_and_config_share_one_validation(name, value):
    """For every numeric setting, the flag's click type and the config file's check accept the same values."""
    rule = RULES[name]
    try:
        rule.click_type().convert(str(value), None, None)
        by_flag = True
    except click.BadParameter:
        by_flag = False
    if rule.kind is int and isinstance(value, float):
        by_flag = False  # a flag with "1.0" is no integer; nor is 1.0 in a config
    try:
        rule.check(value, name=name, where="c.yaml: ")
        by_config = True
    except ConfigError:
        by_config = False
    if rule.kind is float and isinstance(value, float) and not math.isfinite(value):
        assert not by_flag and not by_config
    assert by_flag == by_config, (name, value, by_flag, by_config)


def test_config_checks_values_set_in_code():
    with pytest.raises(ConfigError, match="patch: expected an integer in \\[4, 2048\\], got 2"):
        DistillConfig(patch=2, data=["x"], method="scratch").validate()
    with pytest.raises(ConfigError, match="lr: expected a number"):
        DistillConfig(lr=float("inf"), data=["x"], method="scratch").validate()


def test_kd_methods_benchmark_still_builds_its_trainer():
    """benchmarks/kd_methods.py builds Trainer(cfg, resume=..., progress=...) on a fresh or resumed folder."""
    import inspect

    params = inspect.signature(Trainer.__init__).parameters
    assert {"resume", "progress", "overwrite"} <= set(params) and params["overwrite"].default is False
    assert all(p.kind is p.KEYWORD_ONLY for n, p in params.items() if n not in ("self", "cfg"))
    source = open(os.path.join(os.path.dirname(trainer_mod.__file__), "..", "..", "benchmarks", "kd_methods.py")).read()
    assert "Trainer(config_for(" in source and "shutil.rmtree(folder)" in source


def test_a_ctrl_c_while_the_curves_are_drawn_comes_after_them(tmp_path, monkeypatch):
    """Inside matplotlib's first import a Ctrl-C became an ImportError (exit 1) or was lost (the run went on):
    the plot is one short step, held whole."""
    from srkd.distill.runlog import RunLog
    from srkd.interrupts import interrupt_guard

    log = RunLog(tmp_path / "log.jsonl")
    log.begin(resumed_at=None)
    log.write({"step": 2, "loss": 0.5})
    monkeypatch.setattr(RunLog, "records", ctrl_c_after(RunLog.records))
    with interrupt_guard(), pytest.raises(KeyboardInterrupt):
        log.plot(tmp_path / "curves.png")
    assert (tmp_path / "curves.png").stat().st_size > 1000


def test_config_yaml_records_every_method_option(photos, tmp_path):
    """Given and default alike: a resumed run keeps its settings even where a later srkd changes a default."""
    import dataclasses

    from srkd.distill.methods.kd import KDConfig

    out = tmp_path / "run"
    res = _run(*_flags(photos, out, "--method", "kd", "--teacher", photos / "teacher.safetensors",
                       "--method-arg", "lambda_kd=0.5"))
    assert res.exit_code == 0, res.output
    saved = yaml.safe_load((out / "config.yaml").read_text())["method_args"]
    assert saved == {**dataclasses.asdict(KDConfig()), "lambda_kd": 0.5} and len(saved) > 1
