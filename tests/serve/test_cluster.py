"""``--ray``: URL planning like the local planner, fsspec reads/writes, and a run on a local 2-CPU Ray instance."""
import sys

import numpy as np
import pytest
import torch

from srkd.data.io import read_image, write_image
from srkd.errors import BackendUnavailableError
from srkd.models import build_model
from srkd.models.checkpoint import save_model
from srkd.serve.pipeline import RunOptions
from srkd.serve.remote import plan_urls, read_bytes, write_bytes

pytest.importorskip("fsspec")


@pytest.fixture
def pics(tmp_path, photo):
    folder = tmp_path / "pics"
    write_image(folder / "a.png", photo[:48, :64])
    write_image(folder / "b.jpg", photo[200:240, 100:150])
    write_image(folder / "sub" / "c.png", photo[300:332, 300:340, 0])
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return folder


@pytest.fixture
def model(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "tiny-x2.safetensors"
    save_model(path, build_model("edsr", {"scale": 2, "n_feats": 8, "n_blocks": 2}))
    return path


def test_url_plan_mirrors_like_the_local_one(pics, tmp_path):
    local, dirs, _ = plan_urls([str(pics)], out=str(tmp_path / "o"), recursive=True, template="{stem}_x{scale}.{ext}",
                               ext=None, label="2")
    url, url_dirs, existing = plan_urls([f"file://{pics}"], out=f"file://{tmp_path}/o", recursive=True,
                                        template="{stem}_x{scale}.{ext}", ext=None, label="2")
    assert [(s, d) for s, d, _ in url] == [(f"file://{s}", f"file://{d}") for s, d, _ in local]
    assert url_dirs == [f"file://{tmp_path}/o"] and dirs == [str(tmp_path / "o")] and existing == set()
    globbed, _, _ = plan_urls([f"file://{pics}/**/*.png"], out=None, recursive=False, template="{name}", ext=None,
                              label="2")
    assert sorted(d.rsplit("/", 2)[-2:][-1] for _, d, _ in globbed) == ["a.png", "broken.png", "c.png"]
    assert all("/pics_x2/" in d for _, d, _ in globbed)


def test_reads_and_writes_through_fsspec():
    write_bytes("memory://bucket/deep/x.bin", b"payload")
    assert read_bytes("memory://bucket/deep/x.bin") == b"payload"
    with pytest.raises(Exception, match="memory://bucket/nope"):
        read_bytes("memory://bucket/nope")


def test_missing_ray_is_one_clear_error(monkeypatch):
    from srkd.serve.cluster import RayOptions, RayPlan, run_ray
    from srkd.serve.report import BatchReport

    monkeypatch.setitem(sys.modules, "ray", None)
    plan = RayPlan(todo=[{"src": "a", "dst": "b"}], report=BatchReport(model="m", runner="r", scale=2), out_dirs=[])
    with pytest.raises(BackendUnavailableError, match=r"pip install 'srkd\[ray\]'"):
        run_ray(plan, model="m", options=RunOptions(), backend="auto", device="cpu", precision="auto", tile=0,
                tile_overlap=8, cluster=RayOptions())


@pytest.mark.slow
def test_ray_run_on_a_local_two_cpu_instance(pics, model, tmp_path):
    ray = pytest.importorskip("ray")
    from srkd.api import load
    from srkd.serve.cluster import RayOptions, plan_ray, run_ray

    opts = RunOptions(batch=2)
    cluster = RayOptions(actors=2, cpus=1, files=2)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        out = f"file://{tmp_path}/up"
        plan = plan_ray([f"file://{pics}"], model=str(model), out=out, recursive=True, template="{stem}_x{scale}.{ext}",
                        ext=None, options=opts, backend="auto", precision="auto", shard=None, cluster=cluster)
        report = run_ray(plan, model=str(model), options=opts, backend="auto", device="cpu", precision="auto",
                         tile=0, tile_overlap=8, cluster=cluster)
        assert report.counts == {"ok": 3, "skipped": 0, "failed": 1}
        assert "corrupt PNG file" in report.failed[0].message
        with load(model, tile=0) as up:
            for name, dst in (("a.png", "a_x2.png"), ("sub/c.png", "sub/c_x2.png")):
                want = up.upscale(read_image(pics / name, rgb=False))
                assert np.array_equal(read_image(tmp_path / "up" / dst, rgb=False), want)
        again = plan_ray([f"file://{pics}"], model=str(model), out=out, recursive=True,
                         template="{stem}_x{scale}.{ext}", ext=None, options=opts, backend="auto", precision="auto",
                         shard=(0, 1), cluster=cluster)
        assert len(again.todo) == 1 and again.report.counts["skipped"] == 3  # only the broken file is left to try
    finally:
        ray.shutdown()
