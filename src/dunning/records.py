"""Read CSV and YAML exports into validated :class:`Record` objects, one row at a time.

:func:`read_records` streams every input row as either a :class:`Record` or a
:class:`Rejection` (with every field problem found, the file and the line), so a run can
account for each row exactly once. Nothing here is trusted: sizes, characters, encodings,
numbers and identity numbers are all checked. Error messages never echo personal fields
(name, ID number, phone, address), only field names and account ids.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, TextIO

import yaml
from babel.numbers import is_currency

from .errors import FieldProblem, InputError, RecordError, reason
from .identity import ID_TYPES, IdNumberError, validate_id
from .settings import DEFAULT_CURRENCIES
from .yamlconf import RecordLoader, did_you_mean

#: The public contract (docs/domain.md §3): fields may be added, none renamed.
REQUIRED = (
    "account_id", "contract_no", "brand", "name", "id_number", "address", "loan_date",
    "loan_amount", "due_date", "overdue_principal", "overdue_interest", "penalty_rate_daily",
)
OPTIONAL = (
    "id_type", "phone", "postal_code", "locale", "currency", "fees", "compound",
    "paid_since_due", "disputed", "bankrupt", "deceased", "cease_contact", "last_notice_date",
    "product",
)
FIELDS = REQUIRED + OPTIONAL
FLAGS = ("disputed", "bankrupt", "deceased", "cease_contact")
PERSONAL = frozenset({"name", "id_number", "phone", "address"})

#: Longest accepted value per field (characters); anything else: DEFAULT_MAX_LENGTH.
MAX_LENGTH = {"name": 100, "address": 400, "account_id": 64, "contract_no": 64}
DEFAULT_MAX_LENGTH = 64
#: Largest input file read (bytes); larger files are refused before reading.
MAX_FILE_BYTES = 4 * 1024**3
#: Largest YAML input (bytes): YAML is parsed whole in pure Python (about 5 s per MiB), so
#: large exports must be CSV, which is streamed.
MAX_YAML_BYTES = 8 * 1024**2
#: Longest physical line of a CSV input (characters) and longest CSV value (the csv module's
#: field size limit, 131072 by default); longer ones reject their row.
MAX_CSV_LINE = 1024**2

#: Amounts, rates and dates are ASCII digits only (``\d`` would take full-width and
#: Arabic-Indic digits too, and Decimal reads them: ``０.９`` would be 0.9).
_DECIMAL = re.compile(r"[0-9]{1,15}(?:\.([0-9]+))?")
_RATE = re.compile(r"0(?:\.[0-9]{1,10})?|1(?:\.0{1,10})?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_FIELD_NAMES = frozenset(FIELDS)
_ACCOUNT_ID = re.compile(r"[\w.\-]+", flags=re.ASCII)
_PRODUCT = re.compile(r"[\w.\-]+")
_PHONE = re.compile(r"\+?[\d\- ]{5,20}")
_POSTAL_CODE = re.compile(r"[A-Za-z0-9 \-]{2,12}")
_TRUE = {"true", "yes", "1", "y"}
_FALSE = {"false", "no", "0", "n", ""}
#: A flag's text, lowercased, as the boolean it is.
_BOOLEANS = dict.fromkeys(_TRUE, True) | dict.fromkeys(_FALSE, False)
_ZERO = Decimal(0)
_BIDI_AND_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
#: Letters that render as nothing (Hangul fillers), refused like format characters.
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0")
_BLANK = re.compile("[\u115f\u1160\u3164\uffa0]")


def _hidden(value: str) -> str | None:
    """The first character of ``value`` that changes text direction or is invisible: Unicode
    format characters (Cf: bidi controls and marks, zero-width characters, BOM, soft hyphen,
    tags), line and paragraph separators, blank letters."""
    match = _BIDI_AND_INVISIBLE.search(value)
    if match:
        return match.group()
    for ch in value:
        if ch in _BLANK_LETTERS or unicodedata.category(ch) in ("Cf", "Zl", "Zp"):
            return ch
    return None


@dataclass(frozen=True, slots=True, repr=False)
class Record:
    """One validated overdue account. Money is Decimal; dates are dates. Its repr shows the
    account id and source only, so that no log or traceback prints personal data."""

    account_id: str
    contract_no: str
    brand: str
    name: str
    id_number: str
    id_type: str
    phone: str
    address: tuple[str, ...]
    postal_code: str
    locale: str | None
    currency: str
    loan_date: date
    loan_amount: Decimal
    due_date: date
    overdue_principal: Decimal
    overdue_interest: Decimal
    fees: Decimal
    penalty_rate_daily: Decimal
    compound: bool
    paid_since_due: Decimal
    disputed: bool
    bankrupt: bool
    deceased: bool
    cease_contact: bool
    last_notice_date: date | None
    source: str
    line: int
    product: str = ""

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"

    def __repr__(self) -> str:
        return f"Record(account_id={self.account_id!r}, source={self.where!r})"

    @property
    def flags(self) -> dict[str, bool]:
        return {name: getattr(self, name) for name in FLAGS}


@dataclass(frozen=True, slots=True)
class Rejection:
    """A row that could not become a Record, with every problem found."""

    error: RecordError
    #: False when the id is only a guess (read from a malformed region of a file): the row
    #: is reported under it but does not hold it (:class:`UniqueIds`).
    holds_id: bool = True

    @property
    def account_id(self) -> str | None:
        return self.error.account_id

    @property
    def where(self) -> str:
        return f"{self.error.source}:{self.error.line}"


Row = Record | Rejection


# --------------------------------------------------------------------------- field parsing


class _Problems:
    def __init__(self) -> None:
        self.items: list[FieldProblem] = []

    def add(self, field_name: str | None, problem: str, accepted: str = "") -> None:
        self.items.append(FieldProblem(field_name, problem, accepted))


def _text(raw: Any, name: str, problems: _Problems, *, multiline: bool = False) -> str:
    if raw is None:
        return ""
    if isinstance(raw, bool) or not isinstance(raw, (str, int, Decimal, date)):
        problems.add(name, f"is a {type(raw).__name__}", "text")
        return ""
    value = str(raw)
    limit = MAX_LENGTH.get(name, DEFAULT_MAX_LENGTH)
    # The common case in one pass in C: printable text (no control, format, surrogate or
    # separator character; \n between lines of a multiline field) and no blank letter.
    # Anything else, including other spaces than U+0020, takes the checks below.
    if ((value.isprintable() or (multiline and value.replace("\n", "").isprintable()))
            and not _BLANK.search(value)):
        value = value.strip()
        if len(value) > limit:
            problems.add(name, f"is {len(value)} characters long", f"at most {limit}")
            return ""
        return value
    if any("\udc80" <= c <= "\udcff" for c in value):
        problems.add(name, "is not valid UTF-8", "UTF-8 text")
        return ""
    surrogate = next((c for c in value if "\ud800" <= c <= "\udfff"), None)
    if surrogate is not None:  # an escape like "\ud800" in JSON or YAML: not a character
        problems.add(name, f"contains a lone surrogate U+{ord(surrogate):04X}, which is not "
                     "a character", "text of Unicode characters")
        return ""
    value = value.replace("\r\n", "\n").strip()
    if len(value) > limit:
        problems.add(name, f"is {len(value)} characters long", f"at most {limit}")
        return ""
    for ch in value:
        if (ch < " " and not (multiline and ch == "\n")) or "\x7f" <= ch <= "\x9f":
            problems.add(name, f"contains control character U+{ord(ch):04X}", "printable text")
            return ""
    hidden = _hidden(value)
    if hidden is not None:
        problems.add(
            name, f"contains invisible or direction-changing character U+{ord(hidden):04X}",
            "visible text",
        )
        return ""
    return value


def typed_id(account_id: str) -> str:
    """An account id someone typed, as a message shows it: quoted, and cut at the longest
    id there can be (an id of thousands of characters is not echoed whole).

    >>> typed_id("MT-" + "0" * 100)
    "'MT-0000000000000000000000000000000000000000000000000000000000000'… (103 characters)"
    """
    limit = MAX_LENGTH["account_id"]
    if len(account_id) <= limit:
        return repr(account_id)
    return f"{account_id[:limit]!r}… ({len(account_id)} characters)"


def _shown(name: str, value: str) -> str:
    """How a bad value may appear in a message: never for personal fields."""
    if name in PERSONAL:
        return ""
    return f" {value[:40]!r}"


class _Plain(dict[str, str]):
    """A row's values, all checked text (:func:`_plain_texts`); an absent field is empty."""

    __slots__ = ()

    def __missing__(self, name: str) -> str:
        return ""


