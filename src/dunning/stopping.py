"""Stopping a run on a signal, safely.

- SIGINT (Ctrl-C) raises :class:`KeyboardInterrupt` as Python does: the run stops at once, the
  manifest's temp file is removed, nothing half-written stays; exit 130.
- The first SIGTERM (what systemd and most schedulers send) asks the run to stop gracefully:
  it reads no more rows, finishes the letters in flight, writes their manifest lines, the
  summary (marked ``interrupted``) and rejects, and exits 143. A rerun resumes.
- A second SIGTERM raises :class:`Terminated`: the run stops at once, like Ctrl-C (exit 143).

:func:`graceful_sigterm` installs the handler for the length of a run (main thread only);
the batch polls the :class:`StopRequest` it gives before reading each row.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

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
