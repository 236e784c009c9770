"""The nightly run: read rows → plan → render in workers → write letters, manifest, summary.

Every input row ends in exactly one manifest line with one outcome: ``rendered``,
``suppressed``, ``rejected`` or ``failed``, in input order. A problem with one row never stops
the run; a problem with the whole run (config, unreadable input, output not writable) raises
before or instead of writing a partial result.

Rows are streamed: the batch reads the next row only while fewer than ``window`` rows are in
flight (read but not yet in the manifest), so memory does not grow with the input. With
``workers=1`` letters are rendered in this process (for tests and debugging); otherwise by a
:class:`~dunning.workers.WorkerPool` of spawned processes, each keeping its fonts, stylesheets
and templates warm, recycled every ``recycle_after`` letters. Answers come back in completion
order and wait in a reorder buffer (never larger than the window) until the rows before them
are written.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from .errors import OutputError, RenderError, TemplateError
from .letter import Dunning
from .output import (
    OUTCOMES,
    ManifestEntry,
    ManifestWriter,
    ensure_dir,
    sha256,
    write_bytes_atomic,
    write_json_atomic,
)
from .progress import Progress, make_progress
from .records import Record, Rejection, check_inputs, count_rows, read_records
from .workers import WorkerPool, default_workers

log = logging.getLogger("dunning.batch")

MANIFEST = "manifest.jsonl"
SUMMARY = "summary.json"
#: Letters a worker renders before it is replaced by a fresh process (bounds its memory).
RECYCLE_AFTER = 1000
#: Rows in flight per worker (read, not yet in the manifest): enough to keep every worker
#: busy while one slow letter holds up the manifest's order.
WINDOW_PER_WORKER = 32


@dataclass
class RunSummary:
    """Counts that reconcile: rows == rendered + suppressed + rejected + failed."""

    as_of: date
    out_dir: Path
    inputs: list[str]
    counts: Counter[str] = field(default_factory=Counter)
    by_stage: Counter[str] = field(default_factory=Counter)
    by_brand: Counter[str] = field(default_factory=Counter)
    suppressed_by_reason: Counter[str] = field(default_factory=Counter)
    capped: int = 0
    demanded: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    seconds: float = 0.0
    workers: int = 1
    #: Most rows that were in flight at once (read, not yet written): at most the window.
    peak_in_flight: int = 0
    #: Worker processes that died unexpectedly (each failed the letter it was rendering).
    worker_deaths: int = 0

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    @property
    def exit_code(self) -> int:
        """0 when every row was rendered or suppressed, 1 when some were rejected or failed."""
        return 1 if self.counts["rejected"] or self.counts["failed"] else 0

    def add(self, entry: ManifestEntry) -> None:
        self.counts[entry.outcome] += 1
        if entry.outcome == "rendered":
            self.by_stage[str(entry.stage)] += 1
            self.by_brand[str(entry.brand)] += 1
            self.capped += bool(entry.capped)
            self.demanded[str(entry.currency)] += Decimal(str(entry.total))
        elif entry.outcome == "suppressed":
            self.suppressed_by_reason[str(entry.reason).split(":")[0]] += 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "inputs": self.inputs,
            "rows": self.rows,
            "outcomes": {name: self.counts[name] for name in OUTCOMES},
            "rendered_by_stage": dict(sorted(self.by_stage.items())),
            "rendered_by_brand": dict(sorted(self.by_brand.items())),
            "suppressed_by_reason": dict(sorted(self.suppressed_by_reason.items())),
            "capped_letters": self.capped,
            "total_demanded": {cur: str(amount) for cur, amount in sorted(self.demanded.items())},
            "seconds": round(self.seconds, 3),
            "exit_code": self.exit_code,
        }


def today(dunning: Dunning) -> date:
    """Today in the configured time zone (not the machine's)."""
    return datetime.now(dunning.settings.tz).date()


def default_out_dir(dunning: Dunning, as_of: date) -> Path:
    return dunning.settings.root / "output" / as_of.isoformat()


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
) -> RunSummary:
    """Run the batch over ``inputs`` into ``out_dir`` and return the summary.

    ``workers``: processes rendering letters (default: every core; 1 renders in this
    process). ``window``: most rows in flight at once (default ``32 × workers``).
    ``recycle_after``: letters per worker process before a fresh one replaces it.
    ``progress``: a :class:`~dunning.progress.Progress`, or a mode for
    :func:`~dunning.progress.make_progress` (``auto``, ``bar``, ``log``, ``off``).
    ``on_row`` is called with each manifest entry, in input order.

    Raises ConfigError, InputError or OutputError when the run cannot proceed at all, and
    RenderError when worker processes cannot start.
    """
    started = time.monotonic()
    dunning = dunning or Dunning.load()
    as_of = as_of or today(dunning)
    paths = [Path(p) for p in inputs]
    out = Path(out_dir) if out_dir else default_out_dir(dunning, as_of)
    workers = default_workers() if workers is None else workers
    window = window or WINDOW_PER_WORKER * workers
    if workers < 1 or window < 1:
        raise ValueError("workers and window must be at least 1")
    reporter = make_progress(progress) if isinstance(progress, str) else progress
    check_inputs(paths)
    ensure_dir(out)
    summary = RunSummary(as_of=as_of, out_dir=out, inputs=[str(p) for p in paths],
                         workers=workers)
    log.info("1/3 run as of %s: %d input file(s) into %s, %d worker(s)", as_of, len(paths),
             out, workers)
    _check_prepared_fonts(dunning)
    if reporter:
        reporter.start(count_rows(paths))
    job = LetterJob(dunning=dunning, as_of=as_of, out=out)
    manifest = ManifestWriter(out / MANIFEST)
    try:
        with _runner(job, workers, recycle_after) as runner:
            for entry in _in_order(read_records(paths, dunning.record_rules()), runner,
                                   window, summary):
                manifest.write(entry)
                summary.add(entry)
                if reporter:
                    reporter.update(entry)
                if on_row:
                    on_row(entry)
            if isinstance(runner, WorkerPool):
                summary.worker_deaths = runner.deaths
    except BaseException as exc:
        manifest.abort(exc)
        raise
    finally:
        if reporter:
            reporter.finish()
    manifest.close()
    summary.seconds = time.monotonic() - started
    log.info("2/3 %d rows: %s", summary.rows,
             ", ".join(f"{n} {name}" for name in OUTCOMES if (n := summary.counts[name])))
    write_json_atomic(out / SUMMARY, summary.to_dict())
    log.info("3/3 manifest and summary written to %s", out)
    return summary