class _Fields:
    """A raw row's values as checked text, field by field (:func:`_text`), and as dates,
    amounts, rates and flags.

    A row whose values are all printable text (every CSV row but a bad one) is checked in
    one pass over the whole row; any other row field by field, which finds and names the
    first bad character of each field."""

    __slots__ = ("_data", "plain", "problems")

    def __init__(self, data: Mapping[str, Any], problems: _Problems) -> None:
        self._data = data
        self.problems = problems
        #: The whole row as checked text, when it is all printable (else None).
        self.plain = _plain_texts(data)

    def text(self, name: str, *, multiline: bool = False) -> str:
        if self.plain is not None:
            return self.plain[name]
        return _text(self._data.get(name), name, self.problems, multiline=multiline)

    def date(self, name: str) -> date | None:
        if self.plain is None:  # a YAML value may be a date already
            raw = self._data.get(name)
            if isinstance(raw, date):
                return raw
        value = self.text(name)
        if not value:
            return None
        day = _iso_date(value)
        if day is not None:
            return day
        if not _DATE.fullmatch(value):
            self.problems.add(name, f"{value[:40]!r} is not an ISO date",
                              "YYYY-MM-DD, e.g. 2026-11-20")
        else:
            self.problems.add(name, f"{value!r} is not a real calendar date", "YYYY-MM-DD")
        return None

    def money(self, name: str, digits: int) -> Decimal | None:
        value = self.text(name)
        if not value:
            return None
        match = _DECIMAL.fullmatch(value)
        if match is not None and (match.group(1) is None or len(match.group(1)) <= digits):
            return Decimal(value)  # the common case
        accepted = (
            f"a plain decimal like 12000.{'0' * digits}" if digits
            else "a whole number like 12000"
        ) + (f" with at most {digits} decimals" if digits else "")
        if value.startswith("-"):
            self.problems.add(name, f"{value[:40]!r} is negative", "an amount of 0 or more")
            return None
        if not match:
            hint = ""
            if any(c.isdigit() and not c.isascii() for c in value):
                hint = " (only the ASCII digits 0-9 are accepted)"
            elif "," in value:
                hint = " (thousands separators are not accepted)"
            elif re.search(r"\s", value):
                hint = " (spaces are not accepted)"
            elif re.search(r"[^\d.,\s]", value):
                hint = " (currency signs, letters and spaces are not accepted)"
            self.problems.add(name, f"{value[:40]!r} is not a plain decimal amount{hint}",
                              accepted)
            return None
        self.problems.add(name, f"{value!r} has more decimals than the currency has", accepted)
        return None

    def rate(self, name: str) -> Decimal | None:
        value = self.text(name)
        if not value:
            return None
        if not _RATE.fullmatch(value):
            ascii_only = (" (only the ASCII digits 0-9 are accepted)"
                          if any(c.isdigit() and not c.isascii() for c in value) else "")
            self.problems.add(
                name, f"{value[:40]!r} is not a daily rate{ascii_only}",
                "a decimal fraction from 0 to 1 with at most 10 decimals, e.g. 0.0005",
            )
            return None
        return Decimal(value)

    def flag(self, name: str) -> bool:
        if self.plain is None:  # a YAML value may be a boolean already
            raw = self._data.get(name)
            if isinstance(raw, bool):
                return raw
        value = self.text(name).lower()
        known = _BOOLEANS.get(value)
        if known is None:
            self.problems.add(name, f"{value[:40]!r} is not a boolean",
                              "true or false (or empty)")
            return False
        return known


