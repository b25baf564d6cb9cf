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


IMPORT_PATIENCE_S = 10.0  # how long a first signal waits for an import to finish


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
    import is done (at most ``IMPORT_PATIENCE_S``; a second signal meanwhile stops at once): raised
    there, a C extension's initialisation turns it into an ImportError, a library's fallback for a
    missing optional module can swallow it (the run then goes on, deaf to further signals), and the
    import's dataclasses leave CPython's exit-by-SIGINT note. Only where the courier thread that sends
    it again was started (``_start_courier``: wherever srkd installs the guard).
    """

    def __init__(self) -> None:
        self.count = 0
        self.first: int | None = None
        self.deferred: int | None = None  # a first signal waiting for an import to end
        self._deferred_since = 0.0
        self._resent = False  # the next signal is the courier's

    def __call__(self, signum: int, frame: object) -> None:
        ours, self._resent = self._resent, False
        if self.count == 0 and _courier is not None and _importing(frame):
            patient = time.monotonic() - (self._deferred_since or time.monotonic()) < IMPORT_PATIENCE_S
            if patient and (self.deferred is None or ours):
                self._deferred_since = self._deferred_since or time.monotonic()
                self.deferred = signum
                _send_again(self, signum)
                return
        self.deferred, self._deferred_since = None, 0.0
        self.count += 1
        if self.count == 1:
            self.first = signum
            if not hold():  # inside ``uninterrupted`` it comes when the step is done
                raise KeyboardInterrupt
        log.debug("%s again (%d signals): already stopping", signal.Signals(signum).name, self.count)

    @property
    def interrupted(self) -> bool:
        return self.count > 0

    def reset(self) -> None:
        self.count, self.first, self.deferred, self._deferred_since = 0, None, None, 0.0


# The courier: one daemon thread that sends a deferred signal again 50 ms later. The handler only writes a
# byte to its pipe: it must not start a thread or take a lock (Thread.start and Event.set take locks the
# interrupted main thread, or a handler it is already running, may hold).
_courier: threading.Thread | None = None
_courier_pipe: tuple[int, int] | None = None
_courier_job: tuple[InterruptGuard, int] | None = None


def _start_courier() -> None:
    global _courier, _courier_pipe
    if _courier is None and threading.current_thread() is threading.main_thread():
        _courier_pipe = os.pipe()
        _courier = threading.Thread(target=_courier_loop, args=(_courier_pipe[0],), name="srkd-interrupt-courier",
                                    daemon=True)
        _courier.start()


def _forget_courier() -> None:
    """A forked child has the pipe but not the thread: it raises at once, as without the courier."""
    global _courier, _courier_pipe, _courier_job
    _courier = _courier_pipe = _courier_job = None


os.register_at_fork(after_in_child=_forget_courier)


def _send_again(guard: InterruptGuard, signum: int) -> None:
    global _courier_job
    _courier_job = (guard, signum)
    os.write(_courier_pipe[1], b"!")


def _courier_loop(wake: int) -> None:
    global _courier_job
    while os.read(wake, 64):
        time.sleep(0.05)
        job, _courier_job = _courier_job, None
        if job is not None and job[0].deferred is not None and signal.getsignal(job[1]) is job[0]:
            job[0]._resent = True
            os.kill(os.getpid(), job[1])


_process_guard: InterruptGuard | None = None


def install_for_process() -> InterruptGuard:
    """Install the guard for the rest of the process (the ``srkd`` program itself: no window at exit
    where a late signal would find Python's default handlers again)."""
    global _process_guard
    if _process_guard is None:
        _start_courier()
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
    _start_courier()
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
    if guard.deferred is not None and not guard.interrupted:  # the block ended before it was sent again
        raise KeyboardInterrupt
