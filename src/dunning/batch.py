"""The nightly run: read rows → plan → render in workers → write letters, manifest, summary.

Every input row ends in exactly one manifest line with one outcome: ``rendered``,
``suppressed``, ``rejected`` or ``failed``, in input order. A problem with one row never stops
the run; a problem with the whole run (config, unreadable input, output not writable) raises
before or instead of writing a partial result.

Rows are streamed: the batch reads the next row only while fewer than ``window`` rows are in
flight (read but not yet in the manifest), so memory does not grow with the input. With
``workers=1`` letters are rendered in this process (for tests and debugging); otherwise by a
:class:`~dunning.workers.WorkerPool` of spawned processes, each keeping its fonts, stylesheets
and templates warm, recycled every ``recycle_after`` letters; or, with ``cluster``, by the
workers of a Dask cluster (:class:`~dunning.cluster.ClusterPool`). All three are a
:class:`Runner`. Answers come back in completion order and wait in a reorder buffer (never
larger than the window) until the rows before them are written. Whoever renders a letter
writes it to the output location (:mod:`dunning.store`: a folder or an fsspec URL); this
process alone writes the manifest, the summary and the ledger.
"""

from __future__ import annotations

import copy
import json
import logging
import re
import signal
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, Self

from .errors import LetterTimeoutError, OutputError
from .exitcodes import run_code
from .extras import require
from .hashing import record_hash
from .job import LetterJob, Task, failed_entry, new_run_id, rejected_entry
from .letter import Dunning
from .output import (
    OUTCOMES,
    ManifestEntry,
    Outcome,
    RunLock,
    refuse_nested_runs,
    sha256,
)
from .progress import Progress, make_progress
from .records import Record, Rejection, check_inputs, count_rows, read_records
from .rejects import REJECTS, Rejects
from .settings import LETTER_TIMEOUT, RECYCLE_AFTER, check_as_of
from .store import ManifestSink, Store, lock_folder, open_store, output_location, redact
from .workers import WorkerPool, default_workers

if TYPE_CHECKING:  # the ledger (SQLAlchemy) is the main process's: workers never import it
    from .ledger import Ledger, LetterRow

log = logging.getLogger("dunning.batch")

MANIFEST = "manifest.jsonl"
SUMMARY = "summary.json"
#: Each run's own manifest and summary: ``runs/<run id>/`` in the output folder. The folder's
#: ``manifest.jsonl`` and ``summary.json`` are the latest run's rows plus the current letters
#: of earlier runs into the folder for accounts it did not have.
RUNS = "runs"
#: Rows in flight per worker (read, not yet in the manifest): enough to keep every worker
#: busy while one slow letter holds up the manifest's order.
WINDOW_PER_WORKER = 32


class Tally(NamedTuple):
    """What :meth:`RunSummary.add` counts of a row, without the rest of its manifest entry
    (the dry run's helper processes send this)."""

    outcome: Outcome
    stage: str | None
    brand: str | None
    locale: str | None
    capped: bool | None
    total: str | None
    currency: str | None
    reason: str | None
    resumed: None = None