@lru_cache(maxsize=4096)
def _iso_date(value: str) -> date | None:
    """``value`` as a date when it is one in ISO form (``YYYY-MM-DD``), else None. Cached:
    the dates of an export repeat (due dates fall on a few days of each month)."""
    if not _DATE.fullmatch(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _plain_texts(data: Mapping[str, Any]) -> _Plain | None:
    """Every value of ``data`` stripped, when all are text that :func:`_text` would take
    as it is: printable (line breaks only in the address), no blank letter, none too long.
    None otherwise: the row is then checked field by field."""
    try:
        whole = "".join(data.values())
    except TypeError:  # a value that is not text (YAML numbers, dates, booleans)
        return None
    if not (whole.isprintable() or (
            whole.count("\n") == str(data.get("address", "")).count("\n")
            and whole.replace("\n", "").isprintable())) or _BLANK.search(whole):
        return None
    plain = _Plain(zip(data.keys(), map(str.strip, data.values()), strict=True))
    if len(whole) > DEFAULT_MAX_LENGTH and max(map(len, plain.values())) > DEFAULT_MAX_LENGTH:
        for name, value in plain.items():
            if len(value) > MAX_LENGTH.get(name, DEFAULT_MAX_LENGTH):
                return None
    return plain


@dataclass
class RecordRules:
    """What a record is checked against beyond its own fields."""

    brands: Mapping[str, Any]
    supported_locales: Iterable[str]
    brand_locale: Callable[[str], str] = field(default=lambda _b: "")
    #: The currencies letters are made in, with their minor units (decimals).
    currencies: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_CURRENCIES))

    def __post_init__(self) -> None:
        self.supported_locales = tuple(self.supported_locales)


