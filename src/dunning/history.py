"""Suppressions in the ledger, so that ``dunning history`` answers "why no letter that night".

Takes the batch's manifest entries; :class:`SuppressionLog` notes each suppressed row (account
id, as-of date, run, reason code: no personal data) in the ledger's ``dunning_suppressions``
table, :data:`BATCH` rows per transaction. :func:`dunning.report.format_history` shows them
beside the letters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .output import ManifestEntry

if TYPE_CHECKING:
    from .ledger import Ledger

BATCH = 500


@dataclass
class SuppressionLog:
    """Suppressed rows of one run, written to the ledger ``BATCH`` at a time."""

    book: Ledger
    run_id: str
    as_of: date
    out_dir: Path | str
    _pending: list[dict[str, Any]] = field(default_factory=list)

    def add(self, entry: ManifestEntry) -> None:
        if entry.outcome != "suppressed" or not entry.account_id:
            return
        self._pending.append({"account_id": entry.account_id, "as_of": self.as_of,
                              "run_id": self.run_id, "out_dir": str(self.out_dir),
                              "reason": str(entry.reason or "")})
        if len(self._pending) >= BATCH:
            self.flush()

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        self.book.record_suppressions(pending)
