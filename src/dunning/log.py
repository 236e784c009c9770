"""dunning's logger, its one line format, and what each level means.

- ERROR: the run cannot go on (bad config, unreadable input, output not writable).
- WARNING: one row did not become a letter because of a problem (rejected or failed); the
  run goes on and the manifest records it. A SIGTERM asking the run to stop.
- INFO (``-v``): numbered progress of the run's stages, pre-flight, progress lines (rows done,
  rate, time left) and the summary.
- DEBUG (``-vv``): per-letter detail and tracebacks of per-letter failures.

Every line has the same shape, for people and for ``grep``::

    2026-11-21T01:00:10.123+08:00 INFO dunning.batch: 1/3 run 20261120T170010Z-1a2b3c ...

(ISO 8601 time with its UTC offset, level, logger, message). ``--log-format json`` gives one
JSON object a line instead, for log collectors (``time``, ``level``, ``logger``, ``message``,
and ``exc_info`` with a traceback), made by python-json-logger.

Messages carry account ids, file names and line numbers, never a borrower's name, ID number,
phone or address.
"""

from __future__ import annotations

import logging
import sys
from datetime import datetime
from typing import Any, Literal

from pythonjsonlogger.json import JsonFormatter

LOGGER = logging.getLogger("dunning")
LogFormat = Literal["text", "json"]
FORMATS: tuple[LogFormat, ...] = ("text", "json")


def iso_time(created: float) -> str:
    """``created`` (seconds since the epoch) as ISO 8601 local time with its UTC offset, to
    the millisecond."""
    return datetime.fromtimestamp(created).astimezone().isoformat(timespec="milliseconds")


class TextFormatter(logging.Formatter):
    """``TIME LEVEL LOGGER: MESSAGE``, the time as :func:`iso_time`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return iso_time(record.created)


class JsonLineFormatter(JsonFormatter):
    """One JSON object a line: ``time``, ``level``, ``logger``, ``message``."""

    def __init__(self) -> None:
        super().__init__("{asctime}{levelname}{name}{message}", style="{",
                         rename_fields={"asctime": "time", "levelname": "level",
                                        "name": "logger"},
                         json_ensure_ascii=False)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return iso_time(record.created)


def formatter(fmt: LogFormat | str = "text") -> logging.Formatter:
    """The formatter for ``fmt`` (``text`` or ``json``)."""
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    return JsonLineFormatter() if fmt == "json" else TextFormatter()


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler :func:`configure` installs (recognised so it is installed once). It
    writes to whatever ``sys.stderr`` is when a line is logged (not when it was made), so a
    caller that swaps stderr (a test, a wrapper) gets the lines."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure(level: int = logging.INFO, fmt: LogFormat | str = "text") -> None:
    """Log to stderr, every line in the one format (see the module docstring)."""
    handler = next((h for h in LOGGER.handlers if isinstance(h, _StderrHandler)), None)
    if handler is None:
        handler = _StderrHandler()
        LOGGER.addHandler(handler)
    handler.setFormatter(formatter(fmt))
    LOGGER.setLevel(level)


def portable(record: logging.LogRecord) -> dict[str, Any]:
    """``record`` as a picklable dict (message formatted, traceback as text), for a worker
    process or a cluster worker to send to the process that logs it
    (``logging.makeLogRecord``)."""
    data = dict(record.__dict__)
    data["msg"] = record.getMessage()
    data["args"] = None
    if record.exc_info:
        data["exc_text"] = logging.Formatter().formatException(record.exc_info)
    data["exc_info"] = None
    return data
