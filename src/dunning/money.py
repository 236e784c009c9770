"""Decimal arithmetic for the letter: itemization, the rate cap, settlement, installments.

Takes a validated record and the as-of date; gives figures that are ``Decimal`` end to end,
rounded half-up to the currency's minor unit at each itemized line and never in between
(docs/domain.md §4). No float ever enters this module.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from functools import lru_cache
from operator import itemgetter
from typing import Literal, NamedTuple

from babel.numbers import get_currency_precision

from .policy import BrandPolicy, ExtensionSpec, InstallmentSpec
from .records import Record

ZERO = Decimal(0)

#: The precision the installment formula is computed in, as a context of its own (the same as
#: ``localcontext(prec=34)`` of the default context, without entering one for every plan).
_WIDE = Context(prec=34)
#: The precision interest accrues in before its one rounding (wide enough to be exact for any
#: amount a record can hold).
_EXACT = Context(prec=50)


@lru_cache(maxsize=64)
def quantum(currency: str) -> Decimal:
    """The currency's minor unit as a Decimal exponent.

    >>> quantum("CNY"), quantum("JPY")
    (Decimal('0.01'), Decimal('1'))
    """
    return Decimal(1).scaleb(-get_currency_precision(currency))


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round half-up to the currency's minor unit.

    >>> round_money(Decimal("2.345"), "CNY"), round_money(Decimal("2.5"), "JPY")
    (Decimal('2.35'), Decimal('3'))
    """
    if not isinstance(amount, Decimal):
        raise TypeError(f"money must be Decimal, not {type(amount).__name__}")
    return amount.quantize(quantum(currency), rounding=ROUND_HALF_UP)


@lru_cache(maxsize=4096)
def add_months(start: date, months: int) -> date:
    """Same day ``months`` later, clamped to the month's last day.

    >>> add_months(date(2026, 1, 31), 1)
    datetime.date(2026, 2, 28)
    """
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


# --------------------------------------------------------------------------- itemization


@dataclass(frozen=True, slots=True)
class RateBasis:
    """How an interest line was computed: ``base × daily_rate × days``.

    When the cap applies, ``daily_rate`` is ``cap_annual / 365`` (not a finite decimal, shown
    rounded) and :meth:`accrued` computes ``base × cap_annual × days / 365`` with the division
    last, so that an amount of exactly half a cent still rounds up.
    """

    base: Decimal
    daily_rate: Decimal
    days: int
    requested_daily_rate: Decimal
    capped: bool
    cap_annual: Decimal | None = None

    @property
    def annual_rate(self) -> Decimal:
        return self.cap_annual if self.cap_annual is not None else self.daily_rate * 365

    def accrued(self, base: Decimal, days: int, currency: str) -> Decimal:
        """``base`` accruing at this rate for ``days``, rounded once, half-up."""
        exact = _EXACT
        if self.cap_annual is not None:
            value = exact.divide(exact.multiply(exact.multiply(base, self.cap_annual), days), 365)
        else:
            value = exact.multiply(exact.multiply(base, self.daily_rate), days)
        return value.quantize(quantum(currency), rounding=ROUND_HALF_UP, context=exact)


@dataclass(frozen=True, slots=True)
class Itemization:
    """Every figure of the itemization table; ``total`` is the sum of the lines."""

    currency: str
    as_of: date
    dpd: int
    principal: Decimal
    interest: Decimal
    penalty: Decimal
    penalty_basis: RateBasis
    compound: Decimal
    compound_basis: RateBasis | None
    fees: Decimal
    paid: Decimal
    total: Decimal

    @property
    def capped(self) -> bool:
        return self.penalty_basis.capped

    @property
    def overdue_amount(self) -> Decimal:
        """What was missed on the due date: principal + contractual interest."""
        return self.principal + self.interest

    @property
    def lines(self) -> list[tuple[str, Decimal]]:
        """(key, signed amount) per line, in table order; they sum to ``total``."""
        lines = [("principal", self.principal), ("interest", self.interest),
                 ("penalty", self.penalty)]
        if self.compound_basis is not None:
            lines.append(("compound", self.compound))
        lines += [("fees", self.fees), ("paid", -self.paid)]
        return lines


