"""The batch on a Dask cluster: chunks of records go to ``dask.distributed`` workers, which
render and write the letters; the entries come back to the driver (``dunning run``), which
alone writes the manifest, the summary and the ledger.

Takes tasks ``(seq, Task)`` from the batch, like the local :class:`~dunning.workers.WorkerPool`,
and gives back ``(seq, ManifestEntry)`` as chunks complete: :class:`ClusterPool` is a
:class:`~dunning.batch.Runner`.

- **Chunks** of :data:`CHUNK_SIZE` records (small, so a lost worker loses little work): a chunk
  is one Dask task. A partial chunk is sent as soon as a worker would otherwise idle, or no
  more rows are coming. A worker process renders one letter at a time (``--nthreads 1``).
- **Warm workers**: a :class:`DunningWorker` plugin on every worker (also on workers that join
  later) loads the configuration from the worker's own project folder and warms the renderer
  (fonts, parsed stylesheets) once, in the background; every chunk reuses it. After
  :data:`~dunning.settings.RECYCLE_AFTER` letters the renderer is replaced by a fresh one.
- **Same letters or none**: before the first chunk, every worker reports the hash of its
  dunning code, the template version (templates, prepared fonts, catalogs, config: the hash
  the ledger records), and the versions of the libraries that shape the PDF bytes. Any
  difference refuses the run (:class:`~dunning.errors.ClusterError`, exit 2) with the worker
  and what differs; a worker that joins later with other versions fails its first chunk the
  same way.
- **A worker that dies** mid-chunk: the scheduler gives the chunk to another worker. Rendering
  is deterministic, the letter's path and version were fixed by the driver from the ledger,
  and writes are atomic, so a chunk run twice writes the same bytes to the same files: no
  letter is lost or made twice. A chunk that kills workers again and again (Dask's
  ``KilledWorker``) is split into single records, so only the letter that kills fails.
- **A killed driver**: the chunks it left running on the cluster finish on their own. The next
  run waits for them (they may be writing the same files) before it sends its own.
- **Time limit** per letter: the worker thread gets :class:`~dunning.errors.LetterTimeoutError`
  raised in it (a thread cannot be killed); a letter stuck inside C code is not interrupted.
"""

from __future__ import annotations

import ctypes
import gc
import hashlib
import json
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from distributed.diagnostics.plugin import WorkerPlugin

from .errors import ClusterError, DunningError, LetterTimeoutError
from .hashing import tree_hash
from .job import LetterJob, Task, letter_outcome
from .log import portable
from .output import ManifestEntry
from .settings import RECYCLE_AFTER, Settings
from .store import Store

if TYPE_CHECKING:
    from .letter import Dunning

log = logging.getLogger("dunning.cluster")

#: Records per Dask task: small, so that a worker lost mid-chunk costs a few letters' work.
CHUNK_SIZE = 4
#: Chunks in flight per worker process (the rest of the input waits to be read).
CHUNKS_PER_WORKER = 8
#: Seconds to reach the scheduler, and to wait for its first worker.
CONNECT_TIMEOUT = 30.0
WORKERS_TIMEOUT = 60.0
#: Retries of a chunk that raised (e.g. a store that refused a write for a moment); a worker
#: that died is Dask's business (``distributed.scheduler.allowed-failures``).
RETRIES = 2
#: Seconds between looks at which workers are in the cluster (to log those that leave).
WATCH_EVERY = 5.0
#: Libraries whose version changes the bytes of a letter.
LIBRARIES = ("weasyprint", "pydyf", "tinycss2", "cssselect2", "tinyhtml5", "fonttools",
             "pikepdf", "jinja2", "babel")


# --------------------------------------------------------------------------- versions


def code_version() -> str:
    """A hash of the dunning package's source files."""
    return tree_hash([Path(__file__).resolve().parent])


