"""Run reports and account histories: what a run did, and what an account was sent.

Takes a run folder's ``summary.json`` (written at the end of every run) or the ledger; gives
plain text for the terminal (the same text ``dunning run`` prints at its end).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

from .errors import InputError
from .ledger import LetterRow, SuppressionRow
from .output import read_regular_text
from .records import MAX_LENGTH, typed_id

OUTCOMES = ("rendered", "suppressed", "rejected", "failed")


def load_summary(run: Path) -> dict[str, Any]:
    """The summary of the run in folder ``run`` (or the folder holding ``run`` if it is the
    summary file itself)."""
    path = run / "summary.json" if run.is_dir() else run
    try:
        data: dict[str, Any] = json.loads(read_regular_text(path))
    except FileNotFoundError as exc:
        raise InputError("no summary.json: not a run folder, or the run did not finish "
                         "(rerun it to complete it)", path=str(path)) from exc
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the run summary: {exc}", path=str(path)) from exc
    return data


def _counts(counts: Mapping[str, Any]) -> str:
    return ", ".join(f"{name} {value}" for name, value in counts.items()) or "none"


def format_summary(data: Mapping[str, Any]) -> str:
    """The run summary as text: the reconciliation line first, then the run (id, time taken,
    workers), the breakdowns, and the rejected and failed rows grouped by reason."""
    from .progress import duration
    from .rejects import format_groups

    outcomes = data.get("outcomes", {})
    parts = " + ".join(f"{outcomes.get(name, 0)} {name}" for name in OUTCOMES)
    balanced = data.get("rows") == sum(outcomes.get(name, 0) for name in OUTCOMES)
    kind = "dry run" if data.get("dry_run") else "run"
    lines = [
        f"{kind} as of {data.get('as_of')}: {data.get('rows')} rows = {parts}"
        + ("" if balanced else "  (DOES NOT RECONCILE)"),
        f"run {data.get('run_id')}: took {duration(float(data.get('seconds') or 0))}, "
        f"workers: {data.get('workers')}"
        + (f" on the cluster {data['cluster']}" if data.get("cluster") else ""),
    ]
    if data.get("dry_run"):
        lines.append("dry run: no letter made, nothing written to the ledger; a 'rendered' "
                     "row is one that would get a letter")
    if data.get("interrupted"):
        lines.append(f"INTERRUPTED by {data['interrupted']}: the rows not reached have no "
                     "outcome yet; rerun to resume")
    for key, title in (("rendered_by_stage", "letters by stage"),
                       ("rendered_by_brand", "letters by brand"),
                       ("rendered_by_locale", "letters by locale"),
                       ("suppressed_by_reason", "suppressed"),
                       ("resumed", "already made (resumed)")):
        value = data.get(key)
        if isinstance(value, Mapping) and value:
            lines.append(f"{title}: {_counts(value)}")
        elif isinstance(value, int) and value:
            lines.append(f"{title}: {value}")
    demanded = data.get("total_demanded") or {}
    lines.append(f"capped letters: {data.get('capped_letters', 0)}; demanded: "
                 + (", ".join(f"{cur} {amt}" for cur, amt in demanded.items()) or "nothing"))
    for key, title in (("demanded_by_stage", "demanded by stage"),
                       ("demanded_by_brand", "demanded by brand"),
                       ("demanded_by_locale", "demanded by locale")):
        value = data.get(key)
        if isinstance(value, Mapping) and value:
            lines.append(f"{title}: " + "; ".join(
                f"{group} " + ", ".join(f"{cur} {amt}" for cur, amt in amounts.items())
                for group, amounts in value.items()))
    problems = data.get("problems") or []
    if problems:
        lines.append("rejected and failed rows by reason (all of them in rejects.csv):")
        lines += format_groups(problems)
    if data.get("exit_code") is not None:
        lines.append(f"exit code: {data['exit_code']}")
    return "\n".join(lines)


def _where(out_dir: str, path: str) -> str:
    from .store import is_url

    if not out_dir:  # written to a stream (render --out -): no file was kept
        return "standard output (no copy kept)"
    return f"{out_dir.rstrip('/')}/{path}" if is_url(out_dir) else str(Path(out_dir) / path)


def format_history(account_id: str, rows: list[LetterRow],
                   suppressed: list[SuppressionRow] | None = None) -> str:
    """An account's letters and suppressions, oldest first, one line each."""
    suppressed = suppressed or []
    if not rows and not suppressed:
        who = account_id if len(account_id) <= MAX_LENGTH["account_id"] else \
            typed_id(account_id)
        return (f"{who}: nothing in the ledger: no run has seen this account id "
                "(ids are case-sensitive)")
    versions: Counter[tuple[date, str]] = Counter()
    lines: list[tuple[date, int, str]] = []
    for row in rows:
        versions[(row.as_of, row.out_dir)] += 1
        channel = row.channel or "batch"
        lines.append((row.as_of, 0, (
            f"  {row.as_of}  run {row.run_id}  {channel:<6} {row.stage:<8} "
            f"v{versions[(row.as_of, row.out_dir)]} {row.status:<10} {row.locale:<6} "
            f"{row.currency} {row.total:>12}  {row.pages}p  "
            f"{_where(row.out_dir, row.path)}  sha256 {row.sha256}")))
    for item in suppressed:
        lines.append((item.as_of, 1, f"  {item.as_of}  run {item.run_id}  no letter on "
                                     f"{item.as_of}: {item.reason}"))
    head = f"{account_id}: {len(rows)} letter(s), {len(suppressed)} night(s) without a letter"
    return "\n".join([head, *(text for _, _, text in sorted(lines, key=lambda t: t[:2]))])
