"""Tests for dunning.records: reading CSV/YAML inputs into Records or Rejections.

The sample files are parsed a second time here with the csv and yaml modules directly, so
the expected counts, line numbers and values do not come from the code under test.
"""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from dunning.errors import InputError, RecordError
from dunning.letter import Dunning
from dunning.records import (
    FIELDS,
    REQUIRED,
    Record,
    RecordRules,
    Rejection,
    Row,
    check_inputs,
    read_records,
)

from .helpers import BAD_FILES, SAMPLE_FILES, SAMPLES

BAD_CSV, BAD_YAML = BAD_FILES
GOOD_CSV, GOOD_YAML = SAMPLE_FILES
EXPECTED = yaml.safe_load((SAMPLES / "bad" / "expected.yaml").read_text(encoding="utf-8"))["errors"]
MONEY = ("loan_amount", "overdue_principal", "overdue_interest", "fees", "paid_since_due")
PERSONAL = ("name", "id_number", "phone")
PUBLIC_CN = "11010519491231002X"

#: One valid row: every required field, optional fields left to their defaults.
GOOD: dict[str, str] = {
    "account_id": "T-0001",
    "contract_no": "MT-LN-2026-T0001",
    "brand": "mingtai",
    "name": "王小明",
    "id_number": PUBLIC_CN,
    "address": "北京市西城区\n复兴门内大街 1 号",
    "loan_date": "2025-01-10",
    "loan_amount": "12000.00",
    "due_date": "2026-10-01",
    "overdue_principal": "5000.00",
    "overdue_interest": "120.50",
    "penalty_rate_daily": "0.0005",
}


# --- helpers -------------------------------------------------------------------------------