@dataclass
class RunSummary:
    """Counts that reconcile: rows == rendered + suppressed + rejected + failed, with the
    letters and the amounts demanded broken down by stage, brand and locale."""

    as_of: date
    out_dir: Path | str
    inputs: list[str]
    run_id: str = ""
    ledger: str = ""
    counts: Counter[str] = field(default_factory=Counter)
    by_stage: Counter[str] = field(default_factory=Counter)
    by_brand: Counter[str] = field(default_factory=Counter)
    by_locale: Counter[str] = field(default_factory=Counter)
    suppressed_by_reason: Counter[str] = field(default_factory=Counter)
    capped: int = 0
    resumed: int = 0
    demanded: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    demanded_by: dict[str, dict[str, dict[str, Decimal]]] = field(
        default_factory=lambda: {k: defaultdict(lambda: defaultdict(Decimal))
                                 for k in ("stage", "brand", "locale")})
    seconds: float = 0.0
    workers: int = 1
    #: Most rows that were in flight at once (read, not yet written): at most the window.
    peak_in_flight: int = 0
    #: Worker processes that died unexpectedly (each failed the letter it was rendering).
    worker_deaths: int = 0

    #: The Dask scheduler the run went to (None: this machine).
    cluster: str | None = None
    #: The signal that stopped the run before every row was read (None: it read them all).
    interrupted: str | None = None
    #: A dry run (:mod:`dunning.dryrun`): planned, no PDF, no letter in the ledger.
    dry_run: bool = False
    #: Rejected and failed rows grouped by reason (:mod:`dunning.rejects`).
    problems: list[dict[str, Any]] = field(default_factory=list)
    #: Letters made again as a new version, by cause: ``record`` (the data changed),
    #: ``templates`` (templates, catalogs or config changed and the bytes with them),
    #: ``file`` (the current letter's file was missing or altered), ``force``.
    new_versions: Counter[str] = field(default_factory=Counter)
    #: Letters found on disk, made by a run that was killed before it recorded them.
    recovered: int = 0
    #: Earlier runs into this folder found still marked running (killed).
    interrupted_runs: int = 0
    #: Rendered letters of this folder carried over from earlier runs (accounts not in
    #: this run's input): the folder's manifest keeps them.
    carried_over: int = 0

    @property
    def manifest(self) -> str:
        """Where the manifest is: a file path, or a URL in the output store."""
        return f"{str(self.out_dir).rstrip('/')}/{MANIFEST}"

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    @property
    def exit_code(self) -> int:
        """See :mod:`dunning.exitcodes`: 0, 1 (rows rejected or failed), 143 (SIGTERM)."""
        return run_code(self.counts, self.interrupted)

    def add(self, entry: ManifestEntry | Tally) -> None:
        outcome = entry.outcome
        self.counts[outcome] += 1
        if outcome == "rendered":
            stage, brand, locale = str(entry.stage), str(entry.brand), str(entry.locale)
            self.by_stage[stage] += 1
            self.by_brand[brand] += 1
            self.by_locale[locale] += 1
            if entry.capped:
                self.capped += 1
            if entry.resumed:
                self.resumed += 1
            amount, currency = Decimal(str(entry.total)), str(entry.currency)
            self.demanded[currency] += amount
            by = self.demanded_by
            by["stage"][stage][currency] += amount
            by["brand"][brand][currency] += amount
            by["locale"][locale][currency] += amount
        elif outcome == "suppressed":
            self.suppressed_by_reason[str(entry.reason).split(":")[0]] += 1

    def to_dict(self) -> dict[str, Any]:
        def amounts(table: dict[str, dict[str, Decimal]]) -> dict[str, dict[str, str]]:
            return {group: {cur: str(v) for cur, v in sorted(by_cur.items())}
                    for group, by_cur in sorted(table.items())}

        return {
            "run_id": self.run_id,
            "as_of": self.as_of.isoformat(),
            "inputs": self.inputs,
            "ledger": self.ledger,
            "rows": self.rows,
            "outcomes": {name: self.counts[name] for name in OUTCOMES},
            "reconciles": self.rows == sum(self.counts[name] for name in OUTCOMES),
            "rendered_by_stage": dict(sorted(self.by_stage.items())),
            "rendered_by_brand": dict(sorted(self.by_brand.items())),
            "rendered_by_locale": dict(sorted(self.by_locale.items())),
            "suppressed_by_reason": dict(sorted(self.suppressed_by_reason.items())),
            "resumed": self.resumed,
            "new_versions": dict(sorted(self.new_versions.items())),
            "recovered": self.recovered,
            "capped_letters": self.capped,
            "total_demanded": {cur: str(amount) for cur, amount in sorted(self.demanded.items())},
            "demanded_by_stage": amounts(self.demanded_by["stage"]),
            "demanded_by_brand": amounts(self.demanded_by["brand"]),
            "demanded_by_locale": amounts(self.demanded_by["locale"]),
            "seconds": round(self.seconds, 3),
            "workers": self.workers,
            **({"cluster": self.cluster} if self.cluster else {}),
            "worker_deaths": self.worker_deaths,
            "interrupted_runs": self.interrupted_runs,
            "carried_over": self.carried_over,
            "problems": self.problems,
            "dry_run": self.dry_run,
            "interrupted": self.interrupted,
            "exit_code": self.exit_code,
        }


