"""No float on the money path: from parsing to the rendered letter, every figure is Decimal.

Decimal's FloatOperation trap turns any mixing of float and Decimal (construction from a
float, comparison with one) into an exception, so running the whole path under it fails as
soon as a float appears anywhere, in our code or in a library we call.
"""

from __future__ import annotations

import ast
import decimal
from collections.abc import Iterator
from pathlib import Path

import pytest

from dunning.letter import Dunning
from dunning.records import Record, read_records

from .helpers import ROOT, SAMPLE_FILES, SAMPLES_AS_OF

MONEY_MODULES = ["money.py", "words.py", "records.py", "policy.py"]


@pytest.fixture
def float_trap() -> Iterator[None]:
    context = decimal.getcontext()
    before = context.traps[decimal.FloatOperation]
    context.traps[decimal.FloatOperation] = True
    try:
        yield
    finally:
        context.traps[decimal.FloatOperation] = before


def test_the_trap_works(float_trap: None) -> None:
    with pytest.raises(decimal.FloatOperation):
        decimal.Decimal(0.1)  # noqa: RUF032 - the float is the point
    with pytest.raises(decimal.FloatOperation):
        _ = decimal.Decimal(1) < 0.5


def test_parse_plan_and_compose_without_float(float_trap: None, dunning: Dunning) -> None:
    rows = [r for r in read_records(SAMPLE_FILES, dunning.record_rules())
            if isinstance(r, Record)]
    letters = 0
    for record in rows:
        plan = dunning.plan(record, SAMPLES_AS_OF)
        if plan.stage:
            dunning.html(plan)  # formatting, amount in words, options: all under the trap
            letters += 1
    assert letters > 50


@pytest.mark.parametrize("module", MONEY_MODULES)
def test_no_float_in_the_money_modules(module: str) -> None:
    tree = ast.parse((ROOT / "src" / "dunning" / module).read_text("utf-8"))
    floats = [node.lineno for node in ast.walk(tree)
              if (isinstance(node, ast.Constant) and isinstance(node.value, float))
              or (isinstance(node, ast.Name) and node.id == "float"
                  and not _is_type_check(tree, node))]
    assert not floats, f"{module}: float at lines {floats}"


def _is_type_check(tree: ast.AST, name: ast.Name) -> bool:
    """``isinstance(x, float)`` (a guard that rejects floats) is allowed."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "isinstance" \
                and any(arg is name or (isinstance(arg, ast.Tuple) and name in arg.elts)
                        for arg in node.args[1:]):
            return True
    return False


def test_records_have_decimal_money(dunning: Dunning) -> None:
    for row in read_records([Path(SAMPLE_FILES[1])], dunning.record_rules()):
        assert isinstance(row, Record)
        for name in ("loan_amount", "overdue_principal", "overdue_interest", "fees",
                     "paid_since_due", "penalty_rate_daily"):
            assert type(getattr(row, name)) is decimal.Decimal, name
