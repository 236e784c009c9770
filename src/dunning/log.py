"""dunning's logger and what each level means.

- ERROR: the run cannot go on (bad config, unreadable input, output not writable).
- WARNING: one row did not become a letter because of a problem (rejected or failed); the
  run goes on and the manifest records it.
- INFO: numbered progress of the run's stages and its summary.
- DEBUG: per-letter detail and tracebacks of per-letter failures.

Messages carry account ids, file names and line numbers, never a borrower's name, ID number,
phone or address.
"""

from __future__ import annotations

import logging
from typing import Any

LOGGER = logging.getLogger("dunning")


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler :func:`configure` installs (recognised so it is installed once)."""


def configure(level: int = logging.INFO) -> None:
    """Log to stderr with a plain, greppable format (for schedulers' logs)."""
    if any(isinstance(h, _StderrHandler) for h in LOGGER.handlers):
        LOGGER.setLevel(level)
        return
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    LOGGER.addHandler(handler)
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
