"""Stopping a run on a signal, safely.

- SIGINT (Ctrl-C) raises :class:`KeyboardInterrupt` as Python does: the run stops at once, the
  manifest's temp file is removed, nothing half-written stays; exit 130.
- The first SIGTERM (what systemd and most schedulers send) asks the run to stop gracefully:
  it reads no more rows, finishes the letters in flight, writes their manifest lines, the
  summary (marked ``interrupted``) and rejects, and exits 143. A rerun resumes.
- A second SIGTERM raises :class:`Terminated`: the run stops at once, like Ctrl-C (exit 143).

:func:`graceful_sigterm` installs the handler for the length of a run (main thread only);
the batch polls the :class:`StopRequest` it gives before reading each row.
:func:`time_limit` stops one letter made in this process (pre-flight, ``dunning render``)
that takes too long.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from .errors import LetterTimeoutError

log = logging.getLogger("dunning.batch")


class Terminated(BaseException):
    """A second SIGTERM: stop at once (not an error of the run: a BaseException, so that no
    ``except Exception`` around one letter swallows it)."""


class StopRequest:
    """Whether a stop was asked for, and by which signal (``"SIGTERM"``)."""

    def __init__(self) -> None:
        self.signal: str | None = None

    def __call__(self) -> bool:
        return self.signal is not None

    def request(self, name: str) -> None:
        self.signal = name


@contextmanager
def graceful_sigterm() -> Iterator[StopRequest]:
    """Handle SIGTERM as described in the module docstring while the block runs."""
    stop = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handle(signum: int, _frame: FrameType | None) -> None:
        if stop():
            raise Terminated("second SIGTERM: stopping at once")
        stop.request(signal.Signals(signum).name)
        log.warning("SIGTERM: finishing the letters in flight, then writing the manifest "
                    "and summary (a second SIGTERM stops at once)")

    previous = signal.signal(signal.SIGTERM, handle)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """:class:`~dunning.errors.LetterTimeoutError` when the block takes longer than
    ``seconds`` (SIGALRM: in the main thread only, elsewhere no limit; Python code such as a
    template's loop is stopped, a call into a C library only when it returns)."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(_signum: int, _frame: Any) -> None:
        raise LetterTimeoutError(f"took longer than the per-letter time limit of {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
