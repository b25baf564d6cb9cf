"""Bad inputs through the real CLI: one clear line on stderr, exit code 1; usage errors exit 2."""
from conftest import run_srkd


def _one_line_error(out, *needles):
    assert out.returncode == 1, (out.returncode, out.stderr)
    lines = [l for l in out.stderr.strip().splitlines() if l.startswith("srkd: error:")]
    assert len(lines) == 1, out.stderr
    assert "Traceback" not in out.stderr
    for needle in needles:
        assert needle in lines[0]


def test_missing_model_file(set5):
    _one_line_error(run_srkd("eval", "no/such.safetensors", "--data", set5), "no/such.safetensors")


def test_missing_data_folder(tmp_path):
    _one_line_error(run_srkd("eval", "bicubic", "--data", tmp_path / "nope", "--scale", 2), "nope", "no such data folder")


def test_corrupt_image(tmp_path):
    (tmp_path / "HR").mkdir()
    (tmp_path / "HR" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    _one_line_error(run_srkd("eval", "bicubic", "--data", tmp_path, "--scale", 2), "broken.png", "not a readable image")


def test_wrong_checkpoint(tmp_path, set5):
    (tmp_path / "weights.pth").write_bytes(b"definitely not torch")
    _one_line_error(run_srkd("eval", tmp_path / "weights.pth", "--data", set5), "weights.pth")


def test_usage_error_exits_2():
    out = run_srkd("eval", "bicubic")
    assert out.returncode == 2 and "--data" in out.stderr


def test_help_and_version():
    out = run_srkd("--help")
    assert out.returncode == 0 and "eval" in out.stdout
    assert run_srkd("--version").stdout.strip().startswith("srkd, version")
