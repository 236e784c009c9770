"""The dry run: what tonight's run would do, without making a letter.

Takes the same inputs as the run; reads, validates and plans every row (stage, suppression,
figures, options: :meth:`~dunning.letter.Dunning.plan`, with the ledger's last letter to each
account for the minimum-interval rule) and writes, under ``dry-run/`` in the run folder, the
``manifest.jsonl``, ``summary.json`` (``"dry_run": true``) and ``rejects.csv`` the run would
write. A row that would get a letter is ``rendered`` in that manifest with the path it would
have, and no pages or sha256. No PDF is made, no worker started, nothing written to the ledger
(it is only read, and only when it exists).

Rows stream in chunks of :data:`CHUNK`: the ledger is asked once per chunk, and memory stays
flat however long the export. The chunks are shared between this process and one helper
process per further core (``workers``; :class:`_Relay`): this process reads the input, hands
each chunk to a helper that has room for it or else plans it itself, and writes the planned
chunks in input order, checking that every id is unique in the run as
:func:`~dunning.records.read_records` does. The manifest is the same whatever the number of
processes. bench/dry_run_bench.py measures rows per second.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .batch import MANIFEST, SUMMARY, RunSummary, Tally
from .errors import DunningError
from .job import new_run_id, rejected_entry
from .letter import Dunning
from .output import ManifestEntry, RunLock, manifest_line
from .records import Record, Rejection, UniqueIds, check_inputs, raw_rows, row_of, used_before
from .rejects import REJECTS, Rejects
from .settings import Settings
from .store import open_store, output_location
from .workers import default_workers, settle, settled

if TYPE_CHECKING:
    from .ledger import Ledger

log = logging.getLogger(__name__)

DRY_RUN_DIR = "dry-run"
#: Rows planned at a time by one process (and asked of the ledger at once).
CHUNK = 1000
#: How many chunks planning may run ahead of the manifest being written (memory stays flat).
AHEAD = 8
#: Chunks a helper may have waiting besides the one it plans, so that it never waits for
#: this process to read the next.
QUEUED = 2
#: How long a helper that is done may take to stop before it is killed (seconds).
STOP_GRACE = 5.0


def plan_entry(record: Record, dunning: Dunning, as_of: date,
               last_notice: date | None) -> tuple[str, Tally | ManifestEntry]:
    """The manifest line the run would write for ``record``, without rendering, and what
    the summary counts of it: a :class:`~dunning.batch.Tally`, or the whole entry of a row
    whose planning failed (the rejects file lists it). The line is made without making the
    :class:`~dunning.output.ManifestEntry` (:func:`~dunning.output.manifest_line`)."""
    try:
        plan = dunning.plan(record, as_of, last_notice=last_notice)
    except Exception as exc:  # a bug in planning fails this row, as in the run
        entry = ManifestEntry(account_id=record.account_id, source=record.where,
                              brand=record.brand, outcome="failed",
                              reason=f"{type(exc).__name__}: {exc}")
        return entry.to_json(), entry
    brand, locale = record.brand, plan.locale
    if plan.suppression:
        reason = str(plan.suppression)
        return manifest_line({"account_id": record.account_id, "source": record.where,
                              "outcome": "suppressed", "locale": locale, "reason": reason,
                              "brand": brand}), \
            Tally("suppressed", None, brand, locale, None, None, None, reason)
    items, stage = plan.items, str(plan.stage)
    total, currency, capped = str(items.total), items.currency, items.capped
    return manifest_line({"account_id": record.account_id, "source": record.where,
                          "outcome": "rendered", "stage": stage, "locale": locale,
                          "path": dunning.letter_name(record, stage), "brand": brand,
                          "total": total, "currency": currency, "capped": capped,
                          "postal_code": record.postal_code}), \
        Tally("rendered", stage, brand, locale, capped, total, currency, None)


def dry_run(
    inputs: Sequence[Path | str], *, as_of: date | None = None,
    out_dir: Path | str | None = None, dunning: Dunning | None = None,
    ledger: str | None = None, stop: Callable[[], bool] | None = None,
    before: Callable[[], None] | None = None, workers: int | None = None,
) -> RunSummary:
    """Plan every row of ``inputs`` and write what the run would (see the module docstring),
    in ``workers`` processes (default: one per core)."""
    started = time.monotonic()
    dunning = dunning or Dunning.load()
    as_of = as_of or dunning.settings.today()
    paths = [Path(p) for p in inputs]
    run_folder = output_location(out_dir if out_dir is not None
                                 else dunning.settings.run_folder(as_of))
    folder = (f"{run_folder}/{DRY_RUN_DIR}" if isinstance(run_folder, str)
              else run_folder / DRY_RUN_DIR)
    check_inputs(paths)
    store = open_store(folder)
    store.prepare()
    book = _existing_ledger(dunning, ledger, run_folder if out_dir else None)
    summary = RunSummary(as_of=as_of, out_dir=folder, inputs=[str(p) for p in paths],
                         run_id=f"{new_run_id()}-dry", dry_run=True, workers=1,
                         ledger=book.url if book else "")
    lock = RunLock(Path(folder)) if store.local else None
    relay = _Relay(_Planner(dunning, as_of, book, run_folder),
                   helpers=(workers or default_workers()) - 1, settings=dunning.settings,
                   ledger=book.url if book else None)
    try:
        if lock:
            lock.__enter__()
        if before is not None:
            before()
        with settled():
            _plan_all(paths, relay, store, summary, stop)
    finally:
        relay.close()
        if lock:
            lock.__exit__(None, None, None)
        if book:
            book.close()
    summary.workers = relay.processes
    log.info("the dry run planned %d chunk(s) of up to %d rows in %d process(es), %d of them "
             "in this one", relay.next_write, CHUNK, relay.processes, relay.planned_here)
    summary.seconds = time.monotonic() - started
    store.write_json(SUMMARY, summary.to_dict())
    return summary


#: A raw row and where it is: (source, line, what :func:`~dunning.records.raw_rows` gives).
RawRow = tuple[str, int, Any]
#: What planning makes of one row: ``("planned", account_id, source, line, manifest line,
#: tally)`` for a record, ``("rejected", Rejection)`` for any other row. Small, as it crosses
#: from a helper process.
Result = tuple[Any, ...]



def numbered_chunks(paths: Sequence[Path], size: int = CHUNK,
                    ) -> Iterator[tuple[int, list[RawRow]]]:
    """The raw rows of every input in order, in numbered chunks of ``size``."""
    index, chunk = 0, []
    for path in paths:
        source = str(path)
        for line, raw in raw_rows(path):
            chunk.append((source, line, raw))
            if len(chunk) == size:
                yield index, chunk
                index, chunk = index + 1, []
    if chunk:
        yield index, chunk


class _Planner:
    """Validates and plans a chunk of rows, the same in this process and in helpers: each
    row on its own (that ids are unique in the run is checked where the manifest is
    written, :class:`_Writer`)."""

    def __init__(self, dunning: Dunning, as_of: date, book: Ledger | None,
                 run_folder: Path | str) -> None:
        self.dunning = dunning
        self.as_of = as_of
        self.book = book
        self.run_folder = run_folder
        self.rules = dunning.record_rules()

    def __call__(self, rows: list[RawRow]) -> list[Result]:
        converted = [row_of(raw, source=source, line=line, rules=self.rules)
                     for source, line, raw in rows]
        ids = [row.account_id for row in converted if isinstance(row, Record)]
        last = (self.book.last_sent_before_many(ids, self.as_of, besides=self.run_folder)
                if self.book and ids else {})
        results: list[Result] = []
        for row in converted:
            if isinstance(row, Rejection):
                results.append(("rejected", row))
                continue
            line, counted = plan_entry(row, self.dunning, self.as_of,
                                       last.get(row.account_id))
            results.append(("planned", row.account_id, row.source, row.line, line, counted))
        return results


def _plan_all(paths: list[Path], relay: _Relay, store: Any, summary: RunSummary,
              stop: Callable[[], bool] | None) -> None:
    manifest = store.manifest(MANIFEST)
    rejects = Rejects()
    writer = _Writer(manifest, summary, rejects)
    try:
        chunks = 0
        for index, rows in numbered_chunks(paths):
            relay.take(index, rows, writer)
            chunks = index + 1
            if stop is not None and stop():
                summary.interrupted = str(getattr(stop, "signal", "stop"))
                break
        else:
            relay.write(writer, until=chunks)
    except BaseException as exc:
        manifest.abort(exc)
        rejects.close()
        raise
    manifest.close()
    store.write(REJECTS, rejects.finish())
    summary.problems = rejects.groups()


class _Writer:
    """Writes planned chunks, in input order: the manifest lines, the summary's counts and
    the rejects; a record whose account id an earlier row holds is rejected here."""

    def __init__(self, manifest: Any, summary: RunSummary, rejects: Rejects) -> None:
        self.manifest = manifest
        self.summary = summary
        self.rejects = rejects
        self.ids = UniqueIds()

    def write(self, results: list[Result]) -> None:
        for result in results:
            if result[0] == "planned":
                _, account_id, source, line, text, counted = result
                earlier = self.ids.claim(account_id, f"{source}:{line}")
                if earlier is None:
                    self.manifest.write_line(text)
                    self.summary.add(counted)
                    if isinstance(counted, ManifestEntry):
                        self.rejects.add_entry(counted)
                    continue
                row = used_before(account_id, source, line, earlier)
            else:
                row = self.ids.check(result[1])  # type: ignore[assignment]
            self.rejects.add_rejection(row)
            entry = rejected_entry(row)
            self.manifest.write(entry)
            self.summary.add(entry)


class _Relay:
    """Shares the chunks of the input between this process and ``helpers`` spawned
    processes (started when the input has a second chunk), and writes them in order.

    This process reads the input. A helper, once it is ready, gets the raw rows of each chunk
    over a queue while it has fewer than :data:`QUEUED` waiting besides the one it plans;
    any other chunk is planned here. So helpers never wait for work, and this process, which
    also reads and writes every row, plans what they have no room for; only the raw rows and
    what the summary counts of each planned row cross between processes, each row once.
    Nothing is planned more than :data:`AHEAD` chunks ahead of the manifest."""

    def __init__(self, planner: _Planner, *, helpers: int, settings: Settings,
                 ledger: str | None) -> None:
        self.planner = planner
        self.helpers = max(0, helpers)
        self.settings = settings
        self.ledger = ledger
        self.next_write = 0
        self.planned_here = 0
        self.ready: dict[int, list[Result]] = {}
        #: The chunks handed to helpers and not back yet.
        self.away: set[int] = set()
        #: Helpers that have loaded what planning needs and take chunks.
        self.started = 0
        #: Helpers that ended with an error before taking a chunk (:meth:`close`).
        self.failed = 0
        self._procs: list[multiprocessing.process.BaseProcess] = []
        self._tasks: Any = None
        self._results: Any = None
        self._stop: Any = None

    @property
    def processes(self) -> int:
        """This process and the helpers that did not fail at start-up."""
        return 1 + len(self._procs) - self.failed

    def take(self, index: int, rows: list[RawRow], writer: _Writer) -> None:
        """Chunk ``index`` as this process reads it: hand it to a helper, or plan it."""
        if index == 1 and self.helpers and not self._procs:
            self._start()
        if index - self.next_write >= AHEAD:
            self.write(writer, until=index - AHEAD + 1)
        if len(self.away) < (QUEUED + 1) * self.started:
            self._tasks.put((index, rows))
            self.away.add(index)
        else:
            self.ready[index] = self.planner(rows)
            self.planned_here += 1
        self.write(writer, until=0)

    def write(self, writer: _Writer, *, until: int) -> None:
        """Write every chunk that is ready, in order, waiting for those before ``until``."""
        while True:
            self._receive(wait=False)
            while self.next_write in self.ready:
                writer.write(self.ready.pop(self.next_write))
                self.next_write += 1
            if self.next_write >= until:
                return
            self._receive(wait=True)

    def _receive(self, *, wait: bool) -> None:
        """Take what helpers sent: all that is there, or (``wait``) at least one chunk."""
        if self._results is None:
            if wait:  # pragma: no cover - without helpers every chunk is planned here
                raise AssertionError("waiting for a chunk nobody plans")
            return
        while True:
            try:
                index, payload = (self._results.get(timeout=0.5) if wait
                                  else self._results.get_nowait())
            except queue.Empty:
                if not wait:
                    return
                self._check_helpers()
                continue
            if self._took(index, payload) and wait:
                return

    def _took(self, index: int, payload: Any) -> bool:
        """Note what a helper sent; True for a planned chunk."""
        if index == _READY:
            self.started += 1
            return False
        if index < 0:
            raise payload
        self.ready[index] = payload
        self.away.discard(index)
        return True

    def _check_helpers(self) -> None:
        for proc in self._procs:
            if proc.exitcode is not None:
                try:  # what it sent before it ended (an error, most likely)
                    while True:
                        self._took(*self._results.get(timeout=0.1))
                except queue.Empty:
                    pass
                raise DunningError(f"a dry-run helper process ended with exit code "
                                   f"{proc.exitcode} before its rows were planned")

    def _start(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._tasks = ctx.Queue()
        self._results = ctx.Queue()
        self._stop = ctx.Event()
        planner = self.planner
        for _ in range(self.helpers):
            proc = ctx.Process(
                target=_help, name="dunning-dry-run", daemon=True,
                args=(self.settings, planner.as_of, self.ledger, planner.run_folder,
                      self._tasks, self._results, self._stop))
            proc.start()
            self._procs.append(proc)

    def close(self) -> None:
        """Stop the helpers (a chunk still waiting for one is not planned) and wait for
        them; a helper that does not stop within :data:`STOP_GRACE` seconds is killed."""
        if not self._procs:
            return
        self._stop.set()
        for _ in self._procs:
            self._tasks.put(None)
        deadline = time.monotonic() + STOP_GRACE
        while any(proc.is_alive() for proc in self._procs) and time.monotonic() < deadline:
            try:  # a helper cannot end while what it sent is unread
                self._results.get(timeout=0.05)
            except queue.Empty:
                pass
        killed = []
        for proc in self._procs:
            if proc.is_alive():
                proc.kill()
                killed.append(proc)
            proc.join()
        # A helper that ended with an error while it held chunks stopped the run
        # (_check_helpers); one that ended before it took any left them to this process.
        self.failed = sum(proc.exitcode != 0 for proc in self._procs if proc not in killed)
        if self.failed:
            log.warning(
                "%d dry-run helper process(es) ended with an error before taking any rows "
                "(exit code %s), so this process planned every row alone: nothing is missing, "
                "but the run used one core. A script that calls dry_run with more than one "
                "worker must call it under `if __name__ == \"__main__\":` (helpers are "
                "spawned, and spawning imports the script again)", self.failed,
                ", ".join(str(p.exitcode) for p in self._procs if p.exitcode))
        self._tasks.cancel_join_thread()  # chunks nobody took: not worth waiting for
        self._tasks.close()
        self._results.close()


#: What a helper sends once it has loaded what planning needs, in place of a chunk index.
_READY = -2


def _help(settings: Settings, as_of: date, ledger: str | None, run_folder: Path | str,
          tasks: Any, results: Any, stop: Any) -> None:
    """A helper process: plan the chunks this process is given, send them back."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process stops the run
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    parent = multiprocessing.parent_process()
    try:
        book = None
        if ledger:
            from .ledger import Ledger

            book = Ledger(ledger)
        planner = _Planner(Dunning.load(settings), as_of, book, run_folder)
        settle()
        results.put((_READY, None))
        while not stop.is_set():
            try:
                task = tasks.get(timeout=0.5)
            except queue.Empty:
                if parent is not None and not parent.is_alive():
                    return
                continue
            if task is None or stop.is_set():
                return
            index, rows = task
            results.put((index, planner(rows)))
    except BaseException as exc:  # sent to the main process, which raises it
        results.put((-1, exc if isinstance(exc, DunningError)
                     else DunningError(f"dry-run helper: {type(exc).__name__}: {exc}")))


def _existing_ledger(dunning: Dunning, url: str | None, out_dir: Path | str | None,
                     ) -> Ledger | None:
    """The ledger to read last notices from: ``url``, or the default SQLite file when it
    exists (a dry run never creates one)."""
    from .ledger import LEDGER_FILE, Ledger

    if url:
        return Ledger(url)
    if isinstance(out_dir, str):
        return None
    folder = dunning.settings.ledger_folder(out_dir)
    return Ledger.for_output(folder) if (folder / LEDGER_FILE).is_file() else None
