"""What the data owner must fix: ``rejects.csv`` and the run's problems grouped by reason.

Takes the rows of a run as they are read (a :class:`~dunning.records.Rejection` carries every
field problem found) and the manifest entries of letters that failed; gives

- ``rejects.csv`` in the run folder, one line per problem: ``source`` file and ``line``,
  ``account_id``, ``outcome`` (rejected or failed), ``field``, ``problem`` and ``accepted``
  (what would be accepted). Formula-safe (:func:`dunning.output.csv_cell`), UTF-8 with a BOM.
  It holds no personal data: problems never quote a name, ID number, phone or address
  (:mod:`dunning.records` leaves their values out), and ids are account ids;
- the groups for the summary and ``dunning report``: the same problem in many rows once, with
  the count and the first few places (:data:`FIRST`).

The CSV is spooled as rows arrive (in memory up to :data:`SPOOL_IN_MEMORY`, then in a temporary
file, so memory stays bounded however many rows are rejected) and put in place whole at the end
of the run, through the run's store.
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from .output import ManifestEntry, csv_cell
from .records import Rejection, Row

REJECTS = "rejects.csv"
COLUMNS = ("source", "line", "account_id", "outcome", "field", "problem", "accepted")
#: Places listed per group of the same problem.
FIRST = 3
#: Bytes of rejects.csv kept in memory before the spool moves to a temporary file.
SPOOL_IN_MEMORY = 16 * 1024**2
#: Distinct groups kept; further problems are counted under "other problems".
MAX_GROUPS = 50

_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|\d+(?:[.,]\d+)*")


def reason_key(text: str) -> str:
    """A problem's text with its values masked, so that the same problem groups together.

    >>> reason_key("account_id: 'MT-1' already used at a.csv:3")
    'account_id: … already used at a.csv:…'
    """
    return _QUOTED.sub("…", text)


@dataclass
class Group:
    """One problem, how many rows had it, and where the first few are."""

    outcome: str
    reason: str
    count: int = 0
    first: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "reason": self.reason, "count": self.count,
                "first": self.first}


class Rejects:
    """Collects the run's rejected and failed rows; :meth:`finish` gives the CSV bytes."""

    def __init__(self) -> None:
        self._spool: IO[bytes] = tempfile.SpooledTemporaryFile(
            max_size=SPOOL_IN_MEMORY, mode="w+b")
        self._text = io.TextIOWrapper(self._spool, encoding="utf-8-sig", newline="")
        self._csv = csv.writer(self._text)
        self._csv.writerow(COLUMNS)
        self.rows = 0
        self._groups: dict[tuple[str, str], Group] = {}

    def watch(self, rows: Iterator[Row]) -> Iterator[Row]:
        """``rows`` unchanged, noting every rejection on the way."""
        for row in rows:
            if isinstance(row, Rejection):
                self.add_rejection(row)
            yield row

    def add_rejection(self, row: Rejection) -> None:
        error = row.error
        for problem in error.problems:
            self._write(error.source, error.line, row.account_id, "rejected", problem.field,
                        problem.problem, problem.accepted)
        self._group("rejected", error.reason, row.where, row.account_id)

    def add_entry(self, entry: ManifestEntry) -> None:
        """A manifest entry: failed letters are noted (rejections come through
        :meth:`watch`)."""
        if entry.outcome != "failed":
            return
        source, _, line = entry.source.rpartition(":")
        reason = entry.reason or ""
        self._write(source or entry.source, line if line.isdigit() else "", entry.account_id,
                    "failed", None, reason, "")
        self._group("failed", reason, entry.source, entry.account_id)

    def _write(self, source: str, line: Any, account_id: str | None, outcome: str,
               field_name: str | None, problem: str, accepted: str) -> None:
        self._csv.writerow([csv_cell(v) for v in (source, line, account_id, outcome,
                                                  field_name, problem, accepted)])
        self.rows += 1

    def _group(self, outcome: str, reason: str, where: str, account_id: str | None) -> None:
        key = (outcome, reason_key(reason))
        group = self._groups.get(key)
        if group is None:
            if len(self._groups) >= MAX_GROUPS:
                key = (outcome, "other problems")
                group = self._groups.setdefault(key, Group(outcome, "other problems"))
            else:
                group = self._groups[key] = Group(outcome, reason)
        group.count += 1
        if len(group.first) < FIRST:
            group.first.append(f"{where} ({account_id or 'no id'})")

    def groups(self) -> list[dict[str, Any]]:
        """The groups, most rows first."""
        return [g.to_dict() for g in sorted(self._groups.values(),
                                            key=lambda g: (-g.count, g.outcome, g.reason))]

    def finish(self) -> bytes:
        """The whole CSV (header only when nothing was rejected or failed)."""
        self._text.flush()
        self._spool.seek(0)
        data = self._spool.read()
        self._text.close()
        return data

    def close(self) -> None:
        if not self._spool.closed:
            self._text.close()


def format_groups(groups: Sequence[Mapping[str, Any]]) -> list[str]:
    """The groups as lines for the terminal: count, outcome, reason, then where."""
    lines = []
    for group in groups:
        more = group["count"] - len(group["first"])
        where = ", ".join(group["first"]) + (f" and {more} more" if more > 0 else "")
        lines.append(f"  {group['count']:>6} {group['outcome']}: {group['reason']}")
        lines.append(f"         at {where}")
    return lines
