"""docs/figures.md: every figure in its example tables is recomputed from the samples."""

from __future__ import annotations

import re
from decimal import Decimal

from dunning.letter import Dunning, Plan
from dunning.records import Record, read_records

from .helpers import ROOT, SAMPLE_FILES, SAMPLES_AS_OF

DOC = ROOT / "docs" / "figures.md"
ROW = re.compile(r"^\| `(\w+)` \|.*\| (-?[\d,]+(?:\.\d+)?) \|$")


def _examples() -> dict[str, dict[str, Decimal]]:
    examples: dict[str, dict[str, Decimal]] = {}
    current = None
    for line in DOC.read_text("utf-8").splitlines():
        heading = re.match(r"^## Example \d+ .*\((\S+)\)$", line)
        if heading:
            current = examples.setdefault(heading.group(1), {})
        elif current is not None and (row := ROW.match(line)):
            current[row.group(1)] = Decimal(row.group(2).replace(",", ""))
    return examples


def _figures(plan: Plan) -> dict[str, Decimal]:
    items, options = plan.items, plan.options
    assert options is not None
    figures = {
        "dpd": Decimal(items.dpd), "principal": items.principal, "interest": items.interest,
        "penalty": items.penalty, "compound": items.compound, "fees": items.fees,
        "paid": -items.paid, "total": items.total,
    }
    if options.settlement:
        figures["settlement"] = options.settlement.amount
    for p in options.installments:
        figures[f"plan_{p.months}"] = p.payment
        figures[f"plan_{p.months}_total"] = p.total
    if options.extension:
        figures["extension_cost"] = options.extension.cost
    return figures


def test_every_documented_figure_is_what_the_program_computes(dunning: Dunning) -> None:
    examples = _examples()
    assert len(examples) >= 3
    records = {r.account_id: r for r in read_records(SAMPLE_FILES, dunning.record_rules())
               if isinstance(r, Record)}
    checked = 0
    for account_id, documented in examples.items():
        figures = _figures(dunning.plan(records[account_id], SAMPLES_AS_OF))
        for key, value in documented.items():
            assert figures[key] == value, (account_id, key, figures[key], value)
            checked += 1
    assert checked >= 25
