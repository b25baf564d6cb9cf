"""Input listing (files, folders, globs), output naming from a template, escapes, clashes and shards."""
import os
from pathlib import Path

import numpy as np
import pytest

from srkd.data.io import write_image
from srkd.errors import ConfigError, DataError
from srkd.serve.plan import Job, Naming, default_root, parse_shard, plan_jobs, scale_label, shard


@pytest.fixture
def tree(tmp_path, photo):
    src = tmp_path / "pics"
    (src / "sub" / "deeper").mkdir(parents=True)
    write_image(src / "a.png", photo[:40, :48])
    write_image(src / "b.jpg", photo[100:132, 200:240])
    write_image(src / "sub" / "c.png", photo[:24, :24, 0])
    write_image(src / "sub" / "deeper" / "d.png", photo[50:80, 50:90])
    (src / "notes.txt").write_text("not an image")
    return src


X2 = Naming(scale="2")


def rel(plan, root: Path) -> list[str]:
    return [j.dst.relative_to(root).as_posix() for j in plan.jobs]


def test_default_root_and_labels(tmp_path):
    (tmp_path / "pics").mkdir()
    assert default_root(tmp_path / "pics", label="4") == tmp_path / "pics_x4"
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path / "pics")
        assert default_root(Path("."), label="2") == tmp_path / "pics_x2"  # beside, not inside
    finally:
        os.chdir(cwd)
    assert scale_label(4) == "4" and scale_label(4, 2.5) == "2.5" and scale_label(4, 3.0) == "3"


def test_folders_flat_recursive_and_template(tree):
    assert rel(plan_jobs([tree], naming=X2), tree.parent / "pics_x2") == ["a_x2.png", "b_x2.jpg"]
    deep = plan_jobs([tree], naming=Naming(scale="2", template="{name}.{ext}", ext="png"), recursive=True,
                     out=tree.parent / "out")
    assert rel(deep, tree.parent / "out") == ["a.png.png", "b.jpg.png", "sub/c.png.png", "sub/deeper/d.png.png"]
    assert deep.out_dirs == [tree.parent / "out"]
    webp = plan_jobs([tree], naming=Naming(scale="3", template="{stem}-{suffix}@{scale}x.{ext}", ext="webp"))
    assert rel(webp, tree.parent / "pics_x3") == ["a-png@3x.webp", "b-jpg@3x.webp"]


def test_globs_mirror_below_the_fixed_part(tree, tmp_path):
    plan = plan_jobs([str(tree / "**" / "*.png")], naming=X2, out=tmp_path / "g")
    assert rel(plan, tmp_path / "g") == ["a_x2.png", "sub/c_x2.png", "sub/deeper/d_x2.png"]
    default = plan_jobs([str(tree / "sub" / "*.png")], naming=X2)
    assert default.jobs[0].dst == tree / "sub_x2" / "c_x2.png"
    with pytest.raises(DataError, match="matches no image files"):
        plan_jobs([str(tree / "*.gif")], naming=X2)


def test_single_files(tree):
    beside = plan_jobs([tree / "a.png"], naming=Naming(scale="3")).jobs
    assert beside == [Job(src=tree / "a.png", dst=tree / "a_x3.png")]
    assert plan_jobs([tree / "a.png"], naming=X2, out=tree.parent / "big.png").jobs[0].dst == tree.parent / "big.png"
    into = plan_jobs([tree / "a.png"], naming=X2, out=tree.parent / "folder")
    assert into.jobs[0].dst == tree.parent / "folder" / "a_x2.png" and into.out_dirs == [tree.parent / "folder"]
    with pytest.raises(ConfigError, match="disagree"):
        plan_jobs([tree / "a.png"], naming=Naming(scale="2", ext="jpg"), out=tree.parent / "big.png")


def test_templates_cannot_leave_the_output_folder():
    for bad in ("../{stem}.png", "sub/{stem}.png", "..", "{stem}.{nope}", "{stem}.gif"):
        with pytest.raises(ConfigError):
            Naming(scale="2", template=bad).render(Path("a.png"))


def test_symlinked_output_subfolder_fails_those_files(tree, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "sub").symlink_to(outside, target_is_directory=True)
    plan = plan_jobs([tree], naming=X2, recursive=True, out=out)
    bad = [j for j in plan.jobs if j.error]
    assert [j.src.name for j in bad] == ["c.png", "d.png"] and "would leave the output folder" in bad[0].error
    assert all(not j.error for j in plan.jobs if j.src.parent == tree)


def test_clashes_in_place_and_empty(tree, tmp_path):
    with pytest.raises(ConfigError, match="overwrite the inputs"):
        plan_jobs([tree], naming=X2, out=tree)
    write_image(tree / "a.jpg", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ConfigError, match="both be written"):
        plan_jobs([tree], naming=Naming(scale="2", ext="png"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no image files"):
        plan_jobs([tmp_path / "empty"], naming=X2)
    with pytest.raises(DataError, match="no such file"):
        plan_jobs([tmp_path / "nope"], naming=X2)


def test_output_inside_input_is_not_read_back(tree):
    out = tree / "sub" / "up"
    write_image(out / "old.png", np.zeros((4, 4, 3), np.uint8))
    plan = plan_jobs([tree], naming=X2, recursive=True, out=out)
    assert all(not j.src.is_relative_to(out) for j in plan.jobs)


def test_shards_partition_the_jobs(tree):
    plan = plan_jobs([tree], naming=X2, recursive=True)
    parts = [shard(plan, index=i, count=3).jobs for i in range(3)]
    assert sorted((j.src for p in parts for j in p), key=str) == sorted((j.src for j in plan.jobs), key=str)
    assert parse_shard("1/3") == (1, 3)
    for bad in ("3/3", "x", "1/0", "-1/2"):
        with pytest.raises(ConfigError):
            parse_shard(bad)
