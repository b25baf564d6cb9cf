"""What C libraries print to the process's stderr (libpng, libjpeg, libtiff inside OpenCV), caught.

OpenCV's codecs report a damaged file by printing to file descriptor 2 ("libpng error: Not enough image
data") before returning nothing; srkd turns the failure into its own one line, so the library's text
is caught here and becomes the reason in that line (or a debug log record when decoding succeeded).
One capture at a time (a lock): the descriptor is shared by every thread. OpenCV's own log (its
``[ERROR:...]`` and ``[ WARN:...]`` lines, libtiff's complaints among them) is silenced once, for the
whole process (``quiet_opencv``): srkd reports every failure itself, in one line.
"""
from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading
from typing import Iterator

_lock = threading.Lock()
# what image decoders print (libpng, libjpeg, libtiff, OpenCV's log); other lines written to fd 2 while a
# capture runs (another thread's output) are passed on to the real stderr afterwards
DECODER = re.compile(r"^(libpng |libjpeg|libtiff|\[ ?(WARN|ERROR|INFO|DEBUG)|TIFF|Corrupt JPEG|Premature end of JPEG|"
                     r"Invalid SOS|Bogus|JPEG datastream|Warning: |Error: )")


@contextlib.contextmanager
def captured_stderr() -> Iterator[list[str]]:
    """Within the block, file descriptor 2 goes to a temp file; the list gets the decoders' lines afterwards."""
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
            others = []
            for line in sink.read(64 * 1024).decode("utf-8", "replace").splitlines(keepends=True):
                (lines.append(line.strip()) if DECODER.match(line) else others.append(line))
            if others:
                sys.stderr.write("".join(others))
                sys.stderr.flush()


def quiet_opencv() -> None:
    """Silence OpenCV's log (srkd reports decoding failures itself)."""
    import cv2

    try:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    except AttributeError:  # an OpenCV build without the logging module
        pass