def versions(template_version: str) -> dict[str, str]:
    """What must be equal on the driver and every worker for their letters to be equal:
    the code, ``template_version`` (templates with the prepared fonts, catalogs, config: see
    :meth:`~dunning.letter.Dunning.template_version`), Python and the libraries that make
    the PDF."""
    found = {"code": code_version(), "templates": template_version,
             "python": ".".join(map(str, sys.version_info[:3]))}
    for name in ("dunning", *LIBRARIES):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "missing"
    return found


def differences(here: dict[str, str], there: dict[str, str]) -> list[str]:
    """What differs, in words.

    >>> differences({"code": "a1", "python": "3.11.2"}, {"code": "b2", "python": "3.11.2"})
    ['code b2 (driver: a1)']
    """
    return [f"{name} {there.get(name, 'missing')} (driver: {value})"
            for name, value in here.items() if there.get(name) != value]


def worker_settings(settings: Settings, home: str | None = None) -> Settings:
    """The driver's settings with the project folder of this worker: ``home`` (default
    ``$DUNNING_HOME``), else the driver's folder when it is here too, else the one
    :meth:`Settings.discover` finds. Folders under the driver's root move with it."""
    home = home or os.environ.get("DUNNING_HOME")
    if home:
        root = Path(home).resolve()
    elif (settings.root / "templates").is_dir() and (settings.root / "config").is_dir():
        return settings
    else:
        root = Settings.discover().root

    def moved(path: Path) -> Path:
        try:
            return root / path.relative_to(settings.root)
        except ValueError:
            return path

    return settings.with_changes(root=root, templates_dir=moved(settings.templates_dir),
                                 config_dir=moved(settings.config_dir),
                                 locales_dir=moved(settings.locales_dir))


# --------------------------------------------------------------------------- worker side