def applied_daily_rate(requested: Decimal, max_annual_rate: Decimal) -> tuple[Decimal, bool]:
    """The daily penalty rate actually applied, and whether the cap cut it.

    >>> applied_daily_rate(Decimal("0.0005"), Decimal("0.24"))
    (Decimal('0.0005'), False)
    >>> rate, capped = applied_daily_rate(Decimal("0.001"), Decimal("0.24")); capped
    True
    """
    if requested * 365 > max_annual_rate:
        with localcontext() as ctx:
            ctx.prec = 28
            return max_annual_rate / 365, True
    return requested, False


def itemize(record: Record, as_of: date, policy: BrandPolicy) -> Itemization:
    """The itemization of ``record`` as of ``as_of`` under ``policy``'s rate cap."""
    cur = record.currency
    dpd = max((as_of - record.due_date).days, 0)
    rate, capped = applied_daily_rate(record.penalty_rate_daily, policy.max_annual_rate)
    cap = policy.max_annual_rate if capped else None
    penalty_basis = RateBasis(record.overdue_principal, rate, dpd, record.penalty_rate_daily,
                              capped, cap)
    penalty = penalty_basis.accrued(record.overdue_principal, dpd, cur)
    cent = quantum(cur)
    compound_basis = None
    compound = ZERO.quantize(cent)
    if record.compound:
        compound_basis = RateBasis(record.overdue_interest, rate, dpd, record.penalty_rate_daily,
                                   capped, cap)
        compound = compound_basis.accrued(record.overdue_interest, dpd, cur)
    # round_money, without its checks: a Record's amounts are Decimal
    principal = record.overdue_principal.quantize(cent, rounding=ROUND_HALF_UP)
    interest = record.overdue_interest.quantize(cent, rounding=ROUND_HALF_UP)
    fees = record.fees.quantize(cent, rounding=ROUND_HALF_UP)
    paid = record.paid_since_due.quantize(cent, rounding=ROUND_HALF_UP)
    total = principal + interest + penalty + compound + fees - paid
    return Itemization(
        currency=cur, as_of=as_of, dpd=dpd, principal=principal, interest=interest,
        penalty=penalty, penalty_basis=penalty_basis, compound=compound,
        compound_basis=compound_basis, fees=fees, paid=paid, total=total,
    )


# --------------------------------------------------------------------------- options


@dataclass(frozen=True, slots=True)
class Settlement:
    """Pay ``amount`` by ``deadline`` and the penalty (and compound) interest is waived."""

    amount: Decimal
    waived: Decimal
    deadline: date


def settlement_offer(items: Itemization, days: int) -> Settlement | None:
    """The settlement offer, or None when nothing would be waived or nothing is left."""
    waived = items.penalty + items.compound
    amount = items.total - waived
    if waived <= 0 or amount <= 0:
        return None
    return Settlement(amount=amount, waived=waived,
                      deadline=date.fromordinal(items.as_of.toordinal() + days))


class Installment(NamedTuple):
    """One period of a plan (a named tuple: a plan of 12 periods is made for every row a
    dry run plans, and a tuple is made in a fraction of a frozen dataclass's time)."""

    number: int
    due: date
    principal: Decimal
    interest: Decimal
    payment: Decimal
    balance: Decimal


_PAYMENT = itemgetter(4)  # Installment.payment, read in C


@dataclass(frozen=True, slots=True)
class InstallmentPlan:
    months: int
    monthly_rate: Decimal
    method: Literal["equal_installment", "equal_principal"]
    principal: Decimal
    schedule: tuple[Installment, ...]

    @property
    def payment(self) -> Decimal:
        """The regular payment (the first period's; for equal installments all but the last
        are equal, and the last differs by at most the rounding)."""
        return self.schedule[0].payment

    @property
    def total(self) -> Decimal:
        return sum((p.payment for p in self.schedule), ZERO)

    @property
    def cost(self) -> Decimal:
        return self.total - self.principal

    @property
    def workable(self) -> bool:
        """False when rounding pays the balance off early and leaves periods with nothing to
        pay (tiny amounts over many months): such a plan is not offered."""
        return all(map(ZERO.__lt__, map(_PAYMENT, self.schedule)))


def level_payment(principal: Decimal, monthly_rate: Decimal, months: int, currency: str) -> Decimal:
    """Equal installment A = P·r·(1+r)^n / ((1+r)^n − 1), rounded; P/n when r = 0.

    >>> level_payment(Decimal("12000"), Decimal("0.015"), 12, "CNY")
    Decimal('1100.16')
    """
    wide = _WIDE
    if monthly_rate == 0:
        exact = wide.divide(principal, months)
    else:
        growth = wide.power(wide.add(1, monthly_rate), months)
        exact = wide.divide(wide.multiply(wide.multiply(principal, monthly_rate), growth),
                            wide.subtract(growth, 1))
    return exact.quantize(quantum(currency), rounding=ROUND_HALF_UP, context=wide)


