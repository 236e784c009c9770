"""The nightly run: read rows → plan → render → write letters, manifest and summary.

Every input row ends in exactly one manifest line with one outcome: ``rendered``,
``suppressed``, ``rejected`` or ``failed``. A problem with one row never stops the run; a
problem with the whole run (config, unreadable input, output not writable) raises before or
instead of writing a partial result.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from .errors import OutputError, RenderError, TemplateError
from .letter import Dunning
from .output import (
    OUTCOMES,
    ManifestEntry,
    ManifestWriter,
    ensure_dir,
    sha256,
    write_bytes_atomic,
    write_json_atomic,
)
from .records import Rejection, check_inputs, read_records

log = logging.getLogger("dunning.batch")

MANIFEST = "manifest.jsonl"
SUMMARY = "summary.json"


@dataclass
class RunSummary:
    """Counts that reconcile: rows == rendered + suppressed + rejected + failed."""

    as_of: date
    out_dir: Path
    inputs: list[str]
    counts: Counter[str] = field(default_factory=Counter)
    by_stage: Counter[str] = field(default_factory=Counter)
    by_brand: Counter[str] = field(default_factory=Counter)
    suppressed_by_reason: Counter[str] = field(default_factory=Counter)
    capped: int = 0
    demanded: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    @property
    def exit_code(self) -> int:
        """0 when every row was rendered or suppressed, 1 when some were rejected or failed."""
        return 1 if self.counts["rejected"] or self.counts["failed"] else 0

    def add(self, entry: ManifestEntry) -> None:
        self.counts[entry.outcome] += 1
        if entry.outcome == "rendered":
            self.by_stage[str(entry.stage)] += 1
            self.by_brand[str(entry.brand)] += 1
            self.capped += bool(entry.capped)
            self.demanded[str(entry.currency)] += Decimal(str(entry.total))
        elif entry.outcome == "suppressed":
            self.suppressed_by_reason[str(entry.reason).split(":")[0]] += 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "inputs": self.inputs,
            "rows": self.rows,
            "outcomes": {name: self.counts[name] for name in OUTCOMES},
            "rendered_by_stage": dict(sorted(self.by_stage.items())),
            "rendered_by_brand": dict(sorted(self.by_brand.items())),
            "suppressed_by_reason": dict(sorted(self.suppressed_by_reason.items())),
            "capped_letters": self.capped,
            "total_demanded": {cur: str(amount) for cur, amount in sorted(self.demanded.items())},
            "seconds": round(self.seconds, 3),
            "exit_code": self.exit_code,
        }


def today(dunning: Dunning) -> date:
    """Today in the configured time zone (not the machine's)."""
    return datetime.now(dunning.settings.tz).date()


def default_out_dir(dunning: Dunning, as_of: date) -> Path:
    return dunning.settings.root / "output" / as_of.isoformat()


def run_batch(
    inputs: Sequence[Path | str],
    *,
    as_of: date | None = None,
    out_dir: Path | str | None = None,
    dunning: Dunning | None = None,
    on_row: Callable[[ManifestEntry], None] | None = None,
) -> RunSummary:
    """Run the batch over ``inputs`` into ``out_dir`` and return the summary.

    Raises ConfigError, InputError or OutputError when the run cannot proceed at all.
    """
    started = time.monotonic()
    dunning = dunning or Dunning.load()
    as_of = as_of or today(dunning)
    paths = [Path(p) for p in inputs]
    out = Path(out_dir) if out_dir else default_out_dir(dunning, as_of)
    check_inputs(paths)
    ensure_dir(out)
    summary = RunSummary(as_of=as_of, out_dir=out, inputs=[str(p) for p in paths])
    log.info("1/3 run as of %s: %d input file(s) into %s", as_of, len(paths), out)
    manifest = ManifestWriter(out / MANIFEST)
    try:
        for row in read_records(paths, dunning.record_rules()):
            entry = _outcome(row, dunning, as_of, out)
            manifest.write(entry)
            summary.add(entry)
            if on_row:
                on_row(entry)
    except BaseException as exc:
        manifest.abort(exc)
        raise
    manifest.close()
    summary.seconds = time.monotonic() - started
    log.info("2/3 %d rows: %s", summary.rows,
             ", ".join(f"{n} {name}" for name in OUTCOMES if (n := summary.counts[name])))
    write_json_atomic(out / SUMMARY, summary.to_dict())
    log.info("3/3 manifest and summary written to %s", out)
    return summary


def _outcome(row: Any, dunning: Dunning, as_of: date, out: Path) -> ManifestEntry:
    if isinstance(row, Rejection):
        log.warning("rejected %s (%s): %s", row.where, row.account_id or "no id",
                    row.error.reason)
        return ManifestEntry(account_id=row.account_id, source=row.where, outcome="rejected",
                             reason=row.error.reason)
    record = row
    base = {"account_id": record.account_id, "source": record.where, "brand": record.brand}
    try:
        plan = dunning.plan(record, as_of)
    except Exception as exc:  # a bug in planning must not stop the run
        log.warning("failed %s: %s", record.account_id, exc, exc_info=log.isEnabledFor(10))
        return ManifestEntry(**base, outcome="failed", reason=f"{type(exc).__name__}: {exc}")
    if plan.suppression:
        return ManifestEntry(**base, outcome="suppressed", locale=plan.locale,
                             reason=str(plan.suppression))
    try:
        letter = dunning.render(plan)
    except (TemplateError, RenderError) as exc:
        log.warning("failed %s: %s", record.account_id, exc)
        return ManifestEntry(**base, outcome="failed", stage=plan.stage, locale=plan.locale,
                             reason=str(exc))
    except Exception as exc:
        log.warning("failed %s: %s", record.account_id, exc, exc_info=log.isEnabledFor(10))
        return ManifestEntry(**base, outcome="failed", stage=plan.stage, locale=plan.locale,
                             reason=f"{type(exc).__name__}: {exc}")
    rel = dunning.letter_path(plan)
    try:
        write_bytes_atomic(out / rel, letter.pdf.data)
    except OutputError:
        raise
    return ManifestEntry(
        **base, outcome="rendered", stage=plan.stage, locale=plan.locale, path=rel.as_posix(),
        pages=letter.pdf.pages, sha256=sha256(letter.pdf.data), total=str(plan.items.total),
        currency=plan.items.currency, capped=plan.items.capped,
    )
