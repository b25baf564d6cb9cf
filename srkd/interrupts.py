"""Ctrl-C and SIGTERM, once or any number of times: one clean stop (the CLI's exit code 130).

The srkd program installs ``InterruptGuard`` as the handler of both (``install_for_process``, first
thing in ``python -m srkd``; ``interrupt_guard`` around one command elsewhere). The first signal raises
KeyboardInterrupt in the main thread, where each command stops cleanly (upscale finishes the writes
already running and writes its report; export removes its unfinished bundle; distill keeps its last
checkpoint). Every later signal is only counted: the clean stop the first one started runs to its
end instead of being cut short by a second KeyboardInterrupt (which used to abort the interpreter
mid-cleanup: exit 134, or 143 for a second SIGTERM). A signal that a shell or ``nohup`` set to be
ignored stays ignored.

Short steps that must not be cut in half (renaming a finished bundle into place, writing a report)
run inside ``uninterrupted()``: there the guard only notes the signal, and the KeyboardInterrupt comes
when the block ends. Outside the srkd CLI (the Python API with Python's own handler) it changes nothing.

This module imports nothing heavy, so the program can install the guard before anything else.
"""
from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from typing import Iterator

_depth = 0
_pending = False


@contextlib.contextmanager
def uninterrupted() -> Iterator[None]:
    """Hold a Ctrl-C/SIGTERM (noted by the srkd CLI's handler) until the block is done, then raise it.
    Outside the main thread it does nothing: signals interrupt only the main thread, and the held one must
    come there."""
    global _depth, _pending
    if threading.current_thread() is not threading.main_thread():
        yield
        return
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


log = logging.getLogger(__name__)

EXIT_INTERRUPTED = 130
SIGNALS = (signal.SIGINT, signal.SIGTERM)


IMPORT_PATIENCE_S = 10.0  # how long the first signal waits for an import to finish


def _importing(frame) -> bool:
    """The main thread is inside an import (Python's import machinery is on its stack)."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


class InterruptGuard:
    """The handler: the first signal raises KeyboardInterrupt, later ones are counted only.

    A first signal that finds the main thread inside an import is sent again a moment later, until the
    import is done (at most ``IMPORT_PATIENCE_S``): raised there, a C extension's initialisation turns it
    into an ImportError, a library's fallback for a missing optional module can swallow it (the run then
    goes on, deaf to further signals), and the import's dataclasses leave CPython's exit-by-SIGINT note.
    """

    def __init__(self) -> None:
        self.count = 0
        self.first: int | None = None
        self._deferred_since: float | None = None

    def __call__(self, signum: int, frame: object) -> None:
        if self.count == 0 and _importing(frame):
            now = time.monotonic()
            self._deferred_since = self._deferred_since or now
            if now - self._deferred_since < IMPORT_PATIENCE_S:
                threading.Timer(0.05, self._again, (signum,)).start()
                return
        self._deferred_since = None
        self.count += 1
        if self.count == 1:
            self.first = signum
            if not hold():  # inside ``uninterrupted`` it comes when the step is done
                raise KeyboardInterrupt
        log.debug("%s again (%d signals): already stopping", signal.Signals(signum).name, self.count)

    @property
    def interrupted(self) -> bool:
        return self.count > 0

    def _again(self, signum: int) -> None:
        if signal.getsignal(signum) is self:  # still the handler (a block's guard may be gone by now)
            os.kill(os.getpid(), signum)

    def reset(self) -> None:
        self.count, self.first, self._deferred_since = 0, None, None


_process_guard: InterruptGuard | None = None


def install_for_process() -> InterruptGuard:
    """Install the guard for the rest of the process (the ``srkd`` program itself: no window at exit
    where a late signal would find Python's default handlers again)."""
    global _process_guard
    if _process_guard is None:
        _process_guard = InterruptGuard()
        for sig in SIGNALS:
            if signal.getsignal(sig) is not signal.SIG_IGN:
                signal.signal(sig, _process_guard)
    return _process_guard


def ignore_from_now() -> None:
    """The command is over and its exit code decided: later signals are ignored. (Python's shutdown
    puts back the default handlers of any it handled, and a signal then would kill the process with
    143, or 130 without its report; an ignored signal stays ignored.)

    And the exit code stays the one decided: CPython (3.11 to 3.13 at least) notes any KeyboardInterrupt that
    once left an exec() or eval() of a string, such as the dataclass and namedtuple code every import makes,
    even when srkd caught it later, and at exit then kills the process with SIGINT (exit -2) instead. Each
    such exec() clears that note first, so one that succeeds here clears it."""
    for sig in SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    exec("None")  # noqa: S102 (a constant string: only the side effect above)


@contextlib.contextmanager
def interrupt_guard() -> Iterator[InterruptGuard]:
    """The process guard when installed, else a guard for the block only (handlers restored after)."""
    if _process_guard is not None:
        _process_guard.reset()
        yield _process_guard
        return
    guard = InterruptGuard()
    previous = {}
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield guard
        return
    for sig in SIGNALS:
        current = signal.getsignal(sig)
        if current is not signal.SIG_IGN:
            previous[sig] = current
            signal.signal(sig, guard)
    try:
        yield guard
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
