"""Published checkpoints from ../shared/weights load unchanged and reproduce their papers' numbers
with BasicSR's protocol (srkd eval)."""
import json


from conftest import run_srkd


def _eval(*args):
    out = run_srkd("eval", *args, "--json", "-")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_imdn_x2_reproduces_the_published_table(shared):
    bench = shared / "data" / "bench"
    res = _eval(shared / "weights" / "IMDN_x2.pth", "--data", bench / "Set5", "--data", bench / "Set14")
    assert res["spec"]["arch"] == "imdn" and res["spec"]["scale"] == 2
    assert res["spec"]["hparams"]["n_feats"] == 64 and res["spec"]["hparams"]["n_blocks"] == 6
    set5, set14 = res["results"]
    assert abs(set5["psnr"] - 38.00) <= 0.01 and abs(set14["psnr"] - 33.63) <= 0.01
    assert len(set14["images"]) == 14  # grey bridge.png counted as three equal channels


def test_rfdn_x4_runs_on_0_255_found_by_the_probe(shared):
    res = _eval(shared / "weights" / "RFDN_x4.pth", "--data", shared / "data" / "bench" / "Set5", "--no-ssim")
    spec = res["spec"]
    assert spec["arch"] == "rfdn" and spec["hparams"]["n_feats"] == 50 and spec["hparams"]["n_blocks"] == 4
    assert spec["value_range"] == [0.0, 255.0] and res["value_range_source"] == "probe"
    assert spec["size_req"] == {"minimum": 15, "multiple_of": 1}
    assert abs(res["results"][0]["psnr"] - 32.16) <= 0.01


def test_rfdn_x4_with_the_wrong_input_range_is_much_worse(shared):
    res = _eval(shared / "weights" / "RFDN_x4.pth", "--data", shared / "data" / "bench" / "Set5",
                "--no-ssim", "--input-range", "1")
    assert res["value_range_source"] == "user" and res["results"][0]["psnr"] < 27.0


def test_inspect_says_the_range_is_a_guess(shared):
    out = run_srkd("inspect", shared / "weights" / "RFDN_x4.pth")
    assert out.returncode == 0, out.stderr
    assert "rfdn" in out.stdout and "433,448" in out.stdout and "GUESSED" in out.stdout
    assert "kd, augkd, mipkd" in out.stdout and "min 15" in out.stdout
    info = json.loads(run_srkd("inspect", shared / "weights" / "IMDN_x2.pth", "--json", "--input-range", "0-1").stdout)
    assert info["value_range"] == [0.0, 1.0] and info["value_range_source"] == "user"
    assert not info["value_range_guessed"] and info["params"] == 694404 and info["feature_kd"]