def _check_prepared_fonts(dunning: Dunning) -> None:
    """Say once per run when letters will fall back to the full font faces."""
    from .fonts import stale

    families = {family for stack in dunning.settings.fonts.values() for family in stack}
    problems = stale(dunning.settings.assets_dir / "fonts", families)
    if problems:
        log.warning("prepared fonts: %s; letters use the full faces (several times bigger "
                    "and slower): run `make fonts`", "; ".join(problems))


@dataclass
class LetterJob:
    """One row → its manifest entry, writing the letter's PDF: what a worker runs. Pickled
    once into each worker process, which then keeps its ``Dunning`` (and renderer) warm."""

    dunning: Dunning
    as_of: date
    out: Path

    def warm(self) -> None:
        """Load fonts and parse stylesheets before the first letter."""
        self.dunning.renderer.warm()

    def __call__(self, row: Any) -> ManifestEntry:
        return _outcome(row, self.dunning, self.as_of, self.out)


class _InProcess:
    """``workers=1``: each row is rendered when submitted, in this process."""

    def __init__(self, job: LetterJob) -> None:
        self.job = job
        self._done: list[tuple[int, ManifestEntry]] = []

    def __enter__(self) -> _InProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def submit(self, seq: int, row: Any) -> None:
        self._done.append((seq, self.job(row)))

    def collect(self, timeout: float | None = None) -> list[tuple[int, ManifestEntry]]:
        done, self._done = self._done, []
        return done