def run_batch(
    inputs: Sequence[Path | str],
    *,
    as_of: date | None = None,
    out_dir: Path | str | None = None,
    dunning: Dunning | None = None,
    on_row: Callable[[ManifestEntry], None] | None = None,
    workers: int | None = None,
    window: int | None = None,
    recycle_after: int = RECYCLE_AFTER,
    progress: Progress | str | None = None,
    ledger: str | None = None,
    force: bool = False,
    letter_timeout: float | None = LETTER_TIMEOUT,
    cluster: str | Any | None = None,
    stop: Callable[[], bool] | None = None,
    before: Callable[[], None] | None = None,
) -> RunSummary:
    """Run the batch over ``inputs`` into ``out_dir`` and return the summary.

    ``workers``: processes rendering letters (default: every core; 1 renders in this
    process). ``window``: most rows in flight at once (default ``32 × workers``).
    ``recycle_after``: letters per worker process before a fresh one replaces it.
    ``progress``: a :class:`~dunning.progress.Progress`, or a mode for
    :func:`~dunning.progress.make_progress` (``auto``, ``bar``, ``log``, ``off``).
    ``on_row`` is called with each manifest entry, in input order.
    ``ledger``: a database URL for the run ledger (default: ``ledger.sqlite`` in the output
    folder given, or in ``output/`` for the default per-date folders). A letter already in the
    ledger for this account, as-of date and folder, with the same record data and template
    version, is resumed, not made again; ``force`` makes every letter again as a new version.
    ``letter_timeout``: seconds one letter may take in a worker process before that worker is
    stopped and the letter fails (None: no limit).
    ``out_dir`` may be an fsspec URL (``s3://bucket/prefix``; ``ledger`` is then required, and
    the run lock is ``output/locks/<hash of the URL>/run.lock`` here).
    ``cluster``: a Dask scheduler address (``tcp://host:8786``) or a ``distributed.Client``:
    letters are rendered and written by the cluster's workers, in chunks (``workers`` does not
    apply; see docs/cluster.md).
    ``stop``: polled before each row is read; once true the run reads no more rows, finishes
    those in flight and writes manifest and summary (marked interrupted; :mod:`dunning.stopping`).
    ``before``: called once the run holds its folder, before anything is read or written
    (the CLI's pre-flight, :mod:`dunning.preflight`); what it raises ends the run.

    Raises ConfigError, InputError or OutputError when the run cannot proceed at all, and
    RenderError when worker processes cannot start.
    """
    started = time.monotonic()
    if cluster is not None:
        require("cluster", "--cluster")
    dunning = dunning or Dunning.load()
    as_of = as_of or dunning.settings.today()
    check_as_of(as_of)
    paths = [Path(p) for p in inputs]
    out = (output_location(out_dir) if out_dir is not None
           else output_location(dunning.settings.run_folder(as_of)))
    store = open_store(out)
    if cluster is None:
        workers = default_workers() if workers is None else workers
        window = window or WINDOW_PER_WORKER * workers
        if workers < 1 or window < 1:
            raise ValueError("workers and window must be at least 1")
    if not store.local and not ledger:
        raise OutputError(f"output to {store.url} needs a ledger database: pass --ledger URL "
                          "(sqlite:///path or postgresql://…)")
    reporter = make_progress(progress) if isinstance(progress, str) else progress
    check_inputs(paths)
    store.prepare()
    with RunLock(lock_folder(dunning.settings.output_dir, store)):
        if isinstance(out, Path):
            refuse_nested_runs(out)
        store.remove_stale_temp_files()
        if before is not None:
            before()
        from .ledger import Ledger

        book = (Ledger(ledger) if ledger else Ledger.for_output(
            dunning.settings.ledger_folder(Path(out) if out_dir is not None else None)))
        try:
            return _run(paths, dunning=dunning, as_of=as_of, out=out, store=store, book=book,
                        workers=workers or 0, window=window, recycle_after=recycle_after,
                        reporter=reporter, on_row=on_row, force=force,
                        letter_timeout=letter_timeout, started=started, cluster=cluster,
                        stop=stop)
        finally:
            book.close()