def validate_row(
    data: Mapping[str, Any], *, source: str, line: int, rules: RecordRules
) -> Record:
    """Turn one raw row (strings, or YAML scalars) into a Record, or raise RecordError
    listing every problem in the row."""
    problems = _Problems()
    fields = _Fields(data, problems)
    plain = fields.plain
    text = fields.text if plain is None else plain.__getitem__
    if not _FIELD_NAMES.issuperset(data):
        for key in data:
            if key not in _FIELD_NAMES:
                problems.add(
                    str(key), f"unknown field{did_you_mean(str(key), FIELDS)}",
                    "one of the fields in the record format (docs/domain.md §3)",
                )
    raw_id = data.get("account_id")
    account_id = text("account_id") if raw_id is not None else ""
    if account_id and not _ACCOUNT_ID.fullmatch(account_id):
        problems.add(
            "account_id", f"{account_id[:40]!r} has characters outside letters, digits, . _ -",
            "an id of ASCII letters, digits, '.', '_' and '-'",
        )
        account_id = ""
    if plain is None or not all(map(plain.__getitem__, REQUIRED)):
        for name in REQUIRED:
            value = data.get(name)
            if value is None or (isinstance(value, str) and not value.strip()):
                problems.add(name, "is required but missing or empty")

    currency = text("currency").upper() or "CNY"
    if currency not in rules.currencies:
        known = len(currency) == 3 and currency.isalpha() and is_currency(currency)
        what = "not a currency letters are made in" if known else "not an ISO 4217 currency"
        problems.add("currency", f"{currency[:40]!r} is {what}",
                     f"one of {', '.join(sorted(rules.currencies))} (settings.yaml: currencies)")
        currency, digits = "CNY", 2
    else:
        digits = rules.currencies[currency]

    brand = text("brand")
    if brand and brand not in rules.brands:
        problems.add(
            "brand", f"unknown brand {brand[:40]!r}{did_you_mean(brand, rules.brands)}",
            "one of " + ", ".join(rules.brands),
        )
    locale = text("locale") or None
    if locale is not None and locale not in rules.supported_locales:
        problems.add(
            "locale", f"unsupported locale {locale[:40]!r}",
            "one of " + ", ".join(rules.supported_locales),
        )

    id_type = text("id_type") or "cn_resident"
    id_number = text("id_number")
    if id_type not in ID_TYPES:
        problems.add("id_type", f"unknown id type {id_type[:40]!r}",
                     "one of " + ", ".join(ID_TYPES))
    elif id_number:
        try:
            id_number = validate_id(id_number, id_type)
        except IdNumberError as exc:
            problems.add("id_number", exc.problem, exc.accepted)

    address = plain["address"] if plain is not None else fields.text("address", multiline=True)
    lines = tuple(part.strip() for part in address.split("\n") if part.strip())
    phone = text("phone")
    if phone and not _PHONE.fullmatch(phone):
        problems.add("phone", "is not a phone number", "digits, spaces, '-' and a leading '+'")
    postal_code = text("postal_code")
    if postal_code and not _POSTAL_CODE.fullmatch(postal_code):
        problems.add(
            "postal_code", f"{postal_code[:40]!r} is not a postal code",
            "2-12 letters, digits, spaces or '-'",
        )

    loan_date = fields.date("loan_date")
    due_date = fields.date("due_date")
    last_notice = fields.date("last_notice_date")
    if loan_date and due_date and loan_date > due_date:
        problems.add("loan_date", "is after due_date", "a loan date on or before the due date")

    # each field read in the order its problems are reported
    money = fields.money
    loan_amount = money("loan_amount", digits)
    overdue_principal = money("overdue_principal", digits)
    overdue_interest = money("overdue_interest", digits)
    fees = money("fees", digits)
    paid_since_due = money("paid_since_due", digits)
    rate = fields.rate("penalty_rate_daily")
    flag = fields.flag
    disputed, bankrupt = flag("disputed"), flag("bankrupt")
    deceased, cease_contact = flag("deceased"), flag("cease_contact")
    compound = flag("compound")

    contract_no, name, product = text("contract_no"), text("name"), text("product")
    if product and not _PRODUCT.fullmatch(product):
        problems.add("product", "has characters outside letters, digits, . _ -",
                     "a product key like consumer_loan")
    if problems.items:
        # one message per field: the first problem found for it is the useful one
        first: dict[str | None, FieldProblem] = {}
        for problem in problems.items:
            first.setdefault(problem.field, problem)
        unique = list(first.values())
        raise RecordError(unique, source=source, line=line, account_id=account_id or None)
    assert loan_date
    assert due_date
    assert rate is not None
    zero = _ZERO
    return Record(
        account_id=account_id,
        contract_no=contract_no,
        brand=brand,
        name=name,
        id_number=id_number,
        id_type=id_type,
        phone=phone,
        address=lines,
        postal_code=postal_code,
        locale=locale,
        currency=currency,
        loan_date=loan_date,
        loan_amount=loan_amount or zero,
        due_date=due_date,
        overdue_principal=overdue_principal or zero,
        overdue_interest=overdue_interest or zero,
        fees=fees or zero,
        penalty_rate_daily=rate,
        compound=compound,
        paid_since_due=paid_since_due or zero,
        disputed=disputed,
        bankrupt=bankrupt,
        deceased=deceased,
        cease_contact=cease_contact,
        last_notice_date=last_notice,
        source=source,
        line=line,
        product=product,
    )


