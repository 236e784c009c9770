"""How far a run has got: a progress bar on a terminal, plain log lines in a scheduler's log.

Takes each manifest entry as the batch writes it; gives, on stderr, either a live bar with
rows done, letters per second and the time left (``rich``, when stderr is a terminal), or a
log line (logger ``dunning.progress``, level INFO: shown with ``-v``, in the one log format of
:mod:`dunning.log`) every ``every`` rows or ``interval`` seconds, whichever comes first::

    2026-11-21T01:00:10.000+08:00 INFO dunning.progress: 1200/100000 rows (1.2%), 1150 …

The total is known when every input is CSV (counted before the run, see
:func:`dunning.records.count_rows`); otherwise the lines show rows done and the rate. The lines
carry counts only, never an account id or any personal data.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import Any, Literal, Protocol, TextIO

from .output import ManifestEntry

Mode = Literal["auto", "bar", "log", "off"]
MODES: tuple[Mode, ...] = ("auto", "bar", "log", "off")


class Progress(Protocol):
    """What the batch calls: ``start`` once, ``update`` per manifest line, ``finish`` once."""

    def start(self, total: int | None) -> None: ...

    def update(self, entry: ManifestEntry) -> None: ...

    def finish(self) -> None: ...


def duration(seconds: float) -> str:
    """A short human duration.

    >>> duration(42), duration(125), duration(4000)
    ('42s', '2m05s', '1h06m')
    """
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class _Counts:
    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.total: int | None = None
        self.rows = 0
        self.letters = 0
        self.started = clock()

    def add(self, entry: ManifestEntry) -> None:
        self.rows += 1
        self.letters += entry.outcome == "rendered"

    @property
    def rate(self) -> float:
        elapsed = self.clock() - self.started
        return self.rows / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        rate = self.rate
        if self.total:
            share = f"{self.rows}/{self.total} rows ({100 * self.rows / self.total:.1f}%)"
        else:
            share = f"{self.rows} rows"
        text = f"{share}, {self.letters} letters, {rate:.1f} rows/s"
        if self.total and rate > 0 and self.rows < self.total:
            text += f", ETA {duration((self.total - self.rows) / rate)}"
        elif self.total is not None and self.rows >= self.total:
            text += f", done in {duration(self.clock() - self.started)}"
        return text


log = logging.getLogger("dunning.progress")


class LogProgress:
    """A progress log line every ``every`` rows or ``interval`` seconds, and at the end: to
    the ``dunning.progress`` logger, or, when ``stream`` is given, formatted the same way
    onto it."""

    def __init__(
        self, stream: TextIO | None = None, *, every: int = 1000, interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.every = every
        self.interval = interval
        self.counts = _Counts(clock)
        self._last = self.counts.started

    def _emit(self) -> None:
        if self.stream is None:
            log.info("%s", self.counts.line())
        else:
            from .log import TextFormatter

            record = log.makeRecord(log.name, logging.INFO, __file__, 0,
                                    "%s", (self.counts.line(),), None)
            print(TextFormatter().format(record), file=self.stream, flush=True)
        self._last = self.counts.clock()

    def start(self, total: int | None) -> None:
        self.counts = _Counts(self.counts.clock)
        self.counts.total = total
        self._last = self.counts.started

    def update(self, entry: ManifestEntry) -> None:
        self.counts.add(entry)
        if self.counts.rows % self.every == 0 or \
                self.counts.clock() - self._last >= self.interval:
            self._emit()

    def finish(self) -> None:
        self._emit()


class BarProgress:
    """A live ``rich`` bar on stderr: rows done of the total, rows per second, time left."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream
        self._bar: Any = None
        self._task: Any = None
        self._letters = 0

    def start(self, total: int | None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("{task.fields[letters]} letters"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("rows {task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(file=self.stream or sys.stderr),
            transient=False,
        )
        self._bar.start()
        self._task = self._bar.add_task("run", total=total, letters=0, rate="")

    def update(self, entry: ManifestEntry) -> None:
        self._letters += entry.outcome == "rendered"
        task = self._bar.tasks[0]
        rate = f"{task.speed:.1f} rows/s" if task.speed else ""
        self._bar.update(self._task, advance=1, letters=self._letters, rate=rate)

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def make_progress(mode: Mode | str, stream: TextIO | None = None) -> Progress | None:
    """The reporter for ``mode``: ``auto`` is a bar when ``stream`` (default stderr) is a
    terminal and log lines otherwise; ``off`` is none."""
    if mode not in MODES:
        raise ValueError(f"progress must be one of {', '.join(MODES)}, not {mode!r}")
    if mode == "off":
        return None
    if mode == "auto":
        target = stream or sys.stderr
        mode = "bar" if target.isatty() else "log"
    return BarProgress(stream) if mode == "bar" else LogProgress(stream)
