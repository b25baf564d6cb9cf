"""Engine: equal-shape windows of one or several images batched; OOM split/shrunk; errors isolated per image."""
import numpy as np
import pytest
from serve_fakes import NearestRunner

from srkd.models.spec import SizeReq
from srkd.serve.engine import Engine, is_oom
from srkd.serve.task import ImageOptions, finish, prepare
from srkd.serve.tiler import TileSettings


def nearest(img: np.ndarray, s: int) -> np.ndarray:
    return img.repeat(s, axis=0).repeat(s, axis=1)


def run(engine: Engine, images: list[np.ndarray], scale: int = 2) -> dict:
    tasks = [prepare(img, in_channels=3, key=i) for i, img in enumerate(images)]
    out = {}
    for done in engine.run(tasks):
        out[done.task.key] = done.error if done.error else finish(done.task, done.outputs, scale=scale)
    return out


def test_equal_images_run_as_one_batch(photo):
    runner = NearestRunner().activate()
    crops = [photo[i * 40: i * 40 + 40, :50] for i in range(4)]
    engine = Engine(runner.infer, scale=2, tiles=TileSettings(tile=None), batch=4)
    out = run(engine, crops)
    assert runner.calls == [(4, 3, 40, 50)]
    for i, c in enumerate(crops):
        np.testing.assert_array_equal(out[i], nearest(c, 2))


def test_tiles_of_several_images_share_batches(photo):
    runner = NearestRunner().activate()
    a, b = photo[:200, :200], photo[200:400, 100:300]  # same size: same windows
    engine = Engine(runner.infer, scale=2, tiles=TileSettings(tile=64, overlap=8), batch=8)
    out = run(engine, [a, b, photo[:30, :30]])
    shapes = [c for c in runner.calls if c[2] > 30]
    assert sum(c[0] for c in shapes) == 2 * 16 and all(c[0] == 8 for c in shapes)  # 4x4 windows each, batches of 8
    assert (1, 3, 30, 30) in runner.calls
    np.testing.assert_array_equal(out[0], nearest(a, 2))
    np.testing.assert_array_equal(out[1], nearest(b, 2))


def test_out_of_memory_splits_the_batch_then_shrinks_the_tile(photo):
    img = photo[:256, :256]
    runner = NearestRunner(oom_above=3 * 100 * 100).activate()  # one 100x100 window fits, two do not
    engine = Engine(runner.infer, scale=2, tiles=TileSettings(tile=128, overlap=8), batch=4)
    out = run(engine, [img])
    assert engine.batch == 1 and engine.tiles.tile == 64
    np.testing.assert_array_equal(out[0], nearest(img, 2))


def test_out_of_memory_at_the_smallest_tile_fails_that_image_only(photo):
    runner = NearestRunner(oom_above=3 * 60 * 60).activate()
    engine = Engine(runner.infer, scale=2, tiles=TileSettings(tile=None, overlap=8), min_tile=64)
    out = run(engine, [photo[:300, :300], photo[:50, :50]])
    assert isinstance(out[0], MemoryError) and "out of memory even with" in str(out[0])
    np.testing.assert_array_equal(out[1], nearest(photo[:50, :50], 2))


def test_a_failing_input_fails_its_image_not_the_batch(photo):
    runner = NearestRunner(fail=lambda b: any(float(x.mean()) == 0.0 for x in b)).activate()
    black = np.zeros((40, 50, 3), np.uint8)
    engine = Engine(runner.infer, scale=2, batch=3)
    out = run(engine, [photo[:40, :50], black, photo[100:140, :50]])
    assert isinstance(out[1], RuntimeError)
    np.testing.assert_array_equal(out[0], nearest(photo[:40, :50], 2))
    np.testing.assert_array_equal(out[2], nearest(photo[100:140, :50], 2))


def test_size_requirement_and_alpha_through_the_model(photo):
    runner = NearestRunner(scale=3, size_req=SizeReq(minimum=16, multiple_of=8)).activate()
    rgba = np.dstack([photo[:37, :29], np.linspace(0, 255, 37 * 29).reshape(37, 29).astype(np.uint8)])
    engine = Engine(runner.infer, scale=3, size_req=runner.spec.size_req, tiles=TileSettings(tile=16, overlap=4),
                    batch=16)
    opts = ImageOptions(alpha="model")
    task = prepare(rgba, in_channels=3, options=opts)
    assert len(task.planes) == 2
    (done,) = engine.run([task])
    out = finish(task, done.outputs, scale=3, options=opts)
    np.testing.assert_array_equal(out, nearest(rgba, 3))
    assert all(c[2] % 8 == 0 and c[3] % 8 == 0 and min(c[2:]) >= 16 for c in runner.calls)


@pytest.mark.parametrize("exc,oom", [(MemoryError(), True), (RuntimeError("CUDA out of memory. Tried"), True),
                                     (RuntimeError("Failed to allocate memory for requested buffer"), True),
                                     (RuntimeError("shape mismatch"), False)])
def test_is_oom(exc, oom):
    assert is_oom(exc) is oom