# --------------------------------------------------------------------------- files


class _LineTooLongError(Exception):
    """A CSV line longer than MAX_CSV_LINE (skipped whole)."""


class _CsvLines:
    """The physical lines of a CSV file for :mod:`csv`, counted, with the quote characters of
    the record being read. After a malformed record the rest of it can then be skipped (a
    record ends at the end of a line where its quotes are even), so that the lines of a bad
    multi-line record are not read as records of their own. A line longer than MAX_CSV_LINE
    is skipped whole and raises _LineTooLongError: memory stays bounded."""

    def __init__(self, handle: TextIO) -> None:
        self.handle = handle
        self.line = 0
        self.quotes = 0
        #: The lines read since :meth:`take` (the record being read), when taking.
        self.taken: list[str] = []
        self._back: list[str] = []

    def __iter__(self) -> _CsvLines:
        return self

    def take(self) -> None:
        """Keep the lines read from now on in ``taken``."""
        self.taken = []
        self.quotes = 0

    def push_back(self, text: str) -> None:
        """Give ``text`` (the line just read) back: the next read returns it again."""
        self._back.append(text)
        self.line -= 1
        self.quotes -= text.count('"')
        if self.taken and self.taken[-1] is text:
            self.taken.pop()

    def __next__(self) -> str:
        text = self._back.pop() if self._back else self.handle.readline(MAX_CSV_LINE)
        if not text:
            raise StopIteration
        self.line += 1
        self.quotes += text.count('"')
        self.taken.append(text)
        if len(text) == MAX_CSV_LINE and not text.endswith(("\n", "\r")):
            while text and not text.endswith(("\n", "\r")):
                text = self.handle.readline(MAX_CSV_LINE)
                self.quotes += text.count('"')
            raise _LineTooLongError
        return text

    def skip_rest_of_record(self) -> None:
        while self.quotes % 2:
            try:
                next(self)
            except StopIteration:
                return
            except _LineTooLongError:
                continue


#: How the csv module says a value is over its size limit (it has no error type for it).
_FIELD_LIMIT = "field larger than field limit"