def _runner(job: LetterJob, workers: int, recycle_after: int) -> _InProcess | WorkerPool:
    if workers == 1:
        return _InProcess(job)
    return WorkerPool(job, workers=workers, recycle_after=recycle_after,
                      failed=_worker_died)


def _worker_died(row: Record, reason: str) -> ManifestEntry:
    return ManifestEntry(account_id=row.account_id, source=row.where, outcome="failed",
                         brand=row.brand, reason=reason)


def _in_order(
    rows: Iterator[Any], runner: _InProcess | WorkerPool, window: int, summary: RunSummary,
) -> Iterator[ManifestEntry]:
    """Feed ``rows`` to ``runner`` with at most ``window`` in flight; yield their entries in
    input order. Rejected rows need no rendering and wait in the buffer like the others."""
    buffer: dict[int, ManifestEntry] = {}
    read = written = 0
    exhausted = False
    while True:
        while not exhausted and read - written < window:
            row = next(rows, None)
            if row is None:
                exhausted = True
                break
            if isinstance(row, Rejection):
                buffer[read] = _rejected(row)
            else:
                runner.submit(read, row)
            read += 1
            summary.peak_in_flight = max(summary.peak_in_flight, read - written)
        for seq, entry in runner.collect(timeout=0 if written in buffer else 1.0):
            buffer[seq] = entry
        while written in buffer:
            yield buffer.pop(written)
            written += 1
        if exhausted and written == read:
            return


def _rejected(row: Rejection) -> ManifestEntry:
    log.warning("rejected %s (%s): %s", row.where, row.account_id or "no id", row.error.reason)
    return ManifestEntry(account_id=row.account_id, source=row.where, outcome="rejected",
                         reason=row.error.reason)


def _outcome(row: Record | Rejection, dunning: Dunning, as_of: date, out: Path) -> ManifestEntry:
    """The manifest entry for one row (rendering and writing its letter if it gets one)."""
    if isinstance(row, Rejection):
        return _rejected(row)
    record = row
    base: dict[str, Any] = {"account_id": record.account_id, "source": record.where,
                            "brand": record.brand}
    try:
        plan = dunning.plan(record, as_of)
    except Exception as exc:  # a bug in planning must not stop the run
        log.warning("failed %s: %s", record.account_id, exc, exc_info=log.isEnabledFor(10))
        return ManifestEntry(**base, outcome="failed", reason=f"{type(exc).__name__}: {exc}")
    if plan.suppression:
        return ManifestEntry(**base, outcome="suppressed", locale=plan.locale,
                             reason=str(plan.suppression))
    try:
        letter = dunning.render(plan)
    except (TemplateError, RenderError) as exc:
        log.warning("failed %s: %s", record.account_id, exc)
        return ManifestEntry(**base, outcome="failed", stage=plan.stage, locale=plan.locale,
                             reason=str(exc))
    except Exception as exc:
        log.warning("failed %s: %s", record.account_id, exc, exc_info=log.isEnabledFor(10))
        return ManifestEntry(**base, outcome="failed", stage=plan.stage, locale=plan.locale,
                             reason=f"{type(exc).__name__}: {exc}")
    rel = dunning.letter_path(plan)
    try:
        write_bytes_atomic(out / rel, letter.pdf.data)
    except OutputError:
        raise
    return ManifestEntry(
        **base, outcome="rendered", stage=plan.stage, locale=plan.locale, path=rel.as_posix(),
        pages=letter.pdf.pages, sha256=sha256(letter.pdf.data), total=str(plan.items.total),
        currency=plan.items.currency, capped=plan.items.capped,
    )
