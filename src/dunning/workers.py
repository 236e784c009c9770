"""Worker processes for the batch: start them, feed them, recycle them, notice when one dies.

Takes tasks ``(seq, row)`` from the batch and gives back ``(seq, ManifestEntry)`` as they
complete (not in order: the batch puts them back in input order). Each worker is a *spawned*
process (a fresh interpreter: no Pango, fontconfig or HarfBuzz state is inherited through
``fork``) that builds its own :class:`~dunning.letter.Dunning` and so its own warm
``PdfRenderer`` (fonts, parsed stylesheets, templates) once, then renders letter after letter.

- **Recycling**: after ``recycle_after`` letters a worker is told to stop and a fresh one
  is started in its place, so whatever WeasyPrint, Pango and fontconfig accumulate in a
  long-lived process cannot grow without bound.
- **Garbage collection**: once warm, a worker moves what it has loaded (modules, fonts,
  parsed stylesheets, templates) out of the cyclic garbage collector's sight
  (``gc.freeze``) and collects young objects less often (:data:`GC_THRESHOLD`): a letter
  makes some hundred thousand short-lived objects, and the collector otherwise walks the
  warm ones again and again. About 2% fewer instructions per letter (``bench/instructions.py``);
  reference counting frees a letter's objects as before, and recycling bounds the rest.
- **Prefetch**: each worker holds at most ``prefetch`` tasks (the one it renders and the next
  ones), so it never waits for the main process and the batch knows exactly which letter a
  worker was rendering when it died.
- **A letter that takes too long** (``letter_timeout`` seconds, e.g. a template that loops)
  gets its worker killed; it is then handled as a dead worker, with a reason that says so.
- **A dead worker** (killed, out of memory, a crash inside a C library) fails only the
  letter it was rendering, with a reason; the letters queued behind it go to other workers
  and a replacement is started. Workers that die before rendering anything, again and
  again, stop the run with an error instead of looping.

The messages on each worker's pipe are tuples: to the worker ``("task", seq, row)`` and
``("stop",)``; from it ``("ready", pid)``, ``("done", seq, entry)``, ``("init_failed",
reason)`` and ``("fatal", seq, reason)`` (the output folder cannot be written: the run stops) and
``("log", record)`` (a ``dunning`` log record, logged again in the main process).
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import signal
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, Protocol

from .errors import DunningError, OutputError, RenderError
from .log import portable
from .output import ManifestEntry

log = logging.getLogger("dunning.workers")

#: ``gc.set_threshold`` of a warm worker: allocations between young-generation collections
#: (Python's default is 700), then how many of those before each older-generation one.
GC_THRESHOLD = (10_000, 10, 10)

#: How many workers in a row may die without rendering a letter before the run gives up.
MAX_BARREN_DEATHS = 3


class Job(Protocol):
    """What a worker runs: picklable, warmed once per process, then called per row."""

    def warm(self) -> None: ...

    def __call__(self, row: Any, /) -> Any: ...


def default_workers() -> int:
    """All the cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


# --------------------------------------------------------------------------- worker side


class _ToMain(logging.Handler):
    """Sends a worker's ``dunning`` log records to the main process, which logs them."""

    def __init__(self, conn: Connection) -> None:
        super().__init__()
        self.conn = conn

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.conn.send(("log", portable(record)))
        except Exception:  # pragma: no cover - logging must never break a letter
            self.handleError(record)


def _serve(conn: Connection, job: Job, log_level: int) -> None:
    """A worker process: warm up, then answer tasks until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    root = logging.getLogger("dunning")
    root.handlers[:] = [_ToMain(conn)]
    root.setLevel(log_level)
    root.propagate = False
    try:
        job.warm()
    except BaseException as exc:
        conn.send(("init_failed", f"{type(exc).__name__}: {exc}"))
        return
    settle()
    conn.send(("ready", os.getpid()))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return  # the main process is gone
        if message[0] == "stop":
            return
        _, seq, row = message
        try:
            entry = job(row)
        except DunningError as exc:  # the run cannot go on (e.g. output not writable)
            conn.send(("fatal", seq, str(exc)))
            return
        conn.send(("done", seq, entry))


def settle() -> None:
    """After warming up: collect once, freeze what is left (it lives as long as the process)
    and collect young objects less often; see the module docstring."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


