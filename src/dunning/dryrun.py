"""The dry run: what tonight's run would do, without making a letter.

Takes the same inputs as the run; reads, validates and plans every row (stage, suppression,
figures, options: :meth:`~dunning.letter.Dunning.plan`, with the ledger's last letter to each
account for the minimum-interval rule) and writes, under ``dry-run/`` in the run folder, the
``manifest.jsonl``, ``summary.json`` (``"dry_run": true``) and ``rejects.csv`` the run would
write. A row that would get a letter is ``rendered`` in that manifest with the path it would
have, and no pages or sha256. No PDF is made, no worker started, nothing written to the ledger
(it is only read, and only when it exists).

Rows stream in chunks of :data:`CHUNK`: the ledger is asked once per chunk, and memory stays
flat however long the export (bench/dry_run_bench.py measures rows per second).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .batch import MANIFEST, SUMMARY, RunSummary
from .job import new_run_id, rejected_entry
from .letter import Dunning
from .output import ManifestEntry, RunLock
from .records import Record, Rejection, Row, check_inputs, read_records
from .rejects import REJECTS, Rejects
from .store import open_store, output_location

if TYPE_CHECKING:
    from .ledger import Ledger

DRY_RUN_DIR = "dry-run"
CHUNK = 1000


def plan_entry(record: Record, dunning: Dunning, as_of: date,
               last_notice: date | None) -> ManifestEntry:
    """The manifest entry the run would write for ``record``, without rendering."""
    base: dict[str, Any] = {"account_id": record.account_id, "source": record.where,
                            "brand": record.brand}
    try:
        plan = dunning.plan(record, as_of, last_notice=last_notice)
    except Exception as exc:  # a bug in planning fails this row, as in the run
        return ManifestEntry(**base, outcome="failed", reason=f"{type(exc).__name__}: {exc}")
    if plan.suppression:
        return ManifestEntry(**base, outcome="suppressed", locale=plan.locale,
                             reason=str(plan.suppression))
    return ManifestEntry(
        **base, outcome="rendered", stage=plan.stage, locale=plan.locale,
        path=dunning.letter_path(plan, 1).as_posix(), total=str(plan.items.total),
        currency=plan.items.currency, capped=plan.items.capped, postal_code=record.postal_code)


def _chunks(rows: Iterator[Row], size: int) -> Iterator[list[Row]]:
    while chunk := list(islice(rows, size)):
        yield chunk


def dry_run(
    inputs: Sequence[Path | str], *, as_of: date | None = None,
    out_dir: Path | str | None = None, dunning: Dunning | None = None,
    ledger: str | None = None, stop: Callable[[], bool] | None = None,
    before: Callable[[], None] | None = None,
) -> RunSummary:
    """Plan every row of ``inputs`` and write what the run would (see the module docstring)."""
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
    try:
        if lock:
            lock.__enter__()
        if before is not None:
            before()
        _plan_all(paths, dunning, as_of, store, book, summary, stop, run_folder)
    finally:
        if lock:
            lock.__exit__(None, None, None)
        if book:
            book.close()
    summary.seconds = time.monotonic() - started
    store.write_json(SUMMARY, summary.to_dict())
    return summary


def _plan_all(paths: list[Path], dunning: Dunning, as_of: date, store: Any,
              book: Ledger | None, summary: RunSummary,
              stop: Callable[[], bool] | None, run_folder: Path | str) -> None:
    manifest = store.manifest(MANIFEST)
    rejects = Rejects()
    try:
        rows = rejects.watch(read_records(paths, dunning.record_rules()))
        for chunk in _chunks(rows, CHUNK):
            ids = [row.account_id for row in chunk if isinstance(row, Record)]
            last = (book.last_sent_before_many(ids, as_of, besides=run_folder)
                    if book and ids else {})
            for row in chunk:
                entry = (rejected_entry(row) if isinstance(row, Rejection) else
                         plan_entry(row, dunning, as_of, last.get(row.account_id)))
                manifest.write(entry)
                summary.add(entry)
                rejects.add_entry(entry)
            if stop is not None and stop():
                summary.interrupted = str(getattr(stop, "signal", "stop"))
                break
    except BaseException as exc:
        manifest.abort(exc)
        rejects.close()
        raise
    manifest.close()
    store.write(REJECTS, rejects.finish())
    summary.problems = rejects.groups()


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
