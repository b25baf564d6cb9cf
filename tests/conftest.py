"""Shared fixtures: the ../shared folder, real sample photos, and running the CLI as a subprocess."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]

try:  # the fuzz suite's example budgets (tests/fuzz/fuzzlib.budget): `--hypothesis-profile=slow` for 10x
    from hypothesis import HealthCheck, settings

    _common = dict(deadline=None, print_blob=True,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                          HealthCheck.data_too_large, HealthCheck.large_base_example])
    settings.register_profile("srkd", max_examples=100, **_common)
    settings.register_profile("slow", max_examples=1000, **_common)
    settings.load_profile("srkd")  # the plugin loads --hypothesis-profile after this, when one is given
except ImportError:  # hypothesis is in the dev extra; without it the fuzz tests do not import
    pass


def shared_dir() -> Path | None:
    path = Path(os.environ.get("SRKD_SHARED", REPO.parent / "shared"))
    return path if (path / "data").is_dir() else None


@pytest.fixture(scope="session")
def shared() -> Path:
    """``<repo>/../shared`` (or $SRKD_SHARED); skips the test when it is absent."""
    path = shared_dir()
    if path is None:
        pytest.skip("needs ../shared (real benchmark images and weights); set SRKD_SHARED to point at it")
    return path


@pytest.fixture(scope="session")
def set5(shared: Path) -> Path:
    return shared / "data" / "bench" / "Set5"


@pytest.fixture(scope="session")
def spandrel():
    """The spandrel module; skips the test where it does not import (`make test` runs those tests in
    .venv-spandrel)."""
    from srkd.errors import BackendUnavailableError
    from srkd.models.spandrel_import import import_spandrel

    try:
        return import_spandrel()
    except BackendUnavailableError as exc:
        pytest.skip(f"{exc} (`make test-spandrel` sets up an environment with it)")


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    """A real RGB photo from scikit-image's wheel (astronaut, 512x512 uint8)."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


def photo_run_folder(root: Path, *, teacher_hparams: dict) -> Path:
    """``root/hr`` with four real 192 px photos and ``root/teacher.safetensors``, a tiny seeded EDSR."""
    import torch
    from skimage import data

    from srkd.data.io import write_image
    from srkd.models import build_model
    from srkd.models.checkpoint import save_model

    for name in ("astronaut", "coffee", "chelsea", "rocket"):
        write_image(root / "hr" / f"{name}.png", getattr(data, name)()[:192, :192])
    torch.manual_seed(3)
    save_model(root / "teacher.safetensors", build_model("edsr", {"scale": 2, **teacher_hparams}))
    return root


def run_srkd(*args: str, cwd: str | Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the real ``srkd`` CLI in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "srkd", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=timeout,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )


def ctrl_c_after(real):
    """``real``, followed by a real SIGINT to this process (through the CLI's handler when one is installed)."""
    def wrapped(*args, **kwargs):
        result = real(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGINT)
        return result
    return wrapped
