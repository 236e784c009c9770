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

import json
import os
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

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
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from .errors import OutputError
from .extras import require
from .output import FILE_MODE

LEDGER_FILE = "ledger.sqlite"

metadata = MetaData()

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
    Index("ix_dunning_letters_account", "account_id", "as_of"),
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

    @classmethod
    def from_mapping(cls, row: Any) -> LetterRow:
        return cls(**{name: row[name] for name in cls.__slots__})


def _engine_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 here (the driver the project installs)."""
    if url.split(":", 1)[0].startswith("postgres"):
        require("postgres", "a PostgreSQL ledger")
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


class Ledger:
    """The ledger behind one run (or behind ``dunning report`` / ``history``)."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self.engine: Engine = create_engine(_engine_url(url), future=True)
            if self.engine.dialect.name == "sqlite":
                event.listen(self.engine, "connect", _sqlite_pragmas)
            metadata.create_all(self.engine)
        except (SQLAlchemyError, ImportError) as exc:
            raise OutputError(f"cannot open the ledger {redact(url)}: {exc}") from exc

    @classmethod
    def for_output(cls, out_dir: Path, url: str | None = None) -> Ledger:
        """The ledger at ``url``, or the SQLite file in the output folder. A new SQLite file
        is created owner-read-write, group-read (0640) like every output file; SQLite gives
        its ``-wal`` and ``-shm`` companions the same mode."""
        if url:
            return cls(url)
        path = (out_dir / LEDGER_FILE).resolve()
        if not path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
        return cls(f"sqlite:///{path}")

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------ runs

    def start_run(self, *, run_id: str, as_of: date, out_dir: Path | str,
                  inputs: list[str]) -> None:
        with self.engine.begin() as conn:
            conn.execute(runs.insert().values(
                run_id=run_id, as_of=as_of, out_dir=str(out_dir), inputs=json.dumps(inputs),
                host=socket.gethostname(), pid=os.getpid(), started_at=_now(),
                status="running",
            ))

    def finish_run(self, run_id: str, summary: Mapping[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(runs).where(runs.c.run_id == run_id).values(
                finished_at=_now(), status="finished",
                summary=json.dumps(summary, ensure_ascii=False, default=str),
            ))

    def runs(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(runs).order_by(runs.c.started_at)).mappings().all()
        return [dict(r) for r in rows]

    # ------------------------------------------------------------------ letters

    def current(self, account_id: str, as_of: date, out_dir: Path | str) -> LetterRow | None:
        """The current letter for this account and as-of date in this output folder."""
        query = select(letters).where(
            letters.c.account_id == account_id, letters.c.as_of == as_of,
            letters.c.out_dir == str(out_dir), letters.c.status == "current",
        ).order_by(letters.c.id.desc()).limit(1)
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return LetterRow.from_mapping(row) if row else None

    def last_sent_before(self, account_id: str, as_of: date) -> date | None:
        """The as-of date of the latest letter to this account dated before ``as_of`` (any
        output folder): the minimum-interval rule reads this."""
        query = select(letters.c.as_of).where(
            letters.c.account_id == account_id, letters.c.as_of < as_of,
        ).order_by(letters.c.as_of.desc()).limit(1)
        with self.engine.connect() as conn:
            value = conn.execute(query).scalar()
        return value if isinstance(value, date) else None

    def last_sent_before_many(self, account_ids: list[str], as_of: date) -> dict[str, date]:
        """:meth:`last_sent_before` for many accounts in one query (the dry run's chunks)."""
        from sqlalchemy import func

        query = select(letters.c.account_id, func.max(letters.c.as_of)).where(
            letters.c.account_id.in_(account_ids), letters.c.as_of < as_of,
        ).group_by(letters.c.account_id)
        with self.engine.connect() as conn:
            return {str(a): d for a, d in conn.execute(query) if isinstance(d, date)}

    def record_letter(self, *, run_id: str, account_id: str, as_of: date, brand: str,
                      stage: str, locale: str, template_version: str, record_hash: str,
                      out_dir: Path | str, path: str, sha256: str, pages: int, total: Decimal,
                      currency: str, capped: bool = False,
                      supersedes: int | None = None) -> int:
        """Add a letter (after its file is in place); mark ``supersedes`` as superseded."""
        with self.engine.begin() as conn:
            result = conn.execute(letters.insert().values(
                account_id=account_id, as_of=as_of, run_id=run_id, brand=brand, stage=stage,
                locale=locale, template_version=template_version, record_hash=record_hash,
                out_dir=str(out_dir), path=path, sha256=sha256, pages=pages, total=str(total),
                currency=currency, capped=capped, status="current", created_at=_now(),
            ))
            new_id = int(result.inserted_primary_key[0])  # type: ignore[index]
            if supersedes is not None:
                conn.execute(update(letters).where(letters.c.id == supersedes).values(
                    status="superseded", superseded_by=new_id))
        return int(new_id)

    def versions(self, account_id: str, as_of: date, out_dir: Path | str) -> int:
        """How many letters (current or superseded) this account has for this as-of date in
        this output folder: the next one is version ``versions + 1``."""
        from sqlalchemy import func

        query = select(func.count()).select_from(letters).where(
            letters.c.account_id == account_id, letters.c.as_of == as_of,
            letters.c.out_dir == str(out_dir))
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar() or 0)

    def history(self, account_id: str) -> list[LetterRow]:
        query = select(letters).where(letters.c.account_id == account_id).order_by(
            letters.c.as_of, letters.c.id)
        with self.engine.connect() as conn:
            return [LetterRow.from_mapping(r) for r in conn.execute(query).mappings()]

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

    def letters_in(self, out_dir: Path | str) -> Iterator[LetterRow]:
        query = select(letters).where(letters.c.out_dir == str(out_dir)).order_by(letters.c.id)
        with self.engine.connect() as conn:
            for row in conn.execute(query).mappings():
                yield LetterRow.from_mapping(row)


def redact(url: str) -> str:
    """A database URL without its password, for messages.

    >>> redact("postgresql://dunning:s3cret@db:5432/letters")
    'postgresql://dunning:***@db:5432/letters'
    """
    head, sep, tail = url.partition("://")
    if "@" in tail and ":" in tail.split("@", 1)[0]:
        user = tail.split("@", 1)[0].split(":", 1)[0]
        return f"{head}{sep}{user}:***@{tail.split('@', 1)[1]}"
    return url


def _sqlite_pragmas(conn: Any, _record: Any) -> None:
    """WAL journal: readers never block the run; each commit is still durable on disk."""
    cursor = conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _now() -> datetime:
    return datetime.now(UTC)