def _csv_problem(exc: Exception) -> FieldProblem:
    if isinstance(exc, _LineTooLongError):
        return FieldProblem(None, f"a line is longer than {MAX_CSV_LINE} characters",
                            "values of the lengths the record format allows")
    if _FIELD_LIMIT in str(exc):
        return FieldProblem(None, f"a value is longer than {csv.field_size_limit()} characters",
                            "values of the lengths the record format allows")
    return FieldProblem(None, f"malformed CSV: {exc}", "RFC 4180 CSV")


def _raw_csv_rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | FieldProblem | BrokenRow]]:
    """(start line, row dict or whole-row problem) for each data row of a CSV file."""
    with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
        lines = _CsvLines(handle)
        reader = csv.reader(lines, strict=True)
        try:
            header = next(reader)
        except StopIteration:
            return
        except (csv.Error, _LineTooLongError) as exc:
            raise InputError(f"cannot read the header: {_csv_problem(exc)}", path=str(path),
                             line=1) from exc
        header = [h.strip() for h in header]
        _check_header(header, path)
        while True:
            start = lines.line + 1
            lines.take()
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                if _FIELD_LIMIT in str(exc):
                    lines.skip_rest_of_record()
                    yield start, _csv_problem(exc)
                else:
                    yield from _malformed(lines, start, header, exc)
                continue
            except _LineTooLongError as exc:
                lines.skip_rest_of_record()
                yield start, _csv_problem(exc)
                continue
            if not values or all(not v.strip() for v in values):
                continue  # blank line: not a row
            if len(values) != len(header):
                yield start, FieldProblem(
                    None, f"{len(values)} values but the header has {len(header)} columns",
                    "one value per header column",
                )
                continue
            yield start, dict(zip(header, values, strict=True))


@dataclass(frozen=True, slots=True)
class BrokenRow:
    """A row that is not a record, with the account id that could still be read from it."""

    problem: FieldProblem
    account_id: str | None = None


#: Lines read ahead after a malformed record to find where the next record starts.
MAX_MALFORMED_LINES = 1000
_ID_LIKE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def _leading_id(text: str, header: list[str]) -> tuple[str | None, int]:
    """The account id a physical line starts a record with, if it looks like one, and how
    many values the line holds read on its own."""
    try:
        values = next(csv.reader([text]), [])
    except csv.Error:
        return None, 0
    column = header.index("account_id")
    value = values[column].strip() if column < len(values) else ""
    return (value if len(values) > 1 and _ID_LIKE.fullmatch(value) else None), len(values)


def _malformed(lines: _CsvLines, start: int, header: list[str],
               exc: csv.Error) -> Iterator[tuple[int, BrokenRow]]:
    """A record that is not valid CSV (most often a quote that is never closed, which joins
    the lines after it into one value): read on to the line where a record plausibly starts
    again, and report the lines between as one problem, once for every account id that can
    be read from them (at its own line), so that no account disappears silently."""
    region = list(lines.taken)
    while len(region) < MAX_MALFORMED_LINES:
        try:
            text = next(lines)
        except StopIteration:
            break
        except _LineTooLongError:
            region.append("")
            continue
        account_id, count = _leading_id(text, header)
        if account_id and (count == len(header) or text.count('"') % 2):
            lines.push_back(text)
            break
        region.append(text)
    last = start + max(len(region), 1) - 1
    where = f"line {start}" if last == start else f"lines {start}–{last}"
    problem = FieldProblem(
        None, f"malformed CSV in {where}: {exc}; a quote (\") that is not closed joins the "
        "lines after it into one value", "RFC 4180 CSV: quotes in pairs, \"\" for a quote "
        "inside a quoted value")
    found = [(start + i, account_id) for i, text in enumerate(region)
             if (account_id := _leading_id(text, header)[0])]
    if not found:
        yield start, BrokenRow(problem)
    for line, account_id in found:
        yield line, BrokenRow(problem, account_id)


def _check_header(header: list[str], path: Path) -> None:
    for name in header:
        if name not in FIELDS:
            raise InputError(
                f"unknown column {name!r}{did_you_mean(name, FIELDS)} "
                "(columns must be fields of the record format, docs/domain.md §3)",
                path=str(path), line=1,
            )
    duplicates = {h for h in header if header.count(h) > 1}
    if duplicates:
        raise InputError(f"duplicate column {sorted(duplicates)[0]!r}", path=str(path), line=1)
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise InputError(f"missing required column(s): {', '.join(missing)}", path=str(path),
                         line=1)


