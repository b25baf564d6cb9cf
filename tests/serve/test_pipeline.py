"""Input listing, output naming and the read -> infer -> write loop (with a stand-in upscaler)."""
import os
import threading
from pathlib import Path

import numpy as np
import pytest

from srkd.data.io import read_image, write_image
from srkd.errors import ConfigError, DataError
from srkd.serve.pipeline import Job, Plan, default_output, plan_jobs, run_batch
from srkd.serve.report import BatchReport, Outcome


def double(img: np.ndarray) -> np.ndarray:
    return img.repeat(2, axis=0).repeat(2, axis=1)


@pytest.fixture
def tree(tmp_path, photo):
    src = tmp_path / "pics"
    (src / "sub" / "deeper").mkdir(parents=True)
    write_image(src / "a.png", photo[:40, :48])
    write_image(src / "b.jpg", photo[100:132, 200:240])
    write_image(src / "sub" / "c.png", photo[:24, :24, 0])  # grey
    write_image(src / "sub" / "deeper" / "d.png", photo[50:80, 50:90])
    (src / "notes.txt").write_text("not an image")
    return src


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_default_output_names(tmp_path):
    (tmp_path / "pics").mkdir()
    (tmp_path / "x.png").write_bytes(b"")
    assert default_output(tmp_path / "pics", scale=4) == tmp_path / "pics_x4"
    assert default_output(tmp_path / "x.png", scale=2) == tmp_path / "x_x2.png"
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path / "pics")
        assert default_output(Path("."), scale=2) == tmp_path / "pics_x2"  # beside, not inside
    finally:
        os.chdir(cwd)


def test_plan_flat_and_recursive(tree):
    flat = plan_jobs([tree], scale=2)
    assert [j.dst.relative_to(tree.parent / "pics_x2").as_posix() for j in flat.jobs] == ["a.png", "b.jpg"]
    deep = plan_jobs([tree], scale=2, recursive=True, out=tree.parent / "out")
    assert [j.dst.relative_to(tree.parent / "out").as_posix() for j in deep.jobs] == [
        "a.png", "b.jpg", "sub/c.png", "sub/deeper/d.png"]
    assert deep.out_dirs == [tree.parent / "out"]


def test_plan_single_file_and_format(tree):
    assert plan_jobs([tree / "a.png"], scale=3).jobs == [Job(src=tree / "a.png", dst=tree / "a_x3.png")]
    assert plan_jobs([tree / "a.png"], scale=3, out=tree.parent / "big.png").jobs[0].dst == tree.parent / "big.png"
    into = plan_jobs([tree / "a.png"], scale=3, out=tree.parent / "folder")
    assert into.jobs[0].dst == tree.parent / "folder" / "a.png" and into.out_dirs == [tree.parent / "folder"]
    assert plan_jobs([tree / "b.jpg"], scale=2, suffix=".png").jobs[0].dst == tree / "b_x2.png"


def test_plan_refuses_clashes_in_place_and_empty(tree, tmp_path):
    with pytest.raises(ConfigError, match="overwrite the input"):
        plan_jobs([tree], scale=2, out=tree)
    other = tmp_path / "other"
    other.mkdir()
    write_image(other / "a.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ConfigError, match="both be written"):
        plan_jobs([tree, other], scale=2, out=tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no image files"):
        plan_jobs([tmp_path / "empty"], scale=2)


def test_output_inside_input_is_not_read_back(tree):
    out = tree / "sub" / "up"
    write_image(out / "old.png", np.zeros((4, 4, 3), np.uint8))
    plan = plan_jobs([tree], scale=2, recursive=True, out=out)
    assert all(not j.src.is_relative_to(out) for j in plan.jobs)


def run(plan: Plan, **kw) -> BatchReport:
    return run_batch(plan, upscale=double, report=BatchReport(model="m", runner="fake", scale=2), **kw)


def test_batch_keeps_going_past_a_corrupt_file(tree, tmp_path):
    (tree / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    plan = plan_jobs([tree], scale=2, recursive=True, out=tmp_path / "out")
    seen = []
    report = run(plan, on_result=seen.append)
    assert report.counts == {"ok": 4, "skipped": 0, "failed": 1} and report.exit_code == 3
    assert [r.src.name for r in report.results] == ["a.png", "b.jpg", "broken.png", "c.png", "d.png"]
    assert "broken.png" in report.failed[0].message and "not a readable image" in report.failed[0].message
    assert len(seen) == 5
    assert files_under(tmp_path / "out") == ["a.png", "b.jpg", "sub/c.png", "sub/deeper/d.png"]  # no temp files
    grey = read_image(tmp_path / "out" / "sub" / "c.png", rgb=False)
    assert grey.shape == (48, 48)
    ok = next(r for r in report.results if r.src.name == "a.png")
    assert ok.in_size == (48, 40) and ok.out_size == (96, 80)


def test_skip_existing_unless_overwrite(tree, tmp_path):
    plan = plan_jobs([tree], scale=2, out=tmp_path / "out")
    assert run(plan).counts["ok"] == 2
    target = tmp_path / "out" / "a.png"
    os.utime(target, (1_000_000, 1_000_000))
    before = target.read_bytes()
    again = run(plan)
    assert again.counts == {"ok": 0, "skipped": 2, "failed": 0} and again.exit_code == 0
    assert target.stat().st_mtime == 1_000_000 and target.read_bytes() == before
    forced = run(plan, overwrite=True)
    assert forced.counts["ok"] == 2 and target.stat().st_mtime > 1_000_000


def test_failing_model_and_failing_write_are_per_file(tree, tmp_path):
    calls = []

    def flaky(img):
        calls.append(threading.current_thread().name)
        if len(calls) == 1:
            raise RuntimeError("CUDA out of memory")
        return double(img)

    plan = plan_jobs([tree], scale=2, out=tmp_path / "out")
    bad_ext = Job(src=tree / "a.png", dst=tmp_path / "out" / "x.unknownext")  # cv2 cannot encode it
    plan = Plan(jobs=plan.jobs + [bad_ext], out_dirs=plan.out_dirs)
    report = run_batch(plan, upscale=flaky, report=BatchReport(model="m", runner="fake", scale=2))
    assert [r.outcome for r in report.results] == [Outcome.FAILED, Outcome.OK, Outcome.FAILED]
    assert "smaller --tile" in report.results[0].message
    assert calls == ["MainThread"] * 3  # inference stays on the caller's thread
    assert files_under(tmp_path / "out") == ["b.jpg"]
