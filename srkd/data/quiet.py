"""What C libraries print to the process's stderr (libpng, libjpeg, libtiff inside OpenCV), caught.

OpenCV's codecs report a damaged file by printing to file descriptor 2 ("libpng error: Not enough image
data") before returning nothing; srkd turns the failure into its own one line, so the library's text
is caught here and becomes the reason in that line (or a debug log record when decoding succeeded).
One capture at a time (a lock): the descriptor is shared by every thread.
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from typing import Iterator

_lock = threading.Lock()


@contextlib.contextmanager
def captured_stderr() -> Iterator[list[str]]:
    """Within the block, file descriptor 2 goes to a temp file; the list gets its lines afterwards."""
    lines: list[str] = []
    with _lock, tempfile.TemporaryFile() as sink:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            lines += [line.strip() for line in sink.read(64 * 1024).decode("utf-8", "replace").splitlines()
                      if line.strip()]