class DunningWorker(WorkerPlugin):
    """Keeps a warm :class:`~dunning.letter.Dunning` on a Dask worker, for every chunk.

    Registered under a name that hashes the driver's ``expected`` versions and settings, and
    idempotent: a later run with the same code, templates and settings finds it in place,
    warm. :meth:`check` (at ``setup``, on the worker's event loop, and again before every run)
    finds the worker's project folder and compares what is there with ``expected``;
    ``setup`` then warms the renderer in a thread, which :meth:`dunning` waits for."""

    idempotent = True

    def __init__(self, settings: Settings, expected: dict[str, str],
                 recycle_after: int) -> None:
        self.driver_settings = settings
        self.settings = settings
        self.expected = expected
        self.recycle_after = recycle_after
        self.found: dict[str, str] = {}
        self.problem: str | None = None
        self.letters = 0
        self._dunning: Dunning | None = None
        self._lock = threading.Lock()
        #: One letter at a time in a worker process, whatever its threads (the renderer,
        #: Pango and fontconfig are not shared between threads).
        self.rendering = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_lock", None)
        state.pop("rendering", None)
        state["_dunning"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
        self.rendering = threading.Lock()

    def setup(self, worker: Any) -> None:
        for other in list(worker.plugins.values()):
            if isinstance(other, DunningWorker) and other is not self:
                other.release()  # one warm renderer per worker: the newest run's
        if self.check() is None:
            threading.Thread(target=self._warm, name="dunning-warm", daemon=True).start()

    def check(self) -> str | None:
        """Compare the worker's code, project folder and libraries with the driver's, now;
        the problem in words (also kept in ``problem``), or None."""
        from .letter import Dunning

        try:
            settings = worker_settings(self.driver_settings)
            self.found = versions(Dunning.load(settings).template_version())
        except Exception as exc:
            self.problem = f"cannot load the project here: {type(exc).__name__}: {exc}"
            return self.problem
        with self._lock:
            if settings != self.settings:
                self.settings, self._dunning = settings, None
        diff = differences(self.expected, self.found)
        self.problem = None if not diff else (
            "makes other letters than the driver: " + "; ".join(diff) + "; install the same "
            "dunning version, libraries, templates, prepared fonts, catalogs and config on "
            "every worker")
        return self.problem

    def _warm(self) -> None:
        try:
            self.dunning()
        except Exception as exc:  # the first chunk raises it again, with the reason
            log.warning("warming the renderer failed: %s", exc)

    def dunning(self) -> Dunning:
        """The warm Dunning of this worker (loaded and warmed on first use)."""
        with self._lock:
            if self._dunning is None:
                from .letter import Dunning

                self._dunning = Dunning.load(self.settings)
            self._dunning.warm()
            return self._dunning

    def release(self) -> None:
        """Drop the warm Dunning (another run's plugin is warming its own)."""
        with self._lock:
            self._dunning = None
            self.letters = 0
        gc.collect()

    def counted(self, letters: int) -> None:
        """``letters`` more were rendered: replace the renderer after ``recycle_after``."""
        with self._lock:
            self.letters += letters
            if self.letters >= self.recycle_after and self._dunning is not None:
                self._dunning.renew_renderer()
                self.letters = 0
                gc.collect()

    def reset(self) -> None:
        """Drop the renderer (after a letter was interrupted in the middle of rendering)."""
        with self._lock:
            if self._dunning is not None:
                self._dunning.renew_renderer()


@dataclass(frozen=True)
class ChunkJob:
    """What every chunk of one run needs besides its records."""

    plugin: str
    as_of: date
    store: Store
    letter_timeout: float | None
    #: The driver's level for ``dunning`` log records (they are logged again there).
    log_level: int = logging.WARNING


#: Keys of the chunks this worker process is rendering now (a killed driver's included).
_ACTIVE: set[str] = set()
#: Per rendering thread, the time limit its timeout message names.
_LIMITS: dict[int, float] = {}


class _LetterTimeoutError(LetterTimeoutError):
    """Raised inside a rendering thread when its letter has taken too long (the message
    names the limit of that thread's run)."""

    def __init__(self, message: str | None = None) -> None:
        limit = _LIMITS.get(threading.get_ident())
        super().__init__(message or f"took longer than the per-letter time limit of "
                                    f"{limit or 0:g} s")


class _Deadline:
    """Raise :class:`_LetterTimeoutError` in this thread if the block lasts over ``seconds``."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.fired = False
        self._done = False
        self._lock = threading.Lock()
        self._tid = threading.get_ident()
        self._timer: threading.Timer | None = None

    def __enter__(self) -> _Deadline:
        if self.seconds:
            _LIMITS[self._tid] = self.seconds
            self._timer = threading.Timer(self.seconds, self._fire)
            self._timer.daemon = True
            self._timer.start()
        return self

    def _fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.fired = True
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self._tid),
                                                       ctypes.py_object(_LetterTimeoutError))

    def __exit__(self, *exc: object) -> None:
        if self._timer is not None:
            self._timer.cancel()
        with self._lock:
            self._done = True
            if self.fired:  # not yet delivered: take it back
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self._tid), None)


class _Capture(logging.Handler):
    """The ``dunning`` log records of one thread, to be logged again by the driver."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.records: list[dict[str, Any]] = []
        self._tid = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != self._tid:
            return
        self.records.append(portable(record))


def render_chunk(job: ChunkJob, chunk: list[tuple[int, Task]],
                 ) -> tuple[list[tuple[int, ManifestEntry]], list[dict[str, Any]]]:
    """A Dask task: render and write the letters of ``chunk``; their entries, and the
    ``dunning`` log records to log on the driver. Raises ClusterError when this worker
    cannot make the same letters as the driver, OutputError when the store refuses a file."""
    from distributed import get_worker

    worker = get_worker()
    plugin = worker.plugins.get(job.plugin)
    if not isinstance(plugin, DunningWorker):
        raise ClusterError(f"worker {worker.address} has no dunning plugin {job.plugin}",
                           worker=worker.address)
    if plugin.problem:
        raise ClusterError(f"worker {worker.address} {plugin.problem}", worker=worker.address)
    key = str(worker.get_current_task())
    _ACTIVE.add(key)
    capture = _Capture()
    logger = logging.getLogger("dunning")
    logger.setLevel(job.log_level)
    logger.addHandler(capture)
    entries: list[tuple[int, ManifestEntry]] = []
    try:
        try:
            dunning = plugin.dunning()
        except DunningError as exc:
            raise ClusterError(f"worker {worker.address} cannot render: {exc}",
                               worker=worker.address) from exc
        for seq, task in chunk:
            deadline = _Deadline(job.letter_timeout)
            with plugin.rendering:
                try:
                    with deadline:
                        entry = letter_outcome(task, dunning, job.as_of, job.store)
                except _LetterTimeoutError as exc:  # raised outside the render (writing)
                    entry = ManifestEntry(account_id=task.account_id, source=task.where,
                                          outcome="failed", brand=task.brand, reason=str(exc))
                if deadline.fired:  # the renderer was interrupted mid-letter: a fresh one
                    plugin.reset()
                    dunning = plugin.dunning()
            entries.append((seq, entry))
        plugin.counted(len(chunk))
    finally:
        logger.removeHandler(capture)
        _ACTIVE.discard(key)
    return entries, capture.records


def _probe(job: ChunkJob, dask_worker: Any = None) -> dict[str, Any]:
    """Run on every worker before the first chunk: its versions, and whether it can load the
    project and reach the output location."""
    plugin = dask_worker.plugins.get(job.plugin) if dask_worker is not None else None
    report: dict[str, Any] = {"problem": None, "versions": {}}
    if not isinstance(plugin, DunningWorker):
        report["problem"] = "has no dunning plugin (is dunning installed there?)"
        return report
    report["problem"] = plugin.check()
    report["versions"] = plugin.found
    if report["problem"] is None and job.store.local:
        root = Path(job.store.url)
        if not (root.is_dir() and os.access(root, os.W_OK | os.X_OK)):
            from .store import samefile_hint

            report["problem"] = (f"cannot write the output folder {root}: "
                                 f"{samefile_hint(job.store)}")
    return report


def _active_chunks() -> list[str]:
    return sorted(_ACTIVE)


# --------------------------------------------------------------------------- driver side


class ClusterPool:
    """The workers of a Dask cluster as a :class:`~dunning.batch.Runner`; see the module
    docstring. ``cluster`` is a scheduler address or a ``distributed.Client`` (left open)."""

    deaths = 0

    def __init__(self, job: LetterJob, cluster: str | Any, *, run_id: str,
                 template_version: str, letter_timeout: float | None,
                 failed: Callable[[Any, str], ManifestEntry], chunk_size: int = CHUNK_SIZE,
                 recycle_after: int | None = None) -> None:
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        self.job = job
        self.address = cluster if isinstance(cluster, str) else None
        self._given = None if isinstance(cluster, str) else cluster
        self.run_id = run_id
        self.template_version = template_version
        self.letter_timeout = letter_timeout
        self._failed = failed
        self.chunk_size = chunk_size
        self.recycle_after = recycle_after or RECYCLE_AFTER
        self.client: Any = None
        self.workers = 0
        self.window = 0
        self.cluster: str | None = None
        self.plugin = ""
        self.prefix = f"dunning-{job.store.key}-"
        self._pending: list[tuple[int, Task]] = []
        self._futures: dict[str, tuple[Any, list[tuple[int, Task]]]] = {}
        self._done: queue.Queue[Any] = queue.Queue()
        self._chunks = 0
        self._fed = False
        self._seen: set[str] = set()
        self._watched = 0.0

    # ----------------------------------------------------------------- lifecycle

    def __enter__(self) -> ClusterPool:
        try:
            self._connect()
            self._check_workers()
            self._wait_for_other_runs()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None and self.client is not None:
            self._watch(force=True)
            if self.deaths:  # a worker killed while writing may have left a temp file
                self.job.store.remove_stale_temp_files(letters_only=True)
        self.close()

    def close(self) -> None:
        if self.client is None:
            return
        live = [future for future, _ in self._futures.values()]
        if live:
            try:
                self.client.cancel(live)
            except Exception:  # pragma: no cover - the connection may be gone already
                pass
        self._futures.clear()
        if self._given is None:
            self.client.close()
        self.client = None

    def _connect(self) -> None:
        from distributed import Client

        if self._given is not None:
            self.client = self._given
        else:
            try:
                self.client = Client(  # type: ignore[no-untyped-call]
                    self.address, timeout=CONNECT_TIMEOUT, set_as_default=False)
            except (OSError, TimeoutError) as exc:
                raise ClusterError(f"cannot reach the Dask scheduler at {self.address}: "
                                   f"{exc}") from exc
        self.cluster = str(self.client.scheduler.address)
        try:
            self.client.wait_for_workers(1, timeout=WORKERS_TIMEOUT)
        except TimeoutError as exc:
            raise ClusterError(f"the Dask cluster at {self.cluster} has no worker (waited "
                               f"{WORKERS_TIMEOUT:g} s): start some with `dask worker "
                               f"{self.cluster}`") from exc

    def _check_workers(self) -> None:
        """Put the plugin on every worker; refuse the run unless all of them make the same
        letters as this process and can write the output location."""
        settings = self.job.dunning.settings
        expected = versions(self.template_version)
        fingerprint = json.dumps([expected, str(settings)], sort_keys=True)
        self.plugin = "dunning-" + hashlib.sha256(fingerprint.encode()).hexdigest()[:16]
        plugin = DunningWorker(settings, expected, self.recycle_after)
        try:
            self.client.register_plugin(plugin, name=self.plugin)
        except Exception as exc:
            raise ClusterError(f"the workers cannot load dunning ({type(exc).__name__}: "
                               f"{exc}): install the project on every worker") from exc
        self.chunk_job = ChunkJob(
            plugin=self.plugin, as_of=self.job.as_of, store=self.job.store,
            letter_timeout=self.letter_timeout,
            log_level=logging.getLogger("dunning").getEffectiveLevel())
        reports = self.client.run(_probe, self.chunk_job, on_error="return")
        for address, report in sorted(reports.items()):
            if isinstance(report, BaseException):
                raise ClusterError(f"worker {address} cannot be checked: {report}",
                                   worker=address)
            if report["problem"]:
                raise ClusterError(f"worker {address} {report['problem']}", worker=address)
        self._seen = set(reports)
        threads = self.client.nthreads()
        self.workers = len(threads)
        self.window = self.workers * self.chunk_size * CHUNKS_PER_WORKER
        self._watched = time.monotonic()
        crowded = sorted(address for address, n in threads.items() if n > 1)
        if crowded:
            log.warning("worker %s has %d threads, but renders one letter at a time: start "
                        "workers with --nthreads 1 (and --nworkers N for N processes)",
                        crowded[0], threads[crowded[0]])
        log.info("cluster %s: %d worker(s); code %s, templates %s", self.cluster,
                 self.workers, expected["code"], expected["templates"])

    def _wait_for_other_runs(self, limit: float | None = None) -> None:
        """Chunks of an earlier run into the same location (a killed driver's) may still be
        rendering: wait until they are done, so that two writers never race on one file."""
        limit = limit if limit is not None else max(
            60.0, (self.letter_timeout or 120.0) * self.chunk_size)
        deadline = time.monotonic() + limit
        said = False
        while True:
            keys = {key for keys in self.client.run(_active_chunks, on_error="ignore").values()
                    for key in keys}
            keys |= {str(key) for keys in self.client.processing().values() for key in keys}
            others = sorted(k for k in keys if k.startswith(self.prefix)
                            and not k.startswith(f"{self.prefix}{self.run_id}-"))
            if not others:
                return
            if not said:
                log.info("waiting for %d chunk(s) of an earlier run into %s to finish",
                         len(others), self.job.store.url)
                said = True
            if time.monotonic() > deadline:
                run = others[0][len(self.prefix):].rsplit("-", 1)[0]
                raise ClusterError(f"another run ({run}) is still writing to "
                                   f"{self.job.store.url} on the cluster; wait for it to "
                                   "finish")
            time.sleep(0.5)

    # ----------------------------------------------------------------- tasks

    def submit(self, seq: int, row: Task) -> None:
        self._pending.append((seq, row))
        self._fed = True
        if len(self._pending) >= self.chunk_size:
            self._send(self._pending)
            self._pending = []

    def _send(self, chunk: list[tuple[int, Task]]) -> None:
        key = f"{self.prefix}{self.run_id}-{self._chunks}"
        self._chunks += 1
        future = self.client.submit(render_chunk, self.chunk_job, chunk, key=key, pure=False,
                                    retries=RETRIES)
        self._futures[key] = (future, chunk)
        future.add_done_callback(self._done.put)

    def collect(self, timeout: float | None = None) -> list[tuple[int, ManifestEntry]]:
        """Entries of the chunks that finished within ``timeout`` seconds."""
        if self._pending and (len(self._futures) < self.workers or not self._fed):
            # a worker would idle, or no row came since the last look (the input is read
            # to its end, or the window is full): send what there is
            self._send(self._pending)
            self._pending = []
        self._fed = False
        self._watch()
        results: list[tuple[int, ManifestEntry]] = []
        if not self._futures:
            return results
        try:
            futures = [self._done.get(timeout=timeout) if timeout else self._done.get_nowait()]
        except queue.Empty:
            return results
        while True:
            try:
                futures.append(self._done.get_nowait())
            except queue.Empty:
                break
        for future in futures:
            results += self._finished(future)
        return results

    def _finished(self, future: Any) -> list[tuple[int, ManifestEntry]]:
        from distributed.scheduler import KilledWorker

        item = self._futures.pop(str(future.key), None)
        if item is None:  # pragma: no cover - cancelled by close()
            return []
        _, chunk = item
        if future.status == "finished":
            entries, records = future.result()
            for data in records:
                record = logging.makeLogRecord(data)
                logging.getLogger(record.name).handle(record)
            future.release()
            return list(entries)
        if future.status != "error":
            raise ClusterError(f"the cluster {self.cluster} dropped a chunk of this run "
                               f"({future.status}: scheduler restarted or connection lost); "
                               "rerun to resume")
        exc = future.exception()
        future.release()
        if isinstance(exc, KilledWorker):
            self.deaths += 1
            if len(chunk) > 1:
                log.warning("a chunk of %d letters killed its workers again and again; "
                            "rendering them one by one", len(chunk))
                for item_ in chunk:
                    self._send([item_])
                return []
            (_seq, task), = chunk
            reason = ("worker process died while rendering this letter, on every worker "
                      "that tried (Dask KilledWorker)")
            log.warning("%s: %s", task.account_id, reason)
            return [(chunk[0][0], self._failed(task, reason))]
        if isinstance(exc, DunningError):
            raise exc  # OutputError, ClusterError: the run cannot go on
        reason = f"{type(exc).__name__}: {exc}"
        return [(seq, self._failed(task, reason)) for seq, task in chunk]

    def _watch(self, force: bool = False) -> None:
        """Log workers that left the cluster (their chunks are retried) and follow the
        number of worker threads (a cluster may grow or shrink during a run)."""
        now = time.monotonic()
        if now - self._watched < WATCH_EVERY and not force:
            return
        self._watched = now
        try:
            threads = self.client.nthreads()
        except Exception:  # pragma: no cover - a transient connection problem
            return
        for address in sorted(self._seen - set(threads)):
            self.deaths += 1
            log.warning("worker %s left the cluster; its chunks go to other workers", address)
        self._seen = set(threads)
        self.workers = max(1, len(threads))