def _run(paths: list[Path], *, dunning: Dunning, as_of: date, out: Path | str, store: Store,
         book: Ledger, workers: int, window: int | None, recycle_after: int,
         reporter: Progress | None, on_row: Callable[[ManifestEntry], None] | None,
         force: bool, letter_timeout: float | None, started: float,
         cluster: str | Any | None, stop: Callable[[], bool] | None = None) -> RunSummary:
    run_id = new_run_id()
    summary = RunSummary(as_of=as_of, out_dir=out, inputs=[str(p) for p in paths],
                         workers=workers, run_id=run_id, ledger=redact(book.url))
    _check_prepared_fonts(dunning)
    summary.interrupted_runs = book.start_run(run_id=run_id, as_of=as_of, out_dir=out,
                                              inputs=summary.inputs)
    if summary.interrupted_runs:
        log.warning("%d earlier run(s) into %s did not finish (killed); their letters on "
                    "disk are recognised, not made again", summary.interrupted_runs, out)
    if reporter:
        reporter.start(count_rows(paths))
    template_version = dunning.template_version()
    planner = _Resume(book=book, as_of=as_of, out=out, store=store,
                      template_version=template_version, force=force, summary=summary)
    job = LetterJob(dunning=dunning, as_of=as_of, store=store)
    _keep_previous_run(store)
    earlier = _has_lines(store, MANIFEST)  # a rerun into this folder: carry its letters
    seen: set[str] = set()
    manifest = _Both(store.manifest(MANIFEST), store.manifest(f"{RUNS}/{run_id}/{MANIFEST}"))
    rejects = Rejects()
    from .history import SuppressionLog

    suppressed = SuppressionLog(book, run_id, as_of, out)
    try:
        with _runner(job, workers, recycle_after, letter_timeout, cluster=cluster,
                     run_id=run_id, template_version=template_version) as runner:
            summary.workers = runner.workers
            summary.cluster = runner.cluster
            window = window or runner.window
            log.info("1/3 run %s as of %s: %d input file(s) into %s, %d worker(s)%s", run_id,
                     as_of, len(paths), out, runner.workers,
                     f" on the cluster {runner.cluster}" if runner.cluster else "")
            rows = rejects.watch(read_records(paths, dunning.record_rules()))
            for entry in _in_order(rows, planner.prepare, runner, window, summary, stop):
                planner.record(entry, run_id)
                suppressed.add(entry)
                manifest.write(entry)
                if earlier and entry.account_id:
                    seen.add(entry.account_id)
                summary.add(entry)
                rejects.add_entry(entry)
                if reporter:
                    reporter.update(entry)
                if on_row:
                    on_row(entry)
            summary.worker_deaths = runner.deaths
        folder = copy.deepcopy(summary)
        if earlier:
            for entry in _carried_over(store, book, as_of, out, seen):
                manifest.folder.write(entry)
                folder.add(entry)
                summary.carried_over += 1
    except BaseException as exc:
        manifest.abort(exc)
        rejects.close()
        raise
    finally:
        if reporter:
            reporter.finish()
    manifest.close()
    suppressed.flush()
    found = rejects.finish()
    store.write(REJECTS, found)
    store.write(f"{RUNS}/{run_id}/{REJECTS}", found)
    summary.problems = folder.problems = rejects.groups()
    summary.seconds = folder.seconds = time.monotonic() - started
    folder.carried_over = summary.carried_over
    log.info("2/3 %d rows: %s%s", summary.rows,
             ", ".join(f"{n} {name}" for name in OUTCOMES if (n := summary.counts[name])),
             f"; {summary.carried_over} letter(s) of earlier runs kept in the folder's "
             "manifest" if summary.carried_over else "")
    data = summary.to_dict()
    store.write_json(f"{RUNS}/{run_id}/{SUMMARY}", data)
    store.write_json(SUMMARY, folder.to_dict())
    book.finish_run(run_id, data)
    log.info("3/3 manifest and summary written to %s", out)
    return summary


class _Both:
    """The folder's manifest and the run's own, written together."""

    def __init__(self, folder: ManifestSink, own: ManifestSink) -> None:
        self.folder, self.own = folder, own

    def write(self, entry: ManifestEntry) -> None:
        self.folder.write(entry)
        self.own.write(entry)

    def close(self) -> None:
        self.own.close()
        self.folder.close()

    def abort(self, exc: BaseException) -> None:
        self.own.abort(exc)
        self.folder.abort(exc)


def _has_lines(store: Store, rel: str) -> bool:
    """Whether the file at ``rel`` has a line (without reading it whole)."""
    lines = store.lines(rel)
    try:
        return next(lines, None) is not None
    finally:
        lines.close()


def _keep_previous_run(store: Store) -> None:
    """A folder written by a dunning that kept no ``runs/<id>/``: keep its manifest and
    summary there before this run replaces them."""
    previous = store.read(SUMMARY)
    if previous is None:
        return
    try:
        run_id = str(json.loads(previous).get("run_id") or "")
    except (ValueError, AttributeError):
        return
    if not run_id or not re.fullmatch(r"[\w.-]+", run_id, flags=re.ASCII) or \
            store.read(f"{RUNS}/{run_id}/{SUMMARY}") is not None:
        return
    manifest = store.read(MANIFEST)
    if manifest is not None:
        store.write(f"{RUNS}/{run_id}/{MANIFEST}", manifest)
    store.write(f"{RUNS}/{run_id}/{SUMMARY}", previous)


