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


@pytest.fixture(scope="session")
def dunning() -> Dunning:
    return Dunning.load(Settings.at(ROOT))


@pytest.fixture(scope="session")
def sample_run(
    tmp_path_factory: pytest.TempPathFactory, dunning: Dunning
) -> tuple[RunSummary, Path]:
    """The nightly batch over the good samples, as `make run` does it."""
    out = tmp_path_factory.mktemp("run") / "out"
    summary = run_batch(SAMPLE_FILES, as_of=SAMPLES_AS_OF, out_dir=out, dunning=dunning)
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
