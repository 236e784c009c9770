"""One record and an as-of date → one outcome: the unit of work of every channel.

Takes a :class:`Task` (a validated record, with what the ledger knows of it: the last letter
sent and the version this letter would be) and gives an :class:`Outcome`: its manifest entry
(``rendered``, ``suppressed`` or ``failed``) and, for a rendered letter, the bytes to deliver
(encrypted when the brand says so). :func:`make_letter` is the one place that plans,
suppresses, renders and protects a letter; every way of making letters calls it:

- the batch in this process and in its worker processes (:class:`LetterJob`, which also
  writes the letter to the run's output store: :func:`letter_outcome`);
- the workers of a Dask cluster (:mod:`dunning.cluster`, through :func:`letter_outcome`);
- ``dunning render`` and :func:`dunning.render_one` (:mod:`dunning.api`).

A problem with one letter never raises out of :func:`make_letter`: it becomes a ``failed``
outcome with the reason (and the error, for a caller that wants to raise it). Rejected rows
(invalid records) never reach a task: :func:`rejected_entry` gives their entry.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

from .errors import DunningError, RenderError, TemplateError
from .letter import Dunning
from .output import ManifestEntry, sha256
from .protect import protect_letter
from .records import Record, Rejection
from .store import Store

log = logging.getLogger("dunning.job")

def new_run_id() -> str:
    """A sortable, unique id for a run or a letter made outside one: UTC time plus a random
    suffix."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


@dataclass(frozen=True, slots=True)
class Task:
    """A record to make a letter for, with what the ledger says about it."""

    record: Record
    #: The last letter sent to the account before this one (the minimum-interval rule).
    last_notice: date | None = None
    #: Which version of the account's letter for this as-of date and folder this would be.
    version: int = 1
    #: The current letter (its path and sha256) that this one replaces if its bytes differ:
    #: a letter equal to it is that letter, not a new version.
    same_as: tuple[str, str] | None = None

    @property
    def account_id(self) -> str:
        return self.record.account_id

    @property
    def where(self) -> str:
        return self.record.where

    @property
    def brand(self) -> str:
        return self.record.brand


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one task came to: its manifest entry; for a rendered letter the bytes to deliver
    (``entry.path`` is where the batch puts them, relative to the run's output folder); for
    a failed one the error."""

    entry: ManifestEntry
    data: bytes | None = None
    error: Exception | None = None


def _base(record: Record) -> dict[str, Any]:
    return {"account_id": record.account_id, "source": record.where, "brand": record.brand}


def make_letter(task: Task, dunning: Dunning, as_of: date) -> Outcome:
    """Plan the letter for ``task`` as of ``as_of``; suppressed, or render and protect it."""
    record = task.record
    base = _base(record)
    try:
        plan = dunning.plan(record, as_of, last_notice=task.last_notice)
    except Exception as exc:  # a bug in planning must fail this letter, not the run
        return Outcome(ManifestEntry(**base, outcome="failed",
                                     reason=f"{type(exc).__name__}: {exc}"), error=exc)
    if plan.suppression:
        return Outcome(ManifestEntry(**base, outcome="suppressed", locale=plan.locale,
                                     reason=str(plan.suppression)))
    try:
        letter = dunning.render(plan)
        data = protect_letter(letter.pdf.data, record, dunning.brands[record.brand])
    except Exception as exc:
        reason = (str(exc) if isinstance(exc, (TemplateError, RenderError))
                  else f"{type(exc).__name__}: {exc}")
        return Outcome(ManifestEntry(**base, outcome="failed", stage=plan.stage,
                                     locale=plan.locale, reason=reason), error=exc)
    return Outcome(ManifestEntry(
        **base, outcome="rendered", stage=plan.stage, locale=plan.locale,
        path=dunning.letter_path(plan, task.version).as_posix(), pages=letter.pdf.pages,
        sha256=sha256(data), total=str(plan.items.total), currency=plan.items.currency,
        capped=plan.items.capped, resumed=False, postal_code=record.postal_code,
    ), data=data)


def letter_outcome(task: Task, dunning: Dunning, as_of: date, store: Store) -> ManifestEntry:
    """The batch's unit of work: :func:`make_letter`, then the letter written to ``store``
    at its path (an OutputError there stops the run). A failure is logged with the account
    id (with the traceback at debug level when it is not one of dunning's own errors).

    A letter is never made twice: when its bytes equal the current letter's
    (``task.same_as``), or the file already at its path (left by a run that was killed
    before it recorded the letter), nothing is written and the entry says ``resumed``
    with that file's path."""
    outcome = make_letter(task, dunning, as_of)
    if outcome.error is not None:
        unexpected = not isinstance(outcome.error, DunningError)
        log.warning("failed %s: %s", task.account_id, outcome.error,
                    exc_info=outcome.error if unexpected and log.isEnabledFor(10) else None)
    entry = outcome.entry
    if outcome.data is None:
        return entry
    if task.same_as is not None and task.same_as[1] == entry.sha256:
        return replace(entry, path=task.same_as[0], resumed=True)
    path = str(entry.path)
    there = store.read(path)
    if there is not None and sha256(there) == entry.sha256:
        return replace(entry, resumed=True)
    store.write(path, outcome.data)
    return entry


def rejected_entry(row: Rejection) -> ManifestEntry:
    """The manifest entry of a row that failed validation."""
    return ManifestEntry(account_id=row.account_id, source=row.where, outcome="rejected",
                         reason=row.error.reason)


def failed_entry(task: Task, reason: str, *, timed_out: bool = False) -> ManifestEntry:
    """The manifest entry of a task whose worker died or was stopped while rendering it
    (``timed_out``: stopped because the letter took longer than its time limit)."""
    return ManifestEntry(account_id=task.account_id, source=task.where, outcome="failed",
                         brand=task.brand, reason=reason)


@dataclass
class LetterJob:
    """What a worker runs: a task in, its manifest entry out, the letter written to the
    store. Pickled once into each worker process, which then keeps its ``Dunning`` (and
    renderer) warm."""

    dunning: Dunning
    as_of: date
    store: Store

    def warm(self) -> None:
        """Load fonts and parse stylesheets before the first letter."""
        self.dunning.warm()

    def __call__(self, task: Task) -> ManifestEntry:
        return letter_outcome(task, self.dunning, self.as_of, self.store)