def repeated_key(keys: Iterable[str]) -> FieldProblem | None:
    """The problem of a record that gives a field twice (YAML and JSON would silently keep
    the last), or None."""
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            return FieldProblem(key, "is given more than once in the record",
                                "each field at most once")
        seen.add(key)
    return None


#: What YAML does not allow in a file (PyYAML's reader refuses it mid-stream, after the
#: records before it were read): control characters other than tab and line breaks, DEL,
#: C1 controls, surrogates, U+FFFE and U+FFFF.
_YAML_NON_PRINTABLE = re.compile(
    "[^\x09\x0A\x0D\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD\U00010000-\U0010FFFF]")


def _yaml_text(path: Path) -> str:
    """The text of a YAML input, checked whole before any record is read: UTF-8, and no
    character that YAML refuses (InputError with the line)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise InputError("not valid UTF-8", path=str(path), line=line) from exc
    bad = _YAML_NON_PRINTABLE.search(text)
    if bad is not None:
        raise InputError(
            f"contains the character U+{ord(bad.group()):04X}, which YAML does not allow "
            "(control characters other than tab and line breaks); remove it from the export",
            path=str(path), line=text.count("\n", 0, bad.start()) + 1)
    return text


def _raw_yaml_rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | FieldProblem | BrokenRow]]:
    text = _yaml_text(path)
    loader = RecordLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return
        items = root
        if isinstance(root, yaml.MappingNode):
            keys = {k.value: v for k, v in root.value if isinstance(k, yaml.ScalarNode)}
            if set(keys) != {"records"}:
                raise InputError(
                    "a YAML input must be a list of records or a mapping with only 'records:'",
                    path=str(path), line=root.start_mark.line + 1,
                )
            items = keys["records"]
        if not isinstance(items, yaml.SequenceNode):
            raise InputError(
                "expected a list of records", path=str(path), line=items.start_mark.line + 1
            )
        for item in items.value:
            line = item.start_mark.line + 1
            if not isinstance(item, yaml.MappingNode):
                yield line, FieldProblem(None, "record is not a mapping of field: value",
                                         "a mapping like 'account_id: A-1'")
                continue
            twice = repeated_key(str(k.value) for k, _ in item.value)
            if twice is not None:
                ids = [v.value for k, v in item.value if k.value == "account_id"
                       and isinstance(v, yaml.ScalarNode) and _ID_LIKE.fullmatch(v.value)]
                yield line, BrokenRow(twice, ids[0] if len(ids) == 1 else None)
                continue
            try:
                value = loader.construct_object(item, deep=True)
            except yaml.constructor.ConstructorError as exc:  # e.g. a !!python/object tag
                yield line, FieldProblem(None, f"invalid YAML: {exc.problem}",
                                         "plain YAML values, without tags")
                continue
            if any(not isinstance(k, str) for k in value):
                yield line, FieldProblem(None, "record has a key that is not text", "field names")
                continue
            yield line, {k: v for k, v in value.items()}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise InputError(f"invalid YAML: {getattr(exc, 'problem', None) or exc}",
                         path=str(path), line=line) from exc
    finally:
        loader.dispose()


def raw_rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | FieldProblem | BrokenRow]]:
    """Stream (line, raw row) from a CSV or YAML file, by its extension."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputError(f"cannot read: {reason(exc)}", path=str(path)) from exc
    if not path.is_file():
        raise InputError("not a file", path=str(path))
    suffix = path.suffix.lower()
    if size > MAX_FILE_BYTES:
        raise InputError(f"{size} bytes is larger than the {MAX_FILE_BYTES} accepted",
                         path=str(path))
    if suffix in (".yaml", ".yml") and size > MAX_YAML_BYTES:
        raise InputError(f"{size} bytes is larger than the {MAX_YAML_BYTES} accepted for YAML "
                         "(YAML is read whole: export large runs as CSV)", path=str(path))
    if suffix not in (".csv", ".yaml", ".yml"):
        raise InputError(f"unknown input format {suffix!r}", path=str(path))
    _refuse_utf16(path)
    return _raw_csv_rows(path) if suffix == ".csv" else _raw_yaml_rows(path)


