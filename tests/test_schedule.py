"""Installment schedules in the letter (policy ``schedule: table | annex``): every row of every
schedule printed in the sample letters, read back from the PDF with poppler, against an
independent computation in exact fractions (docs/domain.md §4.6: equal installments
A = P·r·(1+r)^n / ((1+r)^n − 1), or equal principal P/n; interest on the balance; each figure
rounded half up to the cent; the last period takes the balance)."""

from __future__ import annotations

import calendar
import re
from datetime import date
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import yaml

from dunning.batch import RunSummary
from dunning.errors import PolicyError
from dunning.letter import Dunning
from dunning.policy import load_policy

from .helpers import ROOT, SAMPLES_AS_OF, cents, expected_figures, fmt, pdf_pages, pdf_text, squash
from .test_batch import CAPS, _rendered_rows, letter_locale

AMOUNT = r"-?[\d,]+\.\d{2}"
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
#: The annex heading and the intro of each locale, without whitespace.
ANNEX = {"zh_CN": "附件：分期还款计划表", "zh_TW": "附件：分期還款明細表",
         "zh_HK": "附件：分期還款時間表",
         "en_US": "Annex:repaymentschedulesoftheinstallmentplans",
         "en_GB": "Annex:repaymentschedulesoftheinstalmentplans"}


def _policy_file() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "config" / "policy.yaml").read_text("utf-8"))


def _brand_policy(brand: str) -> dict[str, Any]:
    """The brand's policy as the YAML file says (defaults, then the brand's overrides)."""
    data = _policy_file()
    merged = dict(data["defaults"])
    for key, value in ((data.get("brands") or {}).get(brand) or {}).items():
        merged[key] = ({**merged[key], **value} if isinstance(value, dict)
                       and isinstance(merged.get(key), dict) else value)
    return merged


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _day(day: date, locale: str) -> str:
    if locale.startswith("zh"):
        return f"{day.year}年{day.month}月{day.day}日"
    if locale == "en_US":
        return f"{MONTHS[day.month - 1]} {day.day}, {day.year}"
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def expected_schedule(total: int, plan: dict[str, Any]) -> list[tuple[int, int, int, int]]:
    """(principal, interest, payment, balance) in cents per period, independently."""
    n, r = int(plan["months"]), Fraction(plan["monthly_rate"])
    principal = Fraction(total, 100)
    if plan.get("method", "equal_installment") == "equal_installment":
        level = (cents(principal / n) if r == 0
                 else cents(principal * r * (1 + r) ** n / ((1 + r) ** n - 1)))
    even = cents(principal / n)
    balance, rows = total, []
    for k in range(1, n + 1):
        interest = cents(Fraction(balance, 100) * r)
        if k == n:
            part = balance
        elif plan.get("method", "equal_installment") == "equal_installment":
            part = min(level - interest, balance)
        else:
            part = min(even, balance)
        balance -= part
        rows.append((part, interest, part + interest, balance))
    return rows


def _printed_schedules(text: str, locale: str) -> list[list[tuple[str, list[int]]]]:
    """Schedule rows as printed: groups of (date text, [principal, interest, payment,
    balance] in cents), a new group wherever the numbering starts again at 1."""
    date_re = (r"\d{4}年\d{1,2}月\d{1,2}日" if locale.startswith("zh")
               else r"[A-Z][a-z]+ \d{1,2}, \d{4}" if locale == "en_US"
               else r"\d{1,2} [A-Z][a-z]+ \d{4}")
    row_re = re.compile(rf"^\s*(\d{{1,2}})\s+({date_re})\s+({AMOUNT})\s+({AMOUNT})\s+"
                        rf"({AMOUNT})\s+({AMOUNT})\s*$")
    groups: list[list[tuple[str, list[int]]]] = []
    for line in text.splitlines():
        match = row_re.match(line)
        if not match:
            continue
        number = int(match.group(1))
        if number == 1:
            groups.append([])
        assert groups, line
        assert number == len(groups[-1]) + 1, line
        groups[-1].append((match.group(2), [int(match.group(i).replace(",", "").replace(".", ""))
                                            for i in range(3, 7)]))
    return groups


