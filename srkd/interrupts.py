"""Short steps that an interrupt must not cut in half: renaming a finished bundle into place, writing a report.

Inside ``uninterrupted()`` the srkd CLI's handler (srkd.cli.signals) only notes a Ctrl-C or SIGTERM;
the KeyboardInterrupt comes when the block ends, so the step is either not begun or whole. Outside the
srkd CLI (the Python API with Python's own handler) it changes nothing.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

_depth = 0
_pending = False


@contextlib.contextmanager
def uninterrupted() -> Iterator[None]:
    """Hold a Ctrl-C/SIGTERM (noted by the srkd CLI's handler) until the block is done, then raise it."""
    global _depth, _pending
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0 and _pending:
            _pending = False
            raise KeyboardInterrupt


def hold() -> bool:
    """Called by the signal handler: True (and the interrupt is held) inside ``uninterrupted``."""
    global _pending
    if _depth:
        _pending = True
        return True
    return False