def _carried_over(store: Store, book: Ledger, as_of: date, out: Path | str,
                  seen: set[str]) -> Iterator[ManifestEntry]:
    """The rendered letters of the folder's previous manifest for accounts this run did not
    have, that are still the current letter in the ledger: the folder keeps them."""
    for line in store.lines(MANIFEST):
        try:
            data = json.loads(line)
        except ValueError:
            continue
        account_id = data.get("account_id")
        if data.get("outcome") != "rendered" or not account_id or account_id in seen:
            continue
        current = book.current(account_id, as_of, out)
        if current is None or current.path != data.get("path"):
            continue
        seen.add(account_id)
        known = {k: v for k, v in data.items() if k in ManifestEntry.__dataclass_fields__}
        yield ManifestEntry(**{**known, "resumed": True})


def _check_prepared_fonts(dunning: Dunning) -> None:
    """Say once per run when letters will fall back to the full font faces."""
    from .fonts import stale

    families = {family for stack in dunning.settings.fonts.values() for family in stack}
    problems = stale(dunning.settings.assets_dir / "fonts", families)
    if problems:
        log.warning("prepared fonts: %s; letters use the full faces (several times bigger "
                    "and slower): run `make fonts`", "; ".join(problems))


class Runner(Protocol):
    """What renders the letters of a run: rows go in with ``submit``, their manifest entries
    come out of ``collect`` (in any order). ``_InProcess`` (``workers=1``), the local
    :class:`~dunning.workers.WorkerPool` and the Dask :class:`~dunning.cluster.ClusterPool`
    are runners; whoever renders a letter also writes it to the output store."""

    @property
    def workers(self) -> int:
        """Worker processes (or threads of a cluster) rendering letters."""

    @property
    def window(self) -> int:
        """Rows this runner wants in flight (read, not yet in the manifest) to stay busy."""

    @property
    def deaths(self) -> int:
        """Workers that died (each failed the letter it was rendering, or was retried)."""

    @property
    def cluster(self) -> str | None:
        """The scheduler address of a cluster; None on this machine."""

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...

    def submit(self, seq: int, row: Task) -> None: ...

    def collect(self, timeout: float | None = None) -> list[tuple[int, ManifestEntry]]: ...


class _InProcess:
    """``workers=1``: each row is rendered when submitted, in this process. The time limit
    is enforced with a timer signal (in the main thread only)."""

    workers = 1
    window = WINDOW_PER_WORKER
    deaths = 0
    cluster: str | None = None

    def __init__(self, job: LetterJob, letter_timeout: float | None = None) -> None:
        self.job = job
        self.letter_timeout = letter_timeout
        self._done: list[tuple[int, ManifestEntry]] = []

    def __enter__(self) -> _InProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def submit(self, seq: int, row: Any) -> None:
        limit = self.letter_timeout
        if not limit or threading.current_thread() is not threading.main_thread():
            self._done.append((seq, self.job(row)))
            return

        def expire(_signum: int, _frame: Any) -> None:
            raise LetterTimeoutError(
                f"took longer than the per-letter time limit of {limit:g} s")

        previous = signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, limit)
        try:
            self._done.append((seq, self.job(row)))
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    def collect(self, timeout: float | None = None) -> list[tuple[int, ManifestEntry]]:
        done, self._done = self._done, []
        return done


class _LocalPool(WorkerPool):
    """The local :class:`~dunning.workers.WorkerPool` as a :class:`Runner`."""

    cluster: str | None = None

    def __enter__(self) -> Self:
        super().__enter__()
        return self

    @property
    def workers(self) -> int:
        return self.size

    @property
    def window(self) -> int:
        return WINDOW_PER_WORKER * self.size


def _runner(job: LetterJob, workers: int, recycle_after: int, letter_timeout: float | None,
            *, cluster: str | Any | None = None, run_id: str = "",
            template_version: str = "") -> Runner:
    if cluster is not None:
        from .cluster import ClusterPool

        return ClusterPool(job, cluster, run_id=run_id, template_version=template_version,
                           letter_timeout=letter_timeout, failed=failed_entry)
    if workers == 1:
        return _InProcess(job, letter_timeout)
    return _LocalPool(job, workers=workers, recycle_after=recycle_after,
                      failed=failed_entry, letter_timeout=letter_timeout)


