"""The run ledger: every letter ever made, so that runs resume, never duplicate, and prove
what was sent.

Takes the outcome of each rendered letter; gives, for a record about to be rendered, the
letter already made for it (to skip it), the last letter sent to the account (for the
minimum-interval rule), and the history of an account. SQLite in the output folder by default
(``ledger.sqlite``); PostgreSQL (or any SQLAlchemy URL) with ``--ledger URL``.

A letter is identified by (account id, as-of date). A record rendered again for the same
as-of date with the same data and the same template version is *resumed* (not re-rendered);
with different data or templates it gets a new version and the old one is marked
``superseded`` (its file is kept). Rows carry no personal data: account ids and hashes only.
"""

from __future__ import annotations

import functools
import json
import os
import socket
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from .errors import OutputError
from .extras import require
from .output import FILE_MODE, ManifestEntry
from .store import redact, scrub

LEDGER_FILE = "ledger.sqlite"

F = TypeVar("F", bound=Callable[..., Any])

metadata = MetaData()
#: What the rows of an older ledger get in the columns added since (:func:`_upgrade`).
_ADDED_DEFAULTS = {"channel": "batch"}

letters = Table(
    "dunning_letters", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(64), nullable=False),
    Column("as_of", Date, nullable=False),
    Column("run_id", String(64), nullable=False),
    Column("brand", String(64), nullable=False),
    Column("stage", String(16), nullable=False),
    Column("locale", String(16), nullable=False),
    Column("template_version", String(64), nullable=False),
    Column("record_hash", String(64), nullable=False),
    Column("out_dir", Text, nullable=False),
    Column("path", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("pages", Integer, nullable=False),
    Column("total", String(32), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("capped", Boolean, nullable=False, default=False),
    Column("status", String(16), nullable=False, default="current"),
    Column("superseded_by", Integer, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # Added after the first release; _upgrade() adds them to older ledgers.
    Column("channel", String(16), nullable=False, server_default=_ADDED_DEFAULTS["channel"]),
    Column("requested_by", String(64), nullable=True),
    Column("override_reason", Text, nullable=True),
    Index("ix_dunning_letters_account", "account_id", "as_of"),
)

#: Who made a letter: the nightly batch, ``dunning render`` (an agent, now), the service.
CHANNELS = ("batch", "render", "service")

#: Requests of the letter service that carried an ``Idempotency-Key``: the same key (of the
#: same API key) with the same body gets the same letter again, nothing new recorded.
requests = Table(
    "dunning_requests", metadata,
    Column("key_name", String(64), primary_key=True),
    Column("idempotency_key", String(255), primary_key=True),
    Column("body_sha256", String(64), nullable=False),
    Column("letter_id", Integer, nullable=False),
    Column("response", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

runs = Table(
    "dunning_runs", metadata,
    Column("run_id", String(64), primary_key=True),
    Column("as_of", Date, nullable=False),
    Column("out_dir", Text, nullable=False),
    Column("inputs", Text, nullable=False),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("status", String(16), nullable=False),
    Column("summary", Text, nullable=True),
)

#: Rows that got no letter because the policy suppressed them, and why (``dunning history``
#: answers "why no letter on that night"). Account ids and reason codes only.
suppressions = Table(
    "dunning_suppressions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(64), nullable=False),
    Column("as_of", Date, nullable=False),
    Column("run_id", String(64), nullable=False),
    Column("out_dir", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_dunning_suppressions_account", "account_id", "as_of"),
)


@dataclass(frozen=True, slots=True)
class SuppressionRow:
    """One suppression, as read back."""

    account_id: str
    as_of: date
    run_id: str
    out_dir: str
    reason: str


@dataclass(frozen=True, slots=True)
class LetterRow:
    """One ledger row, as read back."""

    id: int
    account_id: str
    as_of: date
    run_id: str
    brand: str
    stage: str
    locale: str
    template_version: str
    record_hash: str
    out_dir: str
    path: str
    sha256: str
    pages: int
    total: str
    currency: str
    capped: bool
    status: str
    superseded_by: int | None
    created_at: datetime
    channel: str
    requested_by: str | None
    override_reason: str | None

    @classmethod
    def from_mapping(cls, row: Any) -> LetterRow:
        return cls(**{name: row[name] for name in cls.__slots__})

    @property
    def file(self) -> Path | None:
        """Where the letter's file is, or None for a letter handed over on a stream
        (``dunning render --out -``: recorded with no folder, as no copy was kept)."""
        return Path(self.out_dir) / self.path if self.out_dir else None


def _engine_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 here (the driver the project installs)."""
    if url.split(":", 1)[0].startswith("postgres"):
        require("postgres", "a PostgreSQL ledger")
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _guarded(doing: str) -> Callable[[F], F]:
    """A ledger method whose database errors (a full disk, a corrupt file, a lost
    connection) become one OutputError naming the ledger, without its password."""
    def wrap(method: F) -> F:
        @functools.wraps(method)
        def guarded(self: Ledger, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except SQLAlchemyError as exc:
                cause = getattr(exc, "orig", None) or exc
                raise OutputError(f"the ledger {redact(self.url)}: cannot {doing}: "
                                  f"{scrub(str(cause).splitlines()[0], self.url)}") from exc
        return cast(F, guarded)
    return wrap


def _create_private(database: str | None) -> None:
    """Create a new SQLite ledger file owner-read-write, group-read (0640) like every output
    file (SQLite gives its ``-wal`` and ``-shm`` companions the same mode)."""
    if database and database != ":memory:" and not os.path.exists(database):
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT, FILE_MODE))


def _upgrade(engine: Engine) -> None:
    """Add the columns a ledger written by an older dunning lacks."""
    have = {column["name"] for column in inspect(engine).get_columns(letters.name)}
    with engine.begin() as conn:
        for column in letters.columns:
            if column.name not in have:
                kind = column.type.compile(engine.dialect)
                default = (f" NOT NULL DEFAULT '{_ADDED_DEFAULTS[column.name]}'"
                           if column.name in _ADDED_DEFAULTS else "")
                conn.execute(text(f"ALTER TABLE {letters.name} ADD COLUMN {column.name} "
                                  f"{kind}{default}"))


class Ledger:
    """The ledger behind one run (or behind ``dunning report`` / ``history``)."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self.engine: Engine = create_engine(_engine_url(url), future=True)
            if self.engine.dialect.name == "sqlite":
                _create_private(self.engine.url.database)
                event.listen(self.engine, "connect", _sqlite_pragmas)
            metadata.create_all(self.engine)
            _upgrade(self.engine)
        except (SQLAlchemyError, ImportError, OSError) as exc:
            # the driver's own message, one line: not SQLAlchemy's statement and links
            cause = getattr(exc, "orig", None) or exc
            raise OutputError(f"cannot open the ledger {redact(url)}: "
                              f"{scrub(str(cause).splitlines()[0], url)}") from exc

    @classmethod
    def for_output(cls, out_dir: Path, url: str | None = None) -> Ledger:
        """The ledger at ``url``, or the SQLite file in the output folder. A new SQLite file
        is created owner-read-write, group-read (0640) like every output file; SQLite gives
        its ``-wal`` and ``-shm`` companions the same mode."""
        if url:
            return cls(url)
        return cls(f"sqlite:///{(out_dir / LEDGER_FILE).resolve()}")

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------ runs

    @_guarded("start the run")
    def start_run(self, *, run_id: str, as_of: date, out_dir: Path | str,
                  inputs: list[str]) -> int:
        """Record a run that starts, holding the lock of ``out_dir``: any other run of that
        folder still marked running was killed, and is marked ``interrupted``. Returns how
        many were."""
        with self.engine.begin() as conn:
            interrupted = conn.execute(update(runs).where(
                runs.c.out_dir == str(out_dir), runs.c.status == "running",
                runs.c.run_id != run_id).values(status="interrupted")).rowcount
            conn.execute(runs.insert().values(
                run_id=run_id, as_of=as_of, out_dir=str(out_dir), inputs=json.dumps(inputs),
                host=socket.gethostname(), pid=os.getpid(), started_at=_now(),
                status="running",
            ))
        return int(interrupted or 0)

    @_guarded("finish the run")
    def finish_run(self, run_id: str, summary: Mapping[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(runs).where(runs.c.run_id == run_id).values(
                finished_at=_now(), status="finished",
                summary=json.dumps(summary, ensure_ascii=False, default=str),
            ))

    @_guarded("read the runs")
    def runs(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(runs).order_by(runs.c.started_at)).mappings().all()
        return [dict(r) for r in rows]

    # ------------------------------------------------------------------ letters

    @_guarded("read the current letter")
    def current(self, account_id: str, as_of: date, out_dir: Path | str) -> LetterRow | None:
        """The current letter for this account and as-of date in this output folder."""
        query = select(letters).where(
            letters.c.account_id == account_id, letters.c.as_of == as_of,
            letters.c.out_dir == str(out_dir), letters.c.status == "current",
        ).order_by(letters.c.id.desc()).limit(1)
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return LetterRow.from_mapping(row) if row else None

    @_guarded("read the last letter sent")
    def last_sent_before(self, account_id: str, as_of: date,
                         besides: Path | str | None = None) -> date | None:
        """The as-of date of the latest letter to this account dated up to ``as_of``, made
        by any channel (the batch, ``dunning render``, the service) in any folder, except
        the letters for ``as_of`` in the output folder ``besides`` (a rerun's own earlier
        versions): the minimum-interval rule reads this."""
        query = select(letters.c.as_of).where(
            letters.c.account_id == account_id, letters.c.as_of <= as_of,
        )
        if besides is not None:
            query = query.where((letters.c.as_of < as_of) | (letters.c.out_dir != str(besides)))
        query = query.order_by(letters.c.as_of.desc()).limit(1)
        with self.engine.connect() as conn:
            value = conn.execute(query).scalar()
        return value if isinstance(value, date) else None

    @_guarded("read the last letters")
    def last_sent_before_many(self, account_ids: list[str], as_of: date,
                              besides: Path | str | None = None) -> dict[str, date]:
        """:meth:`last_sent_before` for many accounts in one query (the dry run's chunks)."""
        from sqlalchemy import func

        query = select(letters.c.account_id, func.max(letters.c.as_of)).where(
            letters.c.account_id.in_(account_ids), letters.c.as_of <= as_of,
        )
        if besides is not None:
            query = query.where((letters.c.as_of < as_of) | (letters.c.out_dir != str(besides)))
        query = query.group_by(letters.c.account_id)
        with self.engine.connect() as conn:
            return {str(a): d for a, d in conn.execute(query) if isinstance(d, date)}

    def record_entry(self, entry: ManifestEntry, *, run_id: str, as_of: date,
                     template_version: str, record_hash: str, out_dir: Path | str,
                     path: str | None = None, **extra: Any) -> int:
        """:meth:`record_letter` for a rendered letter's manifest entry (its account, brand,
        stage, locale, file facts and figures), at ``path`` (default: the entry's)."""
        return self.record_letter(
            run_id=run_id, account_id=str(entry.account_id), as_of=as_of,
            brand=str(entry.brand), stage=str(entry.stage), locale=str(entry.locale),
            template_version=template_version, record_hash=record_hash, out_dir=out_dir,
            path=path or str(entry.path), sha256=str(entry.sha256),
            pages=int(entry.pages or 0), total=Decimal(str(entry.total)),
            currency=str(entry.currency), capped=bool(entry.capped), **extra)

    @_guarded("record a letter")
    def record_letter(self, *, run_id: str, account_id: str, as_of: date, brand: str,
                      stage: str, locale: str, template_version: str, record_hash: str,
                      out_dir: Path | str, path: str, sha256: str, pages: int, total: Decimal,
                      currency: str, capped: bool = False,
                      supersedes: int | None = None, channel: str = "batch",
                      requested_by: str | None = None,
                      override_reason: str | None = None) -> int:
        """Add a letter (after its file is in place); mark ``supersedes`` as superseded.
        ``channel`` is who made it (:data:`CHANNELS`), ``requested_by`` who asked (an API
        key's name), ``override_reason`` why a rule (the minimum interval) was overridden."""
        if channel not in CHANNELS:
            raise ValueError(f"channel {channel!r}; expected one of {CHANNELS}")
        with self.engine.begin() as conn:
            result = conn.execute(letters.insert().values(
                account_id=account_id, as_of=as_of, run_id=run_id, brand=brand, stage=stage,
                locale=locale, template_version=template_version, record_hash=record_hash,
                out_dir=str(out_dir), path=path, sha256=sha256, pages=pages, total=str(total),
                currency=currency, capped=capped, status="current", created_at=_now(),
                channel=channel, requested_by=requested_by, override_reason=override_reason,
            ))
            new_id = int(result.inserted_primary_key[0])  # type: ignore[index]
            if supersedes is not None:
                conn.execute(update(letters).where(letters.c.id == supersedes).values(
                    status="superseded", superseded_by=new_id))
        return int(new_id)

    @_guarded("refresh a letter")
    def refresh(self, letter_id: int, *, template_version: str, record_hash: str) -> None:
        """A letter made again gave the same bytes: it stands for this template version
        and record data (the next run resumes it without rendering)."""
        with self.engine.begin() as conn:
            conn.execute(update(letters).where(letters.c.id == letter_id).values(
                template_version=template_version, record_hash=record_hash))

    @_guarded("count the versions")
    def versions(self, account_id: str, as_of: date, out_dir: Path | str) -> int:
        """How many letters (current or superseded) this account has for this as-of date in
        this output folder: the next one is version ``versions + 1``."""
        from sqlalchemy import func

        query = select(func.count()).select_from(letters).where(
            letters.c.account_id == account_id, letters.c.as_of == as_of,
            letters.c.out_dir == str(out_dir))
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar() or 0)

    @_guarded("read a request")
    def request(self, key_name: str, idempotency_key: str) -> tuple[str, int, str] | None:
        """(body sha256, letter id, response) of an earlier request with this key, or None."""
        query = select(requests.c.body_sha256, requests.c.letter_id, requests.c.response).where(
            requests.c.key_name == key_name, requests.c.idempotency_key == idempotency_key)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return (str(row[0]), int(row[1]), str(row[2])) if row else None

    @_guarded("record a request")
    def record_request(self, key_name: str, idempotency_key: str, *, body_sha256: str,
                       letter_id: int, response: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(requests.insert().values(
                key_name=key_name, idempotency_key=idempotency_key, body_sha256=body_sha256,
                letter_id=letter_id, response=response, created_at=_now()))

    @_guarded("read a letter")
    def letter(self, letter_id: int) -> LetterRow | None:
        """The letter with this ledger id, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(letters).where(letters.c.id == letter_id)).mappings().first()
        return LetterRow.from_mapping(row) if row else None

    @_guarded("read the history")
    def history(self, account_id: str) -> list[LetterRow]:
        query = select(letters).where(letters.c.account_id == account_id).order_by(
            letters.c.as_of, letters.c.id)
        with self.engine.connect() as conn:
            return [LetterRow.from_mapping(r) for r in conn.execute(query).mappings()]

    @_guarded("record suppressions")
    def record_suppressions(self, rows: list[dict[str, Any]]) -> None:
        """Add suppressions (``account_id``, ``as_of``, ``run_id``, ``out_dir``, ``reason``)
        in one transaction."""
        if not rows:
            return
        now = _now()
        with self.engine.begin() as conn:
            conn.execute(suppressions.insert(), [{**row, "created_at": now} for row in rows])

    def suppressions(self, account_id: str) -> list[SuppressionRow]:
        """Why an account got no letter, night by night, oldest first."""
        query = select(suppressions).where(suppressions.c.account_id == account_id).order_by(
            suppressions.c.as_of, suppressions.c.id)
        with self.engine.connect() as conn:
            return [SuppressionRow(account_id=r["account_id"], as_of=r["as_of"],
                                   run_id=r["run_id"], out_dir=r["out_dir"], reason=r["reason"])
                    for r in conn.execute(query).mappings()]

    @_guarded("read the letters")
    def letters_in(self, out_dir: Path | str) -> Iterator[LetterRow]:
        query = select(letters).where(letters.c.out_dir == str(out_dir)).order_by(letters.c.id)
        with self.engine.connect() as conn:
            for row in conn.execute(query).mappings():
                yield LetterRow.from_mapping(row)


def _sqlite_pragmas(conn: Any, _record: Any) -> None:
    """WAL journal: readers never block the run; each commit is still durable on disk."""
    cursor = conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _now() -> datetime:
    return datetime.now(UTC)