@contextmanager
def settled() -> Iterator[None]:
    """:func:`settle` for a while in a process that goes on afterwards (a dry run called
    from Python): the collector's thresholds are restored and what was frozen is unfrozen
    on the way out (unless the caller had frozen some itself)."""
    threshold, frozen = gc.get_threshold(), gc.get_freeze_count()
    settle()
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        if not frozen:
            gc.unfreeze()


# --------------------------------------------------------------------------- main side


@dataclass(eq=False)
class _Worker:
    process: BaseProcess
    conn: Connection
    queue: deque[tuple[int, Any]] = field(default_factory=deque)  # head: being rendered
    sent: int = 0
    done: int = 0
    retiring: bool = False
    #: When the task at the head of the queue started (monotonic seconds).
    head_since: float = 0.0
    timed_out: bool = False
    #: Warmed up (fonts, stylesheets): the time limit counts from then, not from the spawn.
    ready: bool = False

    @property
    def name(self) -> str:
        return f"worker {self.process.pid}"


def death_reason(exitcode: int | None) -> str:
    """Why a worker process ended, in words.

    >>> death_reason(-9)
    'worker process died (killed by signal 9, SIGKILL) while rendering this letter'
    """
    if exitcode is not None and exitcode < 0:
        try:
            how = f"killed by signal {-exitcode}, {signal.Signals(-exitcode).name}"
        except ValueError:
            how = f"killed by signal {-exitcode}"
    else:
        how = f"exit code {exitcode}"
    return f"worker process died ({how}) while rendering this letter"


