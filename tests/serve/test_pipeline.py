"""The read -> infer -> write loop with a stand-in model: per-file outcomes, skip/overwrite, threads, Ctrl-C."""
import os
from pathlib import Path

import numpy as np
import pytest
from serve_fakes import NearestRunner

from srkd.api import Upscaler
from srkd.data.io import read_image, write_image
from srkd.serve.pipeline import RunOptions, run_batch
from srkd.serve.plan import Job, Naming, Plan, plan_jobs
from srkd.serve.report import BatchReport, Outcome
from srkd.serve.task import ImageOptions
from srkd.serve.tiler import TileSettings


@pytest.fixture
def tree(tmp_path, photo):
    src = tmp_path / "pics"
    write_image(src / "a.png", photo[:40, :48])
    write_image(src / "b.jpg", photo[100:132, 200:240])
    write_image(src / "sub" / "c.png", photo[:24, :24, 0])  # grey
    write_image(src / "sub" / "deeper" / "d.png", photo[50:80, 50:90])
    return src


def files_under(folder: Path) -> list[str]:
    """Every file, hidden temp files included, so leftovers would show."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def run(plan: Plan, runner=None, **kw) -> BatchReport:
    up = Upscaler(runner or NearestRunner(), tiles=TileSettings(tile=None))
    return run_batch(plan, upscaler=up, report=BatchReport(model="m", runner="fake", scale=2), options=RunOptions(**kw))


def plan_for(tree: Path, out: Path, **kw) -> Plan:
    return plan_jobs([tree], naming=Naming(scale="2", template="{name}"), out=out, recursive=True, **kw)


def test_batch_keeps_going_past_a_corrupt_file(tree, tmp_path):
    (tree / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    seen = []
    runner = NearestRunner()
    report = run_batch(plan_for(tree, tmp_path / "out"), upscaler=Upscaler(runner),
                       report=BatchReport(model="m", runner="fake", scale=2), on_result=seen.append)
    assert report.counts == {"ok": 4, "skipped": 0, "failed": 1} and report.exit_code == 3
    assert [r.src.name for r in report.results] == ["a.png", "b.jpg", "broken.png", "c.png", "d.png"]
    assert "broken.png" in report.failed[0].message and "corrupt PNG file" in report.failed[0].message
    assert len(seen) == 5 and runner.threads == {"MainThread"}  # inference on the caller's thread
    assert files_under(tmp_path / "out") == ["a.png", "b.jpg", "sub/c.png", "sub/deeper/d.png"]
    grey = read_image(tmp_path / "out" / "sub" / "c.png", rgb=False)
    small = read_image(tree / "sub" / "c.png", rgb=False)
    assert grey.shape == (48, 48) and np.array_equal(grey, small.repeat(2, 0).repeat(2, 1))
    ok = next(r for r in report.results if r.src.name == "a.png")
    assert ok.in_size == (48, 40) and ok.out_size == (96, 80)


def test_skip_existing_unless_overwrite(tree, tmp_path):
    plan = plan_for(tree, tmp_path / "out")
    assert run(plan).counts["ok"] == 4
    target = tmp_path / "out" / "a.png"
    os.utime(target, (1_000_000, 1_000_000))
    before = target.read_bytes()
    again = run(plan)
    assert again.counts == {"ok": 0, "skipped": 4, "failed": 0} and again.exit_code == 0
    assert target.stat().st_mtime == 1_000_000 and target.read_bytes() == before
    forced = run(plan, overwrite=True)
    assert forced.counts["ok"] == 4 and target.stat().st_mtime > 1_000_000


def test_model_and_write_failures_are_per_file(tree, tmp_path):
    plan = plan_for(tree, tmp_path / "out")
    locked = tmp_path / "out" / "sub"
    locked.mkdir(parents=True)
    (locked / "deeper").write_text("a file where a folder must go")
    runner = NearestRunner(fail=lambda b: b.shape[2] == 40)  # a.png is the only 40-row image
    report = run(plan, runner)
    outcome = {r.src.name: (r.outcome, r.message) for r in report.results}
    assert outcome["a.png"] == (Outcome.FAILED, "RuntimeError: the model broke on this input")
    assert outcome["d.png"][0] is Outcome.FAILED and "deeper" in outcome["d.png"][1]
    assert outcome["b.jpg"][0] is outcome["c.png"][0] is Outcome.OK
    assert files_under(tmp_path / "out") == ["b.jpg", "sub/c.png", "sub/deeper"]


def test_outscale_alpha_and_batching_across_images(tmp_path, photo):
    src = tmp_path / "in"
    for i in range(5):
        write_image(src / f"{i}.png", np.dstack([photo[i * 30: i * 30 + 30, :40], np.full((30, 40), 99, np.uint8)]))
    runner = NearestRunner()
    plan = plan_jobs([src], naming=Naming(scale="3"), out=tmp_path / "out")
    report = run(plan, runner, batch=4, image=ImageOptions(alpha="model", outscale=3.0))
    assert report.counts["ok"] == 5
    assert max(c[0] for c in runner.calls) == 4  # colour and alpha planes of several images in one call
    img = read_image(tmp_path / "out" / "0_x3.png", rgb=False)
    assert img.shape == (90, 120, 4) and (img[:, :, 3] == 99).all()


def test_interrupt_stops_cleanly(tree, tmp_path):
    runner = NearestRunner(interrupt_after=2)
    report = run(plan_for(tree, tmp_path / "out"), runner)
    assert report.interrupted and report.exit_code == 130
    written = files_under(tmp_path / "out")
    ok = [r.dst.relative_to(tmp_path / "out").as_posix() for r in report.results if r.outcome is Outcome.OK]
    assert ok == written
    assert len(written) <= 2 and not any(n.startswith(".") or "/." in n for n in written)
    rerun = run(plan_for(tree, tmp_path / "out"))
    assert rerun.counts == {"ok": 4 - len(written), "skipped": len(written), "failed": 0}


def test_planned_failures_are_reported(tree, tmp_path):
    plan = Plan(jobs=[Job(src=tree / "a.png", dst=tmp_path / "x.png", error="output would leave the output folder")],
                out_dirs=[])
    report = run(plan)
    assert report.counts["failed"] == 1 and not (tmp_path / "x.png").exists()
