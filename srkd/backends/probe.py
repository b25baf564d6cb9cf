"""Helpers for the backends: ``srkd doctor``'s probes, which report what failed instead of raising, and
``captured_stderr`` for runtimes whose C code prints on the process's stderr (ncnn's Vulkan probe,
LiteRT's delegate notice), which would break the CLI's one-line errors."""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from typing import Iterator

log = logging.getLogger(__name__)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:240]


@contextlib.contextmanager
def captured_stderr(label: str, *, stdout: bool = False) -> Iterator[list[str]]:
    """Send file descriptor 2 (and 1 with ``stdout``) to a temp file for the block; its lines are logged at
    DEBUG (as ``label: line``) and appended to the yielded list when the block ends."""
    lines: list[str] = []
    fds = (1, 2) if stdout else (2,)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(fd) for fd in fds]
    with tempfile.TemporaryFile() as sink:
        for fd in fds:
            os.dup2(sink.fileno(), fd)
        try:
            yield lines
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, copy in zip(fds, saved):
                os.dup2(copy, fd)
                os.close(copy)
            sink.seek(0)
            lines.extend(line for line in sink.read().decode(errors="replace").splitlines() if line.strip())
            for line in lines:
                log.debug("%s: %s", label, line)