@lru_cache(maxsize=1024)
def _due_dates(first_due: date, months: int, anchor: date | None) -> tuple[date, ...]:
    """The periods' due dates (see :func:`installment_plan`)."""
    if anchor:
        return tuple(add_months(anchor, k) for k in range(1, months + 1))
    return tuple(add_months(first_due, k) for k in range(months))


def installment_plan(
    principal: Decimal, spec: InstallmentSpec, first_due: date, currency: str,
    *, anchor: date | None = None,
) -> InstallmentPlan:
    """The full schedule; principal parts sum to ``principal`` exactly (the last period
    takes whatever balance is left). Period k falls due ``k - 1`` months after ``first_due``,
    or, with ``anchor``, ``k`` months after it (so a plan anchored on 31 January falls due on
    28 February, then 31 March, not 28 March).

    Each period's interest is the balance times the monthly rate, rounded half-up; its
    principal part is the level payment less that interest (equal installments) or the
    principal over the months, rounded (equal principal), never more than the balance."""
    n, r = spec.months, spec.monthly_rate
    cent = quantum(currency)
    balance = principal
    # the principal part of a period, before its interest is known: equal installments
    # take the level payment less the interest; equal principal a fixed part
    equal = spec.method == "equal_installment"
    level = (level_payment(principal, r, n, currency) if equal
             else round_money(principal / n, currency))
    rows: list[Installment] = []
    make = tuple.__new__
    for k, due in enumerate(_due_dates(first_due, n, anchor), 1):
        interest = (balance * r).quantize(cent, rounding=ROUND_HALF_UP)
        if k == n:
            part = balance
        else:
            part = level - interest if equal else level
            if part > balance:
                part = balance
        balance -= part
        rows.append(make(Installment, (k, due, part, interest, part + interest, balance)))
    return InstallmentPlan(n, r, spec.method, principal, tuple(rows))


@dataclass(frozen=True, slots=True)
class Extension:
    """Defer payment by ``days``; ``cost`` is the penalty accruing meanwhile."""

    days: int
    new_due: date
    daily_rate: Decimal
    cost: Decimal
    total: Decimal


def extension_offer(items: Itemization, spec: ExtensionSpec) -> Extension:
    if spec.daily_rate is not None:
        rate = spec.daily_rate
        cost = round_money(items.principal * rate * spec.max_days, items.currency)
    else:
        rate = items.penalty_basis.daily_rate
        cost = items.penalty_basis.accrued(items.principal, spec.max_days, items.currency)
    return Extension(
        days=spec.max_days,
        new_due=date.fromordinal(items.as_of.toordinal() + spec.max_days),
        daily_rate=rate, cost=cost, total=items.total + cost,
    )


@dataclass(frozen=True, slots=True)
class Options:
    """The repayment options a letter offers, per the policy for its brand and stage."""

    pay_in_full: Decimal | None
    pay_by: date
    settlement: Settlement | None
    installments: tuple[InstallmentPlan, ...]
    extension: Extension | None


def repayment_options(items: Itemization, policy: BrandPolicy, stage: str) -> Options:
    """The options ``policy`` offers at ``stage``. An installment plan is left out when its
    regular payment would be below the policy's ``min_installment_payment`` or when rounding
    would leave periods with nothing to pay."""
    offered = policy.options.get(stage, [])  # type: ignore[call-overload]
    pay_by = date.fromordinal(items.as_of.toordinal() + policy.pay_by_days)
    first_due = add_months(items.as_of, 1)
    plans: tuple[InstallmentPlan, ...] = ()
    if "installments" in offered:
        candidates = (
            installment_plan(items.total, spec, first_due, items.currency, anchor=items.as_of)
            for spec in policy.installments
        )
        plans = tuple(p for p in candidates
                      if p.workable and p.payment >= policy.min_installment_payment)
    return Options(
        pay_in_full=items.total if "pay_in_full" in offered else None,
        pay_by=pay_by,
        settlement=settlement_offer(items, policy.settlement_days)
        if "settlement" in offered else None,
        installments=plans,
        extension=extension_offer(items, policy.extension)
        if "extension" in offered and policy.extension else None,
    )
