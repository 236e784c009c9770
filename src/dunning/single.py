"""``dunning render`` for people: picking the record, and saying what happened in words.

Takes the file and account id a person gave; before anything is rendered, says what is wrong
with the pick in their terms (an export without ``--id``: how many records it holds; an id
not in it: the close matches, ids being case-sensitive). Gives, for an outcome (the
manifest-style entry of :func:`dunning.api.render_one`), one plain sentence.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import InputError
from .letter import Dunning
from .records import raw_rows, typed_id

EXPORTS = (".csv", ".yaml", ".yml")


def _ids(path: Path) -> list[str]:
    return [str(raw.get("account_id") or "") for _, raw in raw_rows(path)
            if isinstance(raw, dict)]


def check_pick(path: Path, account_id: str | None, dunning: Dunning) -> None:
    """InputError, in words a person can act on, when ``account_id`` does not pick one
    record of ``path`` (an export)."""
    if path.suffix.lower() not in EXPORTS or not path.is_file():
        return
    try:
        ids = _ids(path)
    except InputError:  # not an export (one record in a YAML file): render_one reads it
        return
    if account_id is None:
        if len(ids) > 1:
            raise InputError(f"this file has {len(ids)} records: give --id ACCOUNT_ID to pick "
                             f"one (the first is {ids[0]!r})", path=str(path))
        return
    if account_id in ids:
        return
    folded = [i for i in ids if i.casefold() == account_id.casefold()]
    close = folded or difflib.get_close_matches(account_id, ids, n=3, cutoff=0.6)
    hint = (f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else "")
    note = " (ids are case-sensitive)" if folded else ""
    raise InputError(f"no record with account_id {typed_id(account_id)} among its {len(ids)} "
                     f"record(s){note}{hint}", path=str(path))


def sentence(result: Mapping[str, Any]) -> str:
    """One plain sentence for an outcome.

    >>> sentence({"account_id": "MT-1", "outcome": "suppressed", "reason": "disputed"})
    'MT-1: no letter: suppressed (disputed)'
    """
    who = result.get("account_id") or "the record"
    outcome = result.get("outcome")
    reason = result.get("reason") or ""
    if outcome == "rendered":
        pages = result.get("pages")
        where = "standard output" if result.get("path") == "-" else result.get("path")
        return (f"{who}: {result.get('stage')} letter ({result.get('locale')}, {pages} "
                f"page{'s' if pages != 1 else ''}, {result.get('currency')} "
                f"{result.get('total')} demanded) written to {where}")
    if outcome == "suppressed":
        return f"{who}: no letter: suppressed ({reason})"
    if outcome == "rejected":
        return f"{who}: no letter: the record is rejected: {reason}"
    return f"{who}: no letter: it could not be made: {reason}"
