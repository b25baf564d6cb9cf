import numpy as np
import pytest
import torch

from srkd.data.dataset import HRFolderDataset
from srkd.data.imresize import imresize_torch
from srkd.data.io import write_image
from srkd.errors import DataError


@pytest.fixture()
def folder(tmp_path, photo):
    write_image(tmp_path / "a.png", photo[:200, :160])
    write_image(tmp_path / "sub" / "b.png", photo[100:300, 50:330])
    write_image(tmp_path / "tiny.png", photo[:20, :20])
    return tmp_path


def test_patches_are_aligned(folder):
    ds = HRFolderDataset([folder], scale=4, patch=16)
    assert len(ds) == 2  # tiny.png is smaller than a patch and skipped
    lr, hr = ds.sample(np.random.default_rng(0), 8)
    assert lr.shape == (8, 3, 16, 16) and hr.shape == (8, 3, 64, 64)
    assert lr.dtype == torch.float32 and 0 <= lr.min() and lr.max() <= 1
    # LR patch ~= bicubic-downscaled HR patch (equal away from borders), in every flip/rotation
    down = imresize_torch(hr.double(), scale=0.25)
    err = (down - lr.double()).abs()[..., 3:-3, 3:-3]
    assert err.mean() < 0.5 / 255 and err.max() < 6 / 255
    shifted = (down[..., 1:, :] - lr.double()[..., :-1, :]).abs()[..., 3:-3, 3:-3]
    assert shifted.mean() > 4 * err.mean()  # a one-pixel misalignment would show


def test_reproducible(folder):
    ds = HRFolderDataset([folder], scale=2, patch=24)
    a = ds.sample(np.random.default_rng(5), 4)
    b = ds.sample(np.random.default_rng(5), 4)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_bad_folders(tmp_path):
    with pytest.raises(DataError, match="no such data folder"):
        HRFolderDataset([tmp_path / "missing"], scale=2, patch=8)
    with pytest.raises(DataError, match="no training images"):
        HRFolderDataset([tmp_path], scale=2, patch=8)