def _refuse_utf16(path: Path) -> None:
    """InputError for a UTF-16 or UTF-32 file (spreadsheet programs save "Unicode text" so),
    which would otherwise show as columns of garbled names."""
    try:
        with path.open("rb") as handle:
            head = handle.read(4)
    except OSError as exc:
        raise InputError(f"cannot read: {reason(exc)}", path=str(path)) from exc
    for bom, name in ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"),
                      (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16")):
        if head.startswith(bom):
            raise InputError(f"the file is {name}; save it as UTF-8 (with or without BOM)",
                             path=str(path), line=1)


def check_inputs(paths: Iterable[Path]) -> None:
    """Fail fast (InputError) on a file that cannot be read at all, before any rendering:
    unreadable, not UTF-8, a bad CSV header, a character YAML refuses."""
    for path in paths:
        rows = raw_rows(path)
        if path.suffix.lower() == ".csv":
            next(rows, None)  # reads and checks the header
        else:
            _yaml_text(path)


def read_records(paths: Iterable[Path], rules: RecordRules) -> Iterator[Row]:
    """Every row of every file, in order, as a Record or a Rejection.

    An account id seen before in the run rejects the later row (:class:`UniqueIds`). A file
    that cannot be read at all raises InputError (call :func:`check_inputs` first to fail
    before rendering).
    """
    ids = UniqueIds()
    for path in paths:
        source = str(path)
        for line, raw in raw_rows(path):
            yield ids.check(row_of(raw, source=source, line=line, rules=rules))


def row_of(raw: dict[str, Any] | FieldProblem | BrokenRow, *, source: str, line: int,
           rules: RecordRules) -> Row:
    """One raw row (:func:`raw_rows`) as a Record or a Rejection, on its own: the run-wide
    rule that ids are unique is :class:`UniqueIds`'."""
    if isinstance(raw, FieldProblem):
        return Rejection(RecordError([raw], source=source, line=line))
    if isinstance(raw, BrokenRow):
        # an id read from a malformed region is a guess: it does not take the id
        return Rejection(RecordError([raw.problem], source=source, line=line,
                                     account_id=raw.account_id), holds_id=False)
    try:
        return validate_row(raw, source=source, line=line, rules=rules)
    except RecordError as exc:
        return Rejection(exc)


class UniqueIds:
    """The run's account ids: the first row with an id holds it (a valid record, or a
    rejected row whose id could be read), and a later record with the same id is rejected,
    naming where the id was first used."""

    def __init__(self) -> None:
        self._seen: dict[str, str] = {}

    def check(self, row: Row) -> Row:
        """``row``, or the Rejection of a record whose id was used before."""
        if isinstance(row, Rejection):
            if row.holds_id and row.account_id:
                self._seen.setdefault(row.account_id, row.where)
            return row
        earlier = self.claim(row.account_id, row.where)
        return (row if earlier is None
                else used_before(row.account_id, row.source, row.line, earlier))

    def claim(self, account_id: str, where: str) -> str | None:
        """Take ``account_id`` for the record at ``where``: None, or where it was first
        used (and it stays there)."""
        earlier = self._seen.get(account_id)
        if earlier is None:
            self._seen[account_id] = where
        return earlier


def used_before(account_id: str, source: str, line: int, earlier: str) -> Rejection:
    """The Rejection of the record at ``source:line`` whose id was first used at
    ``earlier``."""
    return Rejection(RecordError(
        [FieldProblem("account_id", f"{account_id!r} already used at {earlier}",
                      "an id unique in the run")],
        source=source, line=line, account_id=account_id,
    ))


def count_rows(paths: Iterable[Path]) -> int | None:
    """How many rows :func:`read_records` will give, counted cheaply before a run (for the
    progress display), or None when that is not cheap: a YAML input (it would have to be
    parsed twice), a malformed CSV or an unreadable file. Blank CSV lines do not count."""
    total = 0
    for path in paths:
        if path.suffix.lower() != ".csv":
            return None
        try:
            with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
                reader = csv.reader(_CsvLines(handle), strict=True)  # lines bounded in length
                next(reader, None)
                total += sum(1 for values in reader if any(v.strip() for v in values))
        except (OSError, csv.Error, _LineTooLongError):
            return None
    return total