def write_csv(
    path: Path, rows: list[dict[str, str]], *, header: list[str] | None = None,
    bom: bool = False, newline: str = "\n",
) -> Path:
    """A CSV file with ``header`` (default: every field) and one line per row."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=header or list(FIELDS), lineterminator=newline)
    writer.writeheader()
    writer.writerows(rows)
    data = buf.getvalue().encode("utf-8")
    path.write_bytes(b"\xef\xbb\xbf" + data if bom else data)
    return path


def write_yaml(path: Path, text: str, *, bom: bool = False) -> Path:
    data = text.encode("utf-8")
    path.write_bytes(b"\xef\xbb\xbf" + data if bom else data)
    return path


def yaml_item(row: dict[str, str]) -> str:
    """One YAML list item with every value double-quoted (as the exporter writes them)."""
    return "".join(
        f"{'- ' if i == 0 else '  '}{key}: {json.dumps(value, ensure_ascii=False)}\n"
        for i, (key, value) in enumerate(row.items())
    )


def read(paths: Path | list[Path], rules: RecordRules) -> list[Row]:
    return list(read_records(paths if isinstance(paths, list) else [paths], rules))


def only_error(rows: list[Row]) -> RecordError:
    """The RecordError of the single row read."""
    assert len(rows) == 1, [r.where for r in rows]
    (row,) = rows
    # never show the Record itself: its repr holds the name and the full ID number
    assert isinstance(row, Rejection), f"expected a rejection, got a Record at {row.where}"
    return row.error


def fields_of(error: RecordError) -> list[str | None]:
    return [p.field for p in error.problems]


def one_csv_row(tmp_path: Path, rules: RecordRules, **changes: str) -> list[Row]:
    return read(write_csv(tmp_path / "in.csv", [{**GOOD, **changes}]), rules)


def raw_sample_rows(path: Path) -> list[Any]:
    """The rows of a sample file as the csv / yaml modules see them (independent parse)."""
    if path.suffix == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return list(csv.reader(handle))[1:]
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data["records"] if isinstance(data, dict) else data


def personal_values(path: Path) -> set[str]:
    """Every non-empty name, id_number and phone value in a sample file."""
    if path.suffix == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as handle:
            rows: list[Any] = list(csv.DictReader(handle))
    else:
        rows = [r for r in raw_sample_rows(path) if isinstance(r, dict)]
    return {str(r[k]) for r in rows for k in PERSONAL if r.get(k)}


@pytest.fixture(scope="module")
def rules(dunning: Dunning) -> RecordRules:
    return dunning.record_rules()


# --- the bad samples against expected.yaml ---------------------------------------------------


@pytest.fixture(scope="module")
def bad_rows(rules: RecordRules) -> list[Row]:
    return read(list(BAD_FILES), rules)


@pytest.mark.parametrize(
    "expected", EXPECTED, ids=[f"{e['file']}:{e['line']}" for e in EXPECTED]
)
def test_bad_sample_row_is_rejected_as_expected(
    bad_rows: list[Row], expected: dict[str, Any]
) -> None:
    source = str(SAMPLES / "bad" / expected["file"])
    hits = [
        r for r in bad_rows
        if isinstance(r, Rejection) and r.error.source == source
        and r.error.line == expected["line"]
    ]
    assert len(hits) == 1, f"{len(hits)} rejections at {source}:{expected['line']}"
    error = hits[0].error
    # each defective sample row has exactly one defect: exactly one problem, for that field
    assert fields_of(error) == [expected["field"]], str(error)
    if expected["field"] is not None:
        assert hits[0].account_id == expected["account_id"]


def test_bad_samples_have_no_unexpected_rejections(bad_rows: list[Row]) -> None:
    got = {(r.error.source, r.error.line) for r in bad_rows if isinstance(r, Rejection)}
    want = {(str(SAMPLES / "bad" / e["file"]), e["line"]) for e in EXPECTED}
    assert got == want


def test_bad_samples_valid_first_rows_are_records(bad_rows: list[Row]) -> None:
    records = [(r.account_id, r.source, r.line) for r in bad_rows if isinstance(r, Record)]
    assert records == [("BAD-CSV-00", str(BAD_CSV), 2), ("BAD-YAML-00", str(BAD_YAML), 4)]


@pytest.mark.parametrize("path", BAD_FILES, ids=lambda p: p.name)
def test_bad_samples_every_row_has_one_outcome(
    rules: RecordRules, path: Path
) -> None:
    rows = read(path, rules)
    assert len(rows) == len(raw_sample_rows(path))
    assert len({r.where for r in rows}) == len(rows)  # no row reported twice


@pytest.mark.parametrize("path", BAD_FILES, ids=lambda p: p.name)
def test_bad_sample_messages_name_location_and_hide_personal_data(
    rules: RecordRules, path: Path
) -> None:
    secrets = personal_values(path)
    assert secrets  # the check below must have something to look for
    rejections = [r for r in read(path, rules) if isinstance(r, Rejection)]
    assert rejections
    for rejection in rejections:
        message = str(rejection.error)
        assert message.startswith(f"{path}:{rejection.error.line}:"), message
        leaked = [s for s in secrets if s in message or s in rejection.error.reason]
        assert not leaked, message


# --- the good samples --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def good_rows(rules: RecordRules) -> list[Row]:
    return read(list(SAMPLE_FILES), rules)


def test_good_samples_are_all_records(good_rows: list[Row]) -> None:
    rejected = [str(r.error) for r in good_rows if isinstance(r, Rejection)]
    assert rejected == []
    assert len(good_rows) == sum(len(raw_sample_rows(p)) for p in SAMPLE_FILES)


def test_good_csv_line_numbers_count_embedded_newlines(good_rows: list[Row]) -> None:
    lines = GOOD_CSV.read_text(encoding="utf-8").split("\n")
    records = [r for r in good_rows if isinstance(r, Record) and r.source == str(GOOD_CSV)]
    assert any(len(r.address) > 1 for r in records)  # multi-line quoted fields are present
    for record in records:
        want = [i for i, text in enumerate(lines, 1) if text.startswith(f"{record.account_id},")]
        assert want == [record.line], record.account_id
    assert records[-1].line > len(records) + 1  # line numbers are physical, not row counts


def test_good_yaml_line_numbers_are_item_lines(good_rows: list[Row]) -> None:
    lines = GOOD_YAML.read_text(encoding="utf-8").split("\n")
    records = [r for r in good_rows if isinstance(r, Record) and r.source == str(GOOD_YAML)]
    assert records
    for record in records:
        want = [i for i, text in enumerate(lines, 1)
                if text.lstrip().startswith(f'- account_id: "{record.account_id}"')]
        assert want == [record.line], record.account_id


def test_good_samples_money_is_decimal_and_dates_are_dates(good_rows: list[Row]) -> None:
    for record in good_rows:
        assert isinstance(record, Record)
        for name in (*MONEY, "penalty_rate_daily"):
            assert type(getattr(record, name)) is Decimal, (record.account_id, name)
        for name in ("loan_date", "due_date"):
            assert type(getattr(record, name)) is date, (record.account_id, name)
        assert record.last_notice_date is None or type(record.last_notice_date) is date


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.name)
def test_good_samples_values_match_the_raw_text(rules: RecordRules, path: Path) -> None:
    if path.suffix == ".csv":
        with path.open(encoding="utf-8", newline="") as handle:
            raw = list(csv.DictReader(handle))
    else:
        raw = raw_sample_rows(path)
    records = read(path, rules)
    assert len(records) == len(raw)
    for record, row in zip(records, raw, strict=True):
        assert isinstance(record, Record)
        assert record.account_id == row["account_id"]
        for name in MONEY:
            assert getattr(record, name) == Decimal(str(row.get(name) or "0")), name
        assert record.penalty_rate_daily == Decimal(row["penalty_rate_daily"])
        assert record.due_date == date.fromisoformat(str(row["due_date"]))
        assert record.address == tuple(
            part.strip() for part in str(row["address"]).split("\n") if part.strip()
        )


# --- unit cases: encodings, layout ---------------------------------------------------------------


def test_minimal_row_gets_documented_defaults(tmp_path: Path, rules: RecordRules) -> None:
    (record,) = one_csv_row(tmp_path, rules)
    assert isinstance(record, Record)
    assert (record.id_type, record.currency, record.locale) == ("cn_resident", "CNY", None)
    assert record.fees == Decimal(0)
    assert record.paid_since_due == Decimal(0)
    assert record.flags == dict.fromkeys(("disputed", "bankrupt", "deceased", "cease_contact"),
                                         False)
    assert record.compound is False
    assert record.address == ("北京市西城区", "复兴门内大街 1 号")
    assert record.where == f"{tmp_path / 'in.csv'}:2"


def test_csv_with_utf8_bom_is_read(tmp_path: Path, rules: RecordRules) -> None:
    path = write_csv(tmp_path / "bom.csv", [GOOD], bom=True)
    assert path.read_bytes().startswith(b"\xef\xbb\xbfaccount_id,")
    (record,) = read(path, rules)
    assert isinstance(record, Record)
    assert record.account_id == "T-0001"


def test_yaml_with_utf8_bom_is_read(tmp_path: Path, rules: RecordRules) -> None:
    path = write_yaml(tmp_path / "bom.yaml", "records:\n" + yaml_item(GOOD), bom=True)
    (record,) = read(path, rules)
    assert isinstance(record, Record)
    assert (record.account_id, record.line) == ("T-0001", 2)


def test_csv_crlf_line_ends_and_multiline_addresses(tmp_path: Path, rules: RecordRules) -> None:
    rows = [GOOD, {**GOOD, "account_id": "T-0002", "address": "上海市\n浦东新区\n世纪大道 1 号"}]
    path = write_csv(tmp_path / "crlf.csv", rows, newline="\r\n")
    assert b"\r\n" in path.read_bytes()
    first, second = read(path, rules)
    assert isinstance(first, Record)
    assert isinstance(second, Record)
    assert (first.line, second.line) == (2, 4)
    assert second.address == ("上海市", "浦东新区", "世纪大道 1 号")


def test_yaml_native_scalars_are_accepted(tmp_path: Path, rules: RecordRules) -> None:
    text = (yaml_item(GOOD)
            .replace('"2026-10-01"', "2026-10-01")
            .replace('"5000.00"', "5000.00")
            + "  compound: true\n")
    (record,) = read(write_yaml(tmp_path / "native.yaml", text), rules)
    assert isinstance(record, Record)
    assert record.due_date == date(2026, 10, 1)
    assert record.overdue_principal == Decimal("5000.00")
    assert type(record.overdue_principal) is Decimal
    assert record.compound is True


def test_empty_csv_gives_no_rows(tmp_path: Path, rules: RecordRules) -> None:
    assert read(write_csv(tmp_path / "empty.csv", []), rules) == []


def test_blank_csv_lines_are_not_rows(tmp_path: Path, rules: RecordRules) -> None:
    path = write_csv(tmp_path / "blank.csv", [GOOD, {**GOOD, "account_id": "T-0002"}])
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("\nT-0002", "\n\nT-0002"), encoding="utf-8")
    rows = read(path, rules)
    assert [(type(r).__name__, r.where.rsplit(":", 1)[1]) for r in rows] == [
        ("Record", "2"), ("Record", "5"),
    ]


def test_invalid_utf8_rejects_the_row_and_reading_goes_on(
    tmp_path: Path, rules: RecordRules
) -> None:
    path = write_csv(tmp_path / "latin.csv",
                     [{**GOOD, "name": "NAMEHERE"}, {**GOOD, "account_id": "T-0002"}])
    path.write_bytes(path.read_bytes().replace(b"NAMEHERE", b"M\xfcller \xff"))
    first, second = read(path, rules)
    assert isinstance(first, Rejection)
    assert fields_of(first.error) == ["name"]
    assert "not valid UTF-8" in str(first.error)
    assert isinstance(second, Record)
    assert second.account_id == "T-0002"


# --- unit cases: field values ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "value", "problem", "accepted"),
    [
        pytest.param("CNY", "12,000.00", "thousands separators", "12000.00", id="separator"),
        pytest.param("CNY", "¥1200.00", "currency signs", "12000.00", id="yen-sign"),
        pytest.param("CNY", "1200.00元", "currency signs", "12000.00", id="yuan-suffix"),
        pytest.param("USD", "$1200.00", "currency signs", "12000.00", id="dollar"),
        pytest.param("CNY", "1 200.00", "not a plain decimal", "12000.00", id="space"),
        pytest.param("CNY", "-50.00", "negative", "0 or more", id="negative"),
        pytest.param("CNY", "100.005", "more decimals", "at most 2 decimals", id="cny-3-decimals"),
        pytest.param("JPY", "100.5", "more decimals", "whole number", id="jpy-decimals"),
        pytest.param("CNY", "1e3", "not a plain decimal", "12000.00", id="exponent"),
    ],
)
def test_bad_amount_is_rejected_saying_what_is_accepted(
    tmp_path: Path, rules: RecordRules, currency: str, value: str, problem: str, accepted: str
) -> None:
    whole = {"overdue_principal": "5000", "overdue_interest": "120"} if currency == "JPY" else {}
    error = only_error(one_csv_row(tmp_path, rules, currency=currency, loan_amount=value, **whole))
    assert fields_of(error) == ["loan_amount"]
    (found,) = error.problems
    assert problem in found.problem
    assert accepted in found.accepted
    assert f"(expected {found.accepted})" in str(error)


def test_whole_yen_amounts_are_accepted(tmp_path: Path, rules: RecordRules) -> None:
    (record,) = one_csv_row(tmp_path, rules, currency="JPY", loan_amount="120000",
                            overdue_principal="50000", overdue_interest="0")
    assert isinstance(record, Record)
    assert (record.currency, record.loan_amount) == ("JPY", Decimal(120000))


@pytest.mark.parametrize("value", ["0.0005", "0", "1", "0.0000000001"])
def test_penalty_rate_accepted(tmp_path: Path, rules: RecordRules, value: str) -> None:
    (record,) = one_csv_row(tmp_path, rules, penalty_rate_daily=value)
    assert isinstance(record, Record)
    assert record.penalty_rate_daily == Decimal(value)


@pytest.mark.parametrize("value", ["-0.0005", "1.5", "5%", "0.00000000001", "万分之五"])
def test_penalty_rate_rejected(tmp_path: Path, rules: RecordRules, value: str) -> None:
    error = only_error(one_csv_row(tmp_path, rules, penalty_rate_daily=value))
    assert fields_of(error) == ["penalty_rate_daily"]
    assert "e.g. 0.0005" in error.problems[0].accepted


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("TRUE", True), ("yes", True), ("1", True), ("y", True),
     ("false", False), ("No", False), ("0", False), ("", False)],
)
def test_boolean_spellings(tmp_path: Path, rules: RecordRules, value: str, expected: bool) -> None:
    (record,) = one_csv_row(tmp_path, rules, disputed=value, compound=value)
    assert isinstance(record, Record)
    assert (record.disputed, record.compound) == (expected, expected)


@pytest.mark.parametrize("value", ["maybe", "2", "ja", "on?"])
@pytest.mark.parametrize("name", ["disputed", "compound", "cease_contact"])
def test_bad_boolean_is_rejected(
    tmp_path: Path, rules: RecordRules, name: str, value: str
) -> None:
    error = only_error(one_csv_row(tmp_path, rules, **{name: value}))
    assert fields_of(error) == [name]
    assert "true or false" in error.problems[0].accepted


@pytest.mark.parametrize("value", ["XYZ", "EURO", "RMB", "12$"])
def test_unknown_currency_is_rejected(tmp_path: Path, rules: RecordRules, value: str) -> None:
    error = only_error(one_csv_row(tmp_path, rules, currency=value))
    assert fields_of(error) == ["currency"]
    assert "ISO 4217" in str(error)


@pytest.mark.parametrize("value", ["fr_FR", "xx_YY", "zh-CN", "zh_MO", "zh", "en", "zh_Hant"])
def test_unsupported_locale_is_rejected(tmp_path: Path, rules: RecordRules, value: str) -> None:
    error = only_error(one_csv_row(tmp_path, rules, locale=value))
    assert fields_of(error) == ["locale"]
    assert f"unsupported locale {value!r}" in str(error)
    assert "zh_CN" in error.problems[0].accepted


@pytest.mark.parametrize("value", ["zh_CN", "zh_TW", "zh_HK", "en_US", "en_GB"])
def test_supported_locale_is_kept(tmp_path: Path, rules: RecordRules, value: str) -> None:
    (record,) = one_csv_row(tmp_path, rules, locale=value)
    assert isinstance(record, Record)
    assert record.locale == value


def test_unknown_brand_suggests_the_near_miss(tmp_path: Path, rules: RecordRules) -> None:
    error = only_error(one_csv_row(tmp_path, rules, brand="mingtia"))
    assert fields_of(error) == ["brand"]
    assert "did you mean 'mingtai'?" in str(error)


def test_unknown_brand_lists_the_brands(tmp_path: Path, rules: RecordRules) -> None:
    error = only_error(one_csv_row(tmp_path, rules, brand="yinhe"))
    assert fields_of(error) == ["brand"]
    assert "mingtai" in error.problems[0].accepted
    assert "jinqiao" in error.problems[0].accepted


def test_wrong_id_check_character_is_rejected(tmp_path: Path, rules: RecordRules) -> None:
    wrong = PUBLIC_CN[:17] + "1"
    error = only_error(one_csv_row(tmp_path, rules, id_number=wrong))
    assert fields_of(error) == ["id_number"]
    assert "check character" in str(error)
    assert PUBLIC_CN[:17] not in str(error)
    assert "19491231" not in str(error)


def test_lowercase_x_check_character_is_normalized(tmp_path: Path, rules: RecordRules) -> None:
    (record,) = one_csv_row(tmp_path, rules, id_number=PUBLIC_CN.lower())
    assert isinstance(record, Record)
    assert record.id_number == PUBLIC_CN


def test_loan_date_after_due_date_is_rejected(tmp_path: Path, rules: RecordRules) -> None:
    error = only_error(one_csv_row(tmp_path, rules, loan_date="2026-10-02", due_date="2026-10-01"))
    assert fields_of(error) == ["loan_date"]
    assert "after due_date" in str(error)


def test_loan_date_on_due_date_is_accepted(tmp_path: Path, rules: RecordRules) -> None:
    (record,) = one_csv_row(tmp_path, rules, loan_date="2026-10-01", due_date="2026-10-01")
    assert isinstance(record, Record)


@pytest.mark.parametrize("name", REQUIRED)
def test_each_required_field_is_required(tmp_path: Path, rules: RecordRules, name: str) -> None:
    error = only_error(one_csv_row(tmp_path, rules, **{name: "  "}))
    assert name in fields_of(error)
    assert "required" in str(error)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("王\x00小明", id="NUL"),
        pytest.param("王\x1b[31m小明", id="ESC"),
        pytest.param("王\u202e小明", id="RLO-bidi-override"),
        pytest.param("王\u200b小明", id="zero-width-space"),
        pytest.param("王\x7f小明", id="DEL"),
        pytest.param("王\n小明", id="newline"),
    ],
)
def test_control_and_invisible_characters_in_name_are_rejected(
    tmp_path: Path, rules: RecordRules, value: str
) -> None:
    error = only_error(one_csv_row(tmp_path, rules, name=value))
    assert fields_of(error) == ["name"]
    (bad,) = [c for c in value if c not in "王小明[31m"]
    assert f"U+{ord(bad):04X}" in str(error)
    assert "王" not in str(error)
    assert "小明" not in str(error)


def test_control_character_in_address_is_rejected(tmp_path: Path, rules: RecordRules) -> None:
    error = only_error(one_csv_row(tmp_path, rules, address="北京市\x1b复兴门"))
    assert fields_of(error) == ["address"]
    assert "北京市" not in str(error)


@pytest.mark.parametrize(("length", "ok"), [(100, True), (101, False), (1000, False)])
def test_name_length_limit(tmp_path: Path, rules: RecordRules, length: int, ok: bool) -> None:
    (row,) = one_csv_row(tmp_path, rules, name="张" * length)
    if ok:
        assert isinstance(row, Record)
        return
    assert isinstance(row, Rejection)
    assert fields_of(row.error) == ["name"]
    assert f"is {length} characters long" in str(row.error)
    assert "at most 100" in str(row.error)
    assert "张张" not in str(row.error)


@pytest.mark.parametrize(
    ("name", "value", "secrets"),
    [
        pytest.param("name", "李四\x1b", ["李四"], id="name"),
        pytest.param("id_number", "110105194912310021", ["11010519491231", "19491231"],
                     id="id_number"),
        pytest.param("id_number", "11010519491231002", ["1101051949123100", "19491231"],
                     id="id_number-short"),
        pytest.param("phone", "1380013800O", ["1380013800"], id="phone"),
        pytest.param("address", "保密路 8 号\x07", ["保密路"], id="address"),
    ],
)
def test_personal_values_never_appear_in_messages(
    tmp_path: Path, rules: RecordRules, name: str, value: str, secrets: list[str]
) -> None:
    error = only_error(one_csv_row(tmp_path, rules, **{name: value}))
    assert fields_of(error) == [name]
    for secret in secrets:
        assert secret not in str(error)


# --- unit cases: duplicates, file layout ----------------------------------------------------


def test_duplicate_account_id_rejects_the_later_row(tmp_path: Path, rules: RecordRules) -> None:
    path = write_csv(tmp_path / "dup.csv", [GOOD, {**GOOD, "contract_no": "C-2"}])
    first, second = read(path, rules)
    assert isinstance(first, Record)
    assert isinstance(second, Rejection)
    assert fields_of(second.error) == ["account_id"]
    assert second.account_id == "T-0001"
    assert second.where == f"{path}:4"  # the first row spans lines 2-3
    assert f"already used at {path}:2" in str(second.error)


def test_duplicate_account_id_across_files(tmp_path: Path, rules: RecordRules) -> None:
    csv_path = write_csv(tmp_path / "a.csv", [GOOD])
    yaml_path = write_yaml(tmp_path / "b.yaml", yaml_item(GOOD))
    first, second = read([csv_path, yaml_path], rules)
    assert isinstance(first, Record)
    assert isinstance(second, Rejection)
    assert str(second.error).startswith(f"{yaml_path}:1:")
    assert f"already used at {csv_path}:2" in str(second.error)


def test_unknown_csv_column_fails_the_file(tmp_path: Path, rules: RecordRules) -> None:
    header = [*FIELDS, "compund"]
    path = write_csv(tmp_path / "typo.csv", [{**GOOD, "compund": "true"}], header=header)
    with pytest.raises(InputError, match=r"unknown column 'compund'; did you mean 'compound'\?"):
        read(path, rules)
    with pytest.raises(InputError) as info:
        check_inputs([path])
    assert (info.value.path, info.value.line) == (str(path), 1)


def test_missing_required_column_fails_the_file(tmp_path: Path, rules: RecordRules) -> None:
    header = [f for f in FIELDS if f != "due_date"]
    row = {k: v for k, v in GOOD.items() if k != "due_date"}
    path = write_csv(tmp_path / "short.csv", [row], header=header)
    with pytest.raises(InputError, match=r"missing required column.*due_date"):
        read(path, rules)


def test_duplicate_csv_column_fails_the_file(tmp_path: Path, rules: RecordRules) -> None:
    path = tmp_path / "twice.csv"
    path.write_text(",".join([*FIELDS, "fees"]) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="duplicate column 'fees'"):
        read(path, rules)


@pytest.mark.parametrize(("change", "count"), [(",extra", len(FIELDS) + 1), ("", len(FIELDS) - 1)])
def test_csv_row_with_wrong_value_count_is_rejected(
    tmp_path: Path, rules: RecordRules, change: str, count: int
) -> None:
    path = write_csv(tmp_path / "cols.csv", [GOOD, {**GOOD, "account_id": "T-0002"}])
    lines = path.read_text(encoding="utf-8").split("\n")
    # the first data row ends on line 3 (its address has one embedded newline)
    lines[2] = lines[2] + change if change else lines[2].rsplit(",", 1)[0]
    path.write_text("\n".join(lines), encoding="utf-8")
    first, second = read(path, rules)
    assert isinstance(first, Rejection)
    assert fields_of(first.error) == [None]
    assert first.account_id is None
    assert f"{count} values but the header has {len(FIELDS)} columns" in str(first.error)
    assert str(first.error).startswith(f"{path}:2:")
    assert isinstance(second, Record)


def test_yaml_alias_bomb_is_refused_quickly(tmp_path: Path, rules: RecordRules) -> None:
    levels = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        levels.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    path = write_yaml(tmp_path / "bomb.yaml", "\n".join(levels) + "\n")
    start = time.monotonic()
    with pytest.raises(InputError, match="aliases"):
        read(path, rules)
    assert time.monotonic() - start < 5


def test_yaml_alias_inside_a_record_is_refused(tmp_path: Path, rules: RecordRules) -> None:
    text = "- &first\n  " + yaml_item(GOOD)[2:] + "- *first\n"
    with pytest.raises(InputError, match="aliases"):
        read(write_yaml(tmp_path / "alias.yaml", text), rules)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("accounts:\n" + yaml_item(GOOD), id="other-key"),
        pytest.param("records: []\nas_of: 2026-11-20\n", id="extra-key"),
        pytest.param("account_id: T-1\nbrand: mingtai\n", id="bare-record"),
    ],
)
def test_yaml_mapping_without_only_records_fails_the_file(
    tmp_path: Path, rules: RecordRules, text: str
) -> None:
    with pytest.raises(InputError, match="'records:'"):
        read(write_yaml(tmp_path / "map.yaml", text), rules)


def test_yaml_records_that_is_not_a_list_fails_the_file(
    tmp_path: Path, rules: RecordRules
) -> None:
    with pytest.raises(InputError, match="expected a list of records"):
        read(write_yaml(tmp_path / "scalar.yaml", "records: nothing\n"), rules)


def test_invalid_yaml_fails_with_its_line(tmp_path: Path, rules: RecordRules) -> None:
    path = write_yaml(tmp_path / "broken.yaml", "records:\n  - account_id: [unclosed\n")
    with pytest.raises(InputError, match="invalid YAML") as info:
        read(path, rules)
    assert info.value.path == str(path)
    assert info.value.line is not None


def test_yaml_list_item_that_is_not_a_mapping_is_rejected(
    tmp_path: Path, rules: RecordRules
) -> None:
    text = yaml_item(GOOD) + "- just a note\n"
    first, second = read(write_yaml(tmp_path / "note.yaml", text), rules)
    assert isinstance(first, Record)
    assert isinstance(second, Rejection)
    assert fields_of(second.error) == [None]
    assert second.where.endswith(f":{len(GOOD) + 1}")


def test_empty_yaml_gives_no_rows(tmp_path: Path, rules: RecordRules) -> None:
    assert read(write_yaml(tmp_path / "empty.yaml", "# nothing yet\n"), rules) == []


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("1_000.00", id="underscore-grouping"),
        pytest.param("12_000", id="underscore-int"),
        pytest.param("0x3E8", id="hex"),
        pytest.param("16:40", id="sexagesimal"),
    ],
)
def test_yaml_unquoted_number_forms_are_not_amounts(
    tmp_path: Path, rules: RecordRules, value: str
) -> None:
    text = yaml_item(GOOD).replace('"12000.00"', value)
    assert f"loan_amount: {value}\n" in text
    error = only_error(read(write_yaml(tmp_path / "num.yaml", text), rules))
    assert fields_of(error) == ["loan_amount"]


def test_yaml_unquoted_postal_code_is_kept_or_rejected(
    tmp_path: Path, rules: RecordRules
) -> None:
    text = yaml_item(GOOD) + "  postal_code: 010010\n"
    (row,) = read(write_yaml(tmp_path / "postal.yaml", text), rules)
    assert isinstance(row, Rejection) or row.postal_code == "010010"


# --- check_inputs -----------------------------------------------------------------------------


def test_check_inputs_accepts_the_samples() -> None:
    check_inputs([*SAMPLE_FILES, *BAD_FILES])


def test_check_inputs_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    with pytest.raises(InputError, match="cannot read") as info:
        check_inputs([missing])
    assert info.value.path == str(missing)


@pytest.mark.parametrize("name", ["accounts.txt", "accounts.json", "accounts"])
def test_check_inputs_unknown_extension(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("account_id\n", encoding="utf-8")
    with pytest.raises(InputError, match="unknown input format"):
        check_inputs([path])


def test_check_inputs_directory(tmp_path: Path) -> None:
    folder = tmp_path / "in.csv"
    folder.mkdir()
    with pytest.raises(InputError, match="not a file"):
        check_inputs([folder])


def test_id_of_a_rejected_row_is_used_too(tmp_path: Path, rules: RecordRules) -> None:
    rows = read(write_csv(tmp_path / "in.csv", [{**GOOD, "fees": "1,000.00"}, GOOD]), rules)
    assert [type(r).__name__ for r in rows] == ["Rejection", "Rejection"]
    assert "already used at" in str(rows[1].error)  # type: ignore[union-attr]


def test_record_repr_carries_no_personal_data(tmp_path: Path, rules: RecordRules) -> None:
    (record,) = one_csv_row(tmp_path, rules)
    text = repr(record)
    assert GOOD["account_id"] in text
    for field in ("name", "id_number", "phone", "address"):
        if GOOD.get(field):
            assert GOOD[field].splitlines()[0] not in text, field


def test_amount_with_a_space_says_so(tmp_path: Path, rules: RecordRules) -> None:
    error = only_error(one_csv_row(tmp_path, rules, fees="1 200.00"))
    assert "spaces are not accepted" in str(error)
