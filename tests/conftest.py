"""Fixtures shared by the suite. The sample batch is rendered once per session."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dunning.batch import RunSummary, run_batch
from dunning.letter import Dunning
from dunning.settings import Settings

from .helpers import ROOT, SAMPLE_FILES, SAMPLES_AS_OF
from .pki import P12_PASSWORD, PASSWORD_ENV, SECRET, SECRET_ENV, Trust, make_trust


@pytest.fixture(scope="session")
def dunning() -> Dunning:
    return Dunning.load(Settings.at(ROOT))


@pytest.fixture(scope="session")
def sample_run(
    tmp_path_factory: pytest.TempPathFactory, dunning: Dunning
) -> tuple[RunSummary, Path]:
    """The nightly batch over the good samples, as `make run` does it (two worker processes;
    tests/test_workers.py checks that one process gives the same bytes)."""
    out = tmp_path_factory.mktemp("run") / "out"
    summary = run_batch(SAMPLE_FILES, as_of=SAMPLES_AS_OF, out_dir=out, dunning=dunning,
                        workers=2)
    return summary, out


class _Fail(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def assert_no_logs() -> Iterator[Any]:
    """Fail if dunning or WeasyPrint logs a warning or an error during the test."""
    handler = _Fail()
    loggers = [logging.getLogger("dunning"), logging.getLogger("weasyprint")]
    for logger in loggers:
        logger.addHandler(handler)
    yield handler
    for logger in loggers:
        logger.removeHandler(handler)
    assert not handler.records, [r.getMessage() for r in handler.records]


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A real PostgreSQL server, private to this test session."""
    from .postgres import postgres_server

    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty ledger database: SQLite in tmp_path, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.sqlite'}"
        return
    import uuid

    from sqlalchemy import create_engine, text

    base = request.getfixturevalue("pg_url")
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base.replace("postgresql://", "postgresql+psycopg://"),
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield base.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def trust(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trust]:
    """A test CA, a brand certificate and a config that seals letters with it (tests/pki.py),
    with the key's password and the code secret in the environment."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv(PASSWORD_ENV, P12_PASSWORD)
        env.setenv(SECRET_ENV, SECRET)
        yield make_trust(tmp_path_factory.mktemp("trust"), ROOT)


@pytest.fixture(scope="session")
def sealed(trust: Trust) -> Dunning:
    """A Dunning whose brands sign their letters (see :class:`tests.pki.Trust`)."""
    return Dunning.load(Settings.at(trust.home))