def _in_order(
    rows: Iterator[Any], prepare: Callable[[Record | Rejection], Task | ManifestEntry],
    runner: Runner, window: int, summary: RunSummary, stop: Callable[[], bool] | None = None,
) -> Iterator[ManifestEntry]:
    """Feed ``rows`` to ``runner`` with at most ``window`` in flight; yield their entries in
    input order. ``prepare`` turns a row into a task to render, or directly into its entry
    (rejected, or already made); those wait in the buffer like the others."""
    buffer: dict[int, ManifestEntry] = {}
    read = written = 0
    exhausted = False
    while True:
        while not exhausted and read - written < window:
            if stop is not None and stop():
                summary.interrupted, exhausted = str(getattr(stop, "signal", "stop")), True
                break
            row = next(rows, None)
            if row is None:
                exhausted = True
                break
            task = prepare(row)
            if isinstance(task, ManifestEntry):
                buffer[read] = task
            else:
                runner.submit(read, task)
            read += 1
            summary.peak_in_flight = max(summary.peak_in_flight, read - written)
        for seq, entry in runner.collect(timeout=0 if written in buffer else 1.0):
            buffer[seq] = entry
        while written in buffer:
            yield buffer.pop(written)
            written += 1
        if exhausted and written == read:
            return


#: Why a letter was made again as a new version (``RunSummary.new_versions``).
Cause = str


@dataclass
class _Resume:
    """The ledger's side of the run, in the main process: what is already made, which
    version comes next, when the account was last written to; and recording each new
    letter once its file is in place."""

    book: Ledger
    as_of: date
    #: The output location as the ledger knows it (folder path or URL).
    out: Path | str
    store: Store
    template_version: str
    force: bool
    summary: RunSummary
    _pending: dict[str, tuple[str, LetterRow | None, Cause | None]] = field(
        default_factory=dict)

    def prepare(self, row: Record | Rejection) -> Task | ManifestEntry:
        if isinstance(row, Rejection):
            log.warning("rejected %s (%s): %s", row.where, row.account_id or "no id",
                        row.error.reason)
            return rejected_entry(row)
        digest = record_hash(row)
        current = self.book.current(row.account_id, self.as_of, self.out)
        cause = None if current is None else self._cause(current, digest)
        if current is not None and cause is None:
            return ManifestEntry(
                account_id=row.account_id, source=row.where, brand=row.brand,
                outcome="rendered", stage=current.stage, locale=current.locale,
                path=current.path, pages=current.pages, sha256=current.sha256,
                total=current.total, currency=current.currency, capped=current.capped,
                resumed=True, postal_code=row.postal_code,
            )
        version, same_as = 1, None
        if current is not None:
            version = self.book.versions(row.account_id, self.as_of, self.out) + 1
            if cause in ("record", "templates"):  # the current file is intact
                same_as = (current.path, current.sha256)
        self._pending[row.account_id] = (digest, current, cause)
        return Task(record=row, version=version, same_as=same_as,
                    last_notice=self.book.last_sent_before(row.account_id, self.as_of,
                                                           besides=self.out))

    def _cause(self, current: LetterRow, digest: str) -> Cause | None:
        """Why the current letter cannot stand: ``force``, ``file`` (its file is missing or
        altered), ``record`` (the data changed), ``templates``; None when it stands."""
        if self.force:
            return "force"
        data = self.store.read(current.path)
        if data is None or sha256(data) != current.sha256:
            return "file"
        if current.record_hash != digest:
            return "record"
        if current.template_version != self.template_version:
            return "templates"
        return None

    def record(self, entry: ManifestEntry, run_id: str) -> None:
        pending = self._pending.pop(str(entry.account_id), None)
        if pending is None or entry.outcome != "rendered":
            return
        digest, current, cause = pending
        if current is not None and entry.resumed and entry.path == current.path:
            # The same bytes as the current letter: it stands, for the new data/templates.
            self.book.refresh(current.id, template_version=self.template_version,
                              record_hash=digest)
            return
        if entry.resumed:  # on disk already, made by a run killed before recording it
            self.summary.recovered += 1
        elif cause is not None:
            self.summary.new_versions[cause] += 1
        self.book.record_entry(
            entry, run_id=run_id, as_of=self.as_of, template_version=self.template_version,
            record_hash=digest, out_dir=self.out, supersedes=current.id if current else None)
