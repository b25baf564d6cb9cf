"""The shipped teacher: present in the package, rebuilt from its file alone, clearly better than bicubic."""
from conftest import run_srkd
from srkd.models.resolve import resolve_model
from srkd.zoo import DEFAULT_MODEL, ZOO, zoo_path


def test_shipped_model_is_in_the_package():
    assert DEFAULT_MODEL in ZOO.names()
    path = zoo_path(DEFAULT_MODEL)
    assert path.stat().st_size > 1_000_000 and path.with_suffix(".md").is_file()
    model, spec = resolve_model(DEFAULT_MODEL)
    assert spec.arch == "edsr" and spec.scale == 4 and sum(p.numel() for p in model.parameters()) == 1_517_571


def test_shipped_teacher_beats_bicubic_on_set5(set5):
    import json

    out = run_srkd("eval", DEFAULT_MODEL, "--data", set5, "--json", "-", "--no-ssim")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["results"][0]["psnr"] > 31.0  # bicubic: 28.43


def test_zoo_lists_it():
    out = run_srkd("zoo")
    assert out.returncode == 0 and DEFAULT_MODEL in out.stdout and "missing" not in out.stdout
