"""Shared parts of the fuzz suite: example budgets, the memory-limited sandbox, the oracle, tiny inputs.

Budgets: each test asks for ``budget(n)`` examples; the default profile runs ``n`` (the whole fuzz and
signal suite stays near two minutes on 2 CPU cores), ``--hypothesis-profile=slow`` ten times as many.

The oracle (``check``): the command ended in success, or in exactly one ``srkd: error:`` line on stderr
with exit code 1 that names the file or the field and says what was expected, or in a usage error
(exit 2) naming the option, or (upscale) in exit 3 with a report; never a traceback, never anything
else on stderr, and no file left behind beyond what the command documents.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from hypothesis import settings

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def budget(n: int) -> settings:
    """``n`` examples in the default profile, scaled with the active profile's max_examples (the profiles
    are registered in tests/conftest.py: ``srkd``, 100, the default; ``slow``, 1000: ten times as many)."""
    return settings(max_examples=max(1, n * settings.default.max_examples // 100))


# what an error line says about what was expected
EXPECT = re.compile(r"expected|must be|must name|needs|lacks|not a |no such|unknown|unsupported|over the|refus|"
                    r"cannot|already|does not|do not|not readable|empty file|not writable|is a folder|is a file|"
                    r"not valid|not among|no baseline|regression|differ|is not|no .* (found|folder|files)|"
                    r"would (leave|overwrite)|disagree|give one of|missing|smaller than|supports|accepted|available",
                    re.I)
LOG_LINE = re.compile(r"^(WARNING|INFO|DEBUG) srkd[.\w]*: ")


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    traceback: str | None = None

    def show(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.stdout[-2000:]}\n--- stderr\n{self.stderr[-2000:]}\n" + \
               (f"--- traceback\n{self.traceback}" if self.traceback else "")


def check(res: Outcome, *, names: tuple[str, ...], codes: tuple[int, ...] = (0, 1, 2),
          other_stderr: re.Pattern | None = None) -> str | None:
    """Assert the oracle (see the module docstring); returns the error line (None on success)."""
    from hypothesis import event

    event(f"exit {res.code}")
    assert res.traceback is None and "Traceback (most recent call last)" not in res.stderr, res.show()
    assert res.code in codes, res.show()
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    if res.code == 2:
        assert any(line.startswith("Error:") for line in lines), res.show()
        assert any(n in res.stderr for n in names) or "Invalid value" in res.stderr or "No such option" in \
            res.stderr or "Missing" in res.stderr or "Got unexpected" in res.stderr, res.show()
        return None
    if res.code == 0:  # success may show progress and warnings; the promise is about failures
        return None
    noise = [line for line in lines if not line.startswith("srkd: error:") and not LOG_LINE.match(line)
             and not (other_stderr and other_stderr.search(line))]
    assert not noise, res.show()
    errors = [line for line in lines if line.startswith("srkd: error:")]
    if res.code == 1:
        assert len(errors) == 1, res.show()
        assert any(n in errors[0] for n in names), f"the line names none of {names}\n" + res.show()
        assert EXPECT.search(errors[0]), "the line does not say what was expected\n" + res.show()
        return errors[0]
    return None


def files_under(root: Path) -> set[str]:
    """Every file and folder below ``root``, as relative paths (hidden ones too)."""
    return {str(p.relative_to(root)) for p in root.rglob("*")}


class Sandbox:
    """``tests/fuzz/worker.py`` in a subprocess with a memory limit; ``run(args, cwd)`` runs one command line."""

    def __init__(self, *, limit_mb: int = 3072) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
               "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
        self.proc = subprocess.Popen([sys.executable, str(HERE / "worker.py"), str(limit_mb)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env, cwd=str(REPO))
        assert json.loads(self._read())["ready"]

    def _read(self) -> str:
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait(timeout=30)
            raise AssertionError(f"the fuzz worker died (exit {code}): a command took it down (memory?)")
        return line

    def run(self, args: list[str], *, cwd: Path) -> Outcome:
        self.proc.stdin.write(json.dumps({"args": [str(a) for a in args], "cwd": str(cwd)}) + "\n")
        self.proc.stdin.flush()
        return Outcome(**json.loads(self._read()))

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def invoke(args: list[str], *, cwd: Path) -> Outcome:
    """One command line in this process (click's test runner), from ``cwd``."""
    from click.testing import CliRunner

    from srkd.cli import main

    old = os.getcwd()
    os.chdir(cwd)
    try:
        res = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=True)
    finally:
        os.chdir(old)
    tb = None
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        import traceback

        tb = "".join(traceback.format_exception(type(res.exception), res.exception, res.exception.__traceback__))
    return Outcome(code=res.exit_code, stdout=res.stdout, stderr=res.stderr, traceback=tb)


def tiny_student(path: Path, *, scale: int = 2) -> Path:
    """A tiny seeded EDSR, saved the srkd way."""
    import torch

    from srkd.models import build_model
    from srkd.models.checkpoint import save_model

    torch.manual_seed(0)
    save_model(path, build_model("edsr", {"scale": scale, "n_feats": 4, "n_blocks": 1}))
    return path


def photo_png(path: Path, *, size: int = 24, gray: bool = False) -> Path:
    """A crop of a real photo (scikit-image's astronaut) as PNG."""
    import cv2
    from skimage import data

    img = data.astronaut()[100:100 + size, 180:180 + size]
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) if gray else img[:, :, ::-1])
    return path