def _offered_plans(policy: dict[str, Any], total: int, stage: str) -> list[dict[str, Any]]:
    """The plans a letter offers: those of its stage whose regular payment reaches the
    policy's minimum and that leave no period with nothing to pay."""
    if "installments" not in policy["options"][stage]:
        return []
    minimum = cents(Fraction(str(policy.get("min_installment_payment", "0"))))
    plans = []
    for plan in policy["installments"]:
        rows = expected_schedule(total, plan)
        if rows[0][2] >= minimum and all(row[2] > 0 for row in rows):
            plans.append(plan)
    return plans


def test_schedules_in_the_letters_match_an_independent_computation(
    sample_run: tuple[RunSummary, Path], dunning: Dunning
) -> None:
    checked: dict[str, int] = {"table": 0, "annex": 0, "none": 0}
    for row, pdf, stage in _rendered_rows(sample_run):
        who, locale = row["account_id"], letter_locale(row, dunning)
        policy = _brand_policy(row["brand"])
        mode = policy.get("schedule", "none")
        total = expected_figures(row, SAMPLES_AS_OF, CAPS[row["brand"]])["total"]
        plans = _offered_plans(policy, total, stage)
        text = pdf_text(pdf)
        printed = _printed_schedules(text, locale)
        if mode == "none" or not plans:
            assert printed == [], who
            assert ANNEX[locale] not in squash(text), who
            checked["none"] += 1
            continue
        assert len(printed) == len(plans), (who, len(printed), len(plans))
        for plan, rows in zip(plans, printed, strict=True):
            expected = expected_schedule(total, plan)
            assert [figures for _, figures in rows] == [list(e) for e in expected], (who, plan)
            assert [day for day, _ in rows] == [
                _day(_add_months(SAMPLES_AS_OF, k), locale) for k in range(1, len(rows) + 1)
            ], who
            # the principal parts repay exactly the total due; the last balance is zero
            assert sum(e[0] for e in expected) == total, who
            assert expected[-1][3] == 0, who
            footer = (f"{fmt(total)}{fmt(sum(e[1] for e in expected))}"
                      f"{fmt(sum(e[2] for e in expected))}")
            assert footer in squash(text), (who, footer)
        pages = pdf_pages(pdf)
        if mode == "annex":
            # the annex starts a page of its own, after the signature, and is counted
            last_pages = subprocess_pages(pdf, pages)
            assert ANNEX[locale] in squash(last_pages), who
            assert row["contract_no"] in squash(last_pages), who
        else:
            assert ANNEX[locale] not in squash(text), who
        checked[mode] += 1
    assert checked["table"] >= 3, checked
    assert checked["annex"] >= 3, checked
    assert checked["none"] >= 10, checked


def subprocess_pages(pdf: Path, pages: int) -> str:
    """Text of the pages from the annex heading's page to the end (the annex starts on a new
    page: the page before it ends with the signature)."""
    import subprocess

    texts = [subprocess.run(["pdftotext", "-layout", "-f", str(p), "-l", str(p), str(pdf), "-"],
                            capture_output=True, text=True, check=True).stdout
             for p in range(1, pages + 1)]
    start = next(i for i, t in enumerate(texts) if any(h in squash(t) for h in ANNEX.values()))
    assert start > 0
    assert not any(h in squash(texts[start - 1]) for h in ANNEX.values())
    return "".join(texts[start:])


def test_schedule_setting_is_validated(tmp_path: Path) -> None:
    data = _policy_file()
    data["brands"]["jinqiao"]["schedule"] = "appendix"
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    with pytest.raises(PolicyError) as caught:
        load_policy(path, ["mingtai", "jinqiao", "lungmun", "risheng"])
    message = str(caught.value)
    assert "schedule" in message
    assert "appendix" in message
    for accepted in ("'none'", "'table'", "'annex'"):
        assert accepted in message