class WorkerPool:
    """``workers`` spawned processes running ``job``; see the module docstring."""

    def __init__(
        self, job: Job, *, workers: int, recycle_after: int, prefetch: int = 2,
        failed: Callable[..., Any], letter_timeout: float | None = None,
    ) -> None:
        if workers < 1 or recycle_after < 1 or prefetch < 1:
            raise ValueError("workers, recycle_after and prefetch must be at least 1")
        self.job = job
        self.size = workers
        self.recycle_after = recycle_after
        self.prefetch = prefetch
        self._failed = failed
        self.letter_timeout = letter_timeout
        self._ctx = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []
        self._backlog: deque[tuple[int, Any]] = deque()
        self._results: list[tuple[int, ManifestEntry]] = []
        self._barren_deaths = 0
        self.started = 0
        self.deaths = 0

    # ----------------------------------------------------------------- lifecycle

    def __enter__(self) -> WorkerPool:
        for _ in range(self.size):
            self._start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> None:
        parent, child = self._ctx.Pipe(duplex=True)
        level = logging.getLogger("dunning").getEffectiveLevel()
        process = self._ctx.Process(target=_serve, args=(child, self.job, level),
                                    name="dunning-worker", daemon=True)
        process.start()
        child.close()
        self._workers.append(_Worker(process=process, conn=parent))
        self.started += 1

    def close(self) -> None:
        """Stop every worker: politely, then by force after a short wait."""
        for worker in self._workers:
            try:
                worker.conn.send(("stop",))
            except OSError:
                pass
        for worker in self._workers:
            worker.process.join(timeout=5)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()
        self._workers.clear()

    @property
    def ready(self) -> int:
        """Workers warmed up and ready for tasks."""
        return sum(1 for w in self._workers if w.ready and not w.retiring)

    @property
    def pids(self) -> list[int]:
        """Process ids of the live workers (for tests and diagnostics)."""
        return [w.process.pid for w in self._workers if w.process.pid is not None]

    # ----------------------------------------------------------------- tasks

    def submit(self, seq: int, row: Any) -> None:
        self._backlog.append((seq, row))
        self._dispatch()

    @property
    def outstanding(self) -> int:
        """Tasks submitted and not yet answered."""
        return len(self._backlog) + sum(len(w.queue) for w in self._workers)

    def _dispatch(self) -> None:
        for worker in self._workers:
            while self._backlog and not worker.retiring and len(worker.queue) < self.prefetch:
                seq, row = self._backlog.popleft()
                try:
                    worker.conn.send(("task", seq, row))
                except OSError:  # it has died; collect() will bury it
                    self._backlog.appendleft((seq, row))
                    break
                if not worker.queue:
                    worker.head_since = time.monotonic()
                worker.queue.append((seq, row))
                worker.sent += 1
                if worker.sent >= self.recycle_after:
                    worker.retiring = True
                    try:
                        worker.conn.send(("stop",))
                    except OSError:
                        pass
                    self._start()  # the replacement warms up while this one finishes

    def collect(self, timeout: float | None = None) -> list[tuple[int, ManifestEntry]]:
        """Wait up to ``timeout`` seconds for answers; return those that arrived."""
        if not self._results and self._workers:
            waitables: list[Any] = [w.conn for w in self._workers]
            waitables += [w.process.sentinel for w in self._workers]
            wait(waitables, timeout)
        for worker in list(self._workers):
            self._read(worker)
            self._enforce_time_limit(worker)
            if not worker.process.is_alive():
                self._bury(worker)
        self._dispatch()
        results, self._results = self._results, []
        return results

    def _enforce_time_limit(self, worker: _Worker) -> None:
        if (self.letter_timeout and worker.ready and worker.queue and not worker.timed_out
                and time.monotonic() - worker.head_since > self.letter_timeout):
            worker.timed_out = True
            worker.process.kill()
            worker.process.join(timeout=5)

    def _read(self, worker: _Worker) -> None:
        try:
            while worker.conn.poll():
                self._handle(worker, worker.conn.recv())
        except (EOFError, OSError):
            pass  # the pipe closed: the process has ended; _bury decides what that means

    def _handle(self, worker: _Worker, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "done":
            _, seq, entry = message
            head, _row = worker.queue.popleft()
            worker.head_since = time.monotonic()
            if head != seq:  # pragma: no cover - a worker answers in the order it was fed
                raise RuntimeError(f"{worker.name} answered task {seq}, expected {head}")
            worker.done += 1
            self._barren_deaths = 0
            self._results.append((seq, entry))
        elif kind == "log":
            record = logging.makeLogRecord(message[1])
            logging.getLogger(record.name).handle(record)
        elif kind == "ready":
            worker.ready = True
            worker.head_since = time.monotonic()
            log.debug("worker %s ready", message[1])
        elif kind == "init_failed":
            raise RenderError(f"a worker process could not start: {message[1]}", kind="worker")
        elif kind == "fatal":
            raise OutputError(message[2])

    def _bury(self, worker: _Worker) -> None:
        """A worker's process has ended: account for its tasks and replace it if needed."""
        worker.process.join()
        self._workers.remove(worker)
        worker.conn.close()
        code = worker.process.exitcode
        if worker.retiring and code == 0 and not worker.queue:
            return  # recycled as planned; its replacement is already running
        self.deaths += 1
        if worker.queue:
            (seq, row), *rest = worker.queue
            reason = (f"took longer than the per-letter time limit of {self.letter_timeout:g} s;"
                      " its worker process was stopped" if worker.timed_out
                      else death_reason(code))
            log.warning("%s: %s", worker.name, reason)
            self._results.append((seq, self._failed(row, reason, timed_out=worker.timed_out)))
            self._backlog.extendleft(reversed(rest))
        if worker.done == 0 and not worker.timed_out:
            self._barren_deaths += 1
            if self._barren_deaths >= MAX_BARREN_DEATHS:
                raise RenderError(
                    f"worker processes keep dying before rendering any letter (last: exit "
                    f"code {code}); run with --workers 1 to see why", kind="worker"
                )
        if not worker.retiring:
            self._start()

