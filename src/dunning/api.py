"""The Python API: what the CLI does, a caller can do with one function each."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, replace
from datetime import date
from pathlib import Path
from typing import Any

from .errors import ConfigError, FieldProblem, InputError, OutputError, RecordError
from .job import Task, make_letter, rejected_entry
from .letter import Dunning
from .output import check_target, write_bytes_atomic
from .plan import Letter
from .records import Record, Rejection, Row, read_records, repeated_key, validate_row
from .settings import check_as_of
from .yamlconf import load_yaml_text


def load_records(paths: Iterable[Path | str], dunning: Dunning | None = None) -> Iterator[Row]:
    """Stream the rows of CSV/YAML exports as Records or Rejections."""
    dunning = dunning or Dunning.load()
    return read_records([Path(p) for p in paths], dunning.record_rules())


def render_letter(record: Record, as_of: date, dunning: Dunning | None = None) -> Letter:
    """The letter for one record (ValueError if the record is suppressed: see
    ``Dunning.plan`` for the reason)."""
    dunning = dunning or Dunning.load()
    plan = dunning.plan(record, as_of)
    if plan.suppression:
        raise ValueError(f"{record.account_id}: no letter: {plan.suppression}")
    return dunning.render(plan)


def _single_record(path: Path, stdin: bytes | None, dunning: Dunning) -> Row:
    source = "<stdin>" if stdin is not None else str(path)
    try:
        text = stdin.decode("utf-8-sig") if stdin is not None else path.read_text("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {exc}", path=source) from exc
    repeated: list[FieldProblem] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        problem = repeated_key(key for key, _ in items)
        if problem is not None:
            repeated.append(problem)
        return dict(items)

    try:
        data = (json.loads(text, object_pairs_hook=pairs) if path.suffix.lower() == ".json"
                else load_yaml_text(text, path=source))
    except (ValueError, ConfigError) as exc:  # JSONDecodeError, a 5000-digit integer …
        raise InputError(f"not a record: {exc}", path=source) from exc
    except RecursionError as exc:  # json nests recursively: [[[[...]]]]
        raise InputError("not a record: nested too deeply", path=source) from exc
    if isinstance(data, dict) and set(data) == {"records"}:
        data = data["records"]
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    if not isinstance(data, dict):
        raise InputError("expected one record (a mapping of field: value)", path=source)
    if repeated:
        account_id = data.get("account_id")
        return Rejection(RecordError(repeated[:1], source=source, line=1,
                                     account_id=account_id if isinstance(account_id, str)
                                     else None))
    try:
        return validate_row(data, source=source, line=1, rules=dunning.record_rules())
    except RecordError as exc:
        return Rejection(exc)


def render_one(
    input_file: Path, *, output: Path, account_id: str | None = None,
    as_of: date | None = None, dunning: Dunning | None = None, stdin: bytes | None = None,
) -> dict[str, Any]:
    """``dunning render``: one record (picked by ``account_id`` from an export, or the only
    record of a YAML/JSON file) → one PDF at ``output``. Returns the manifest-style entry."""
    dunning = dunning or Dunning.load()
    as_of = check_as_of(as_of or dunning.settings.today())
    check_target(output)
    if stdin is None and output.exists() and input_file.exists() \
            and output.samefile(input_file):
        raise OutputError(f"{output} is the input file: give another file to write to")
    row: Row | None = None
    if account_id is not None and stdin is None and input_file.suffix.lower() in (
            ".csv", ".yaml", ".yml"):
        for candidate in read_records([input_file], dunning.record_rules()):
            if candidate.account_id == account_id:
                row = candidate
                break
        if row is None:
            raise InputError(f"no record with account_id {account_id!r}", path=str(input_file))
    else:
        row = _single_record(input_file, stdin, dunning)
        if account_id is not None and row.account_id != account_id:
            raise InputError(f"the record's account_id is not {account_id!r}",
                             path=str(input_file))
    if isinstance(row, Rejection):
        return asdict(rejected_entry(row))
    outcome = make_letter(Task(record=row), dunning, as_of)
    if outcome.error is not None:
        raise outcome.error
    entry = outcome.entry
    if outcome.data is not None:
        write_bytes_atomic(output, outcome.data)
        entry = replace(entry, path=str(output), resumed=None, postal_code=None)
    return asdict(entry)


__all__ = ["FieldProblem", "load_records", "render_letter", "render_one"]
