"""The Python API: what the CLI does, a caller can do with one function each."""

from __future__ import annotations

import errno
import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, replace
from datetime import date
from pathlib import Path
from typing import IO, Any

from .errors import ConfigError, FieldProblem, InputError, OutputError, RecordError, reason
from .hashing import record_hash
from .job import Task, make_letter, new_run_id, rejected_entry
from .letter import Dunning
from .output import check_target, read_regular, write_bytes_atomic
from .plan import Letter
from .records import (
    MAX_YAML_BYTES,
    Record,
    Rejection,
    Row,
    read_records,
    repeated_key,
    typed_id,
    validate_row,
)
from .settings import check_as_of
from .stopping import time_limit
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


#: The largest single-record file (or standard input) ``render_one`` reads: YAML's limit.
MAX_RECORD_BYTES = MAX_YAML_BYTES


def _single_record(path: Path, stdin: bytes | None, dunning: Dunning) -> Row:
    source = "<stdin>" if stdin is not None else str(path)
    try:
        data = stdin if stdin is not None else read_regular(path, limit=MAX_RECORD_BYTES)
        if len(data) > MAX_RECORD_BYTES:
            raise OSError(errno.EFBIG, f"larger than the {MAX_RECORD_BYTES:,} bytes accepted "
                                       "for one record")
        text = data.decode("utf-8-sig")
    except OSError as exc:
        hint = ("; to read a record from a pipe, give - and send it to standard input"
                if exc.errno == errno.EINVAL else "")
        raise InputError(f"cannot read: {reason(exc)}{hint}", path=source) from exc
    except UnicodeDecodeError as exc:
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


#: The file the ledger names for a letter written to a stream (``dunning render --out -``):
#: it was handed over there, and no copy was kept (its sha256 is recorded all the same).
STREAMED = "-"


def render_one(
    input_file: Path, *, output: Path | IO[bytes], account_id: str | None = None,
    as_of: date | None = None, dunning: Dunning | None = None, stdin: bytes | None = None,
    ledger: str | None = None, force: bool = False, reason: str | None = None,
    letter_timeout: float | None = None,
) -> dict[str, Any]:
    """``dunning render``: one record (picked by ``account_id`` from an export, or the only
    record of a YAML/JSON file) → one PDF at ``output`` (a file, or a binary stream such as
    standard output, which is written only when there is a letter). Returns the
    manifest-style entry.

    The letter goes into the ledger (``ledger``: a database URL; default the project's
    ``output/ledger.sqlite``, which the default run folders share) with the channel
    ``render``, and the minimum-interval rule counts the letters of every channel: a letter
    sent (by the batch or an agent) within the interval suppresses this one, unless
    ``force`` with a ``reason``, which is recorded with the letter. A letter that takes
    longer than ``letter_timeout`` seconds fails (:class:`~dunning.errors.LetterTimeoutError`,
    when called in the main thread), as in the batch."""
    dunning = dunning or Dunning.load()
    as_of = check_as_of(as_of or dunning.settings.today())
    if force and not (reason and reason.strip()):
        raise InputError("overriding the minimum interval (force) needs a reason, which is "
                         "recorded with the letter")
    stream = None if isinstance(output, Path) else output
    if isinstance(output, Path):
        check_target(output)
        if stdin is None and output.exists() and input_file.exists() \
                and output.samefile(input_file):
            raise OutputError(f"{output} is the input file: give another file to write to")
    row = _pick(input_file, account_id, stdin, dunning)
    if isinstance(row, Rejection):
        return asdict(rejected_entry(row))
    from .ledger import Ledger

    book = Ledger(ledger) if ledger else Ledger.for_output(dunning.settings.ledger_folder())
    try:
        last = None if force else book.last_sent_before(row.account_id, as_of)
        with time_limit(letter_timeout):
            outcome = make_letter(Task(record=row, last_notice=last), dunning, as_of)
        if outcome.error is not None:
            raise outcome.error
        entry = outcome.entry
        if outcome.data is not None:
            if stream is not None:
                stream.write(outcome.data)
                stream.flush()
                folder, name, shown = "", STREAMED, STREAMED
            else:
                assert isinstance(output, Path)
                write_bytes_atomic(output, outcome.data)
                target = output.resolve()
                folder, name, shown = str(target.parent), target.name, str(output)
            book.record_entry(
                entry, run_id=f"render-{new_run_id()}", as_of=as_of,
                template_version=dunning.template_version(), record_hash=record_hash(row),
                out_dir=folder, path=name, channel="render",
                override_reason=reason.strip() if force and reason else None)
            entry = replace(entry, path=shown, resumed=None, postal_code=None)
    finally:
        book.close()
    return asdict(entry)


def _pick(input_file: Path, account_id: str | None, stdin: bytes | None,
          dunning: Dunning) -> Row:
    """The one record to render: ``account_id``'s from an export, or a file's only one."""
    if account_id is not None and stdin is None and input_file.suffix.lower() in (
            ".csv", ".yaml", ".yml"):
        for candidate in read_records([input_file], dunning.record_rules()):
            if candidate.account_id == account_id:
                return candidate
        raise InputError(f"no record with account_id {typed_id(account_id)}",
                         path=str(input_file))
    row = _single_record(input_file, stdin, dunning)
    if account_id is not None and row.account_id != account_id:
        raise InputError(f"the record's account_id is not {typed_id(account_id)}",
                         path=str(input_file))
    return row


__all__ = ["FieldProblem", "load_records", "render_letter", "render_one"]
