"""Archive-grade letters, on real rendered PDFs: PDF/A-3a essentials (XMP identification,
output intent, the attached record data with its relationship, every font embedded, per
pikepdf and poppler's pdffonts), structure per ``qpdf --check``, metadata without personal
data, the attached JSON equal to the record (masked), and the same bytes for the same input.

veraPDF cannot be installed here (see docs/print-and-archive.md): these tests check what the
tools at hand can check, not full PDF/A conformance."""

from __future__ import annotations

import dataclasses
import io
import shutil
import subprocess
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pikepdf
import pytest

from dunning.archive import (
    ATTACHMENT_NAME,
    DATA_FORMAT,
    archive_problems,
    read_letter_data,
)
from dunning.batch import RunSummary, run_batch
from dunning.config import Encryption, localized
from dunning.errors import ConfigError
from dunning.letter import Dunning
from dunning.printfile import make_print_files
from dunning.protect import password_for
from dunning.settings import Settings

from .helpers import (
    ROOT,
    SAMPLE_FILES,
    SAMPLES_AS_OF,
    pdf_text,
    raw_rows,
    read_manifest_lines,
    sample_record,
    squash,
    with_brand,
    write_export,
)

#: The samples' as-of date at midnight in Asia/Shanghai, as PDF and XMP dates.
PDF_DATE = "D:20261120000000+08'00"
XMP_DATE = "2026-11-20T00:00:00+08:00"


def _letters(sample_run: tuple[RunSummary, Path]) -> list[tuple[dict[str, Any], Path]]:
    """(manifest entry, PDF) of every rendered sample letter."""
    _, out = sample_run
    return [(e, out / e["path"]) for e in read_manifest_lines(out) if e["outcome"] == "rendered"]


def _rows() -> dict[str, dict[str, str]]:
    return {row["account_id"]: row for path in SAMPLE_FILES for row in raw_rows(path)}


def test_every_letter_has_the_pdf_a_3b_essentials_and_passes_qpdf(
    sample_run: tuple[RunSummary, Path],
) -> None:
    letters = _letters(sample_run)
    assert len(letters) > 80
    for entry, path in letters:
        assert archive_problems(path.read_bytes()) == [], entry["account_id"]
        check = subprocess.run(["qpdf", "--check", str(path)], capture_output=True, text=True)
        assert check.returncode == 0, (entry["account_id"], check.stdout, check.stderr)
        assert "No syntax or stream encoding errors" in check.stdout


def test_the_archive_structure_of_a_letter(sample_run: tuple[RunSummary, Path],
                                           dunning: Dunning) -> None:
    """Each essential checked directly with pikepdf, on one letter per brand and locale."""
    seen: set[tuple[str, str]] = set()
    rows = _rows()
    for entry, path in _letters(sample_run):
        key = (entry["brand"], entry["locale"])
        if key in seen:
            continue
        seen.add(key)
        brand = dunning.brands[entry["brand"]]
        reference = f"{rows[entry['account_id']]['contract_no']}-20261120"
        with pikepdf.open(path) as pdf:
            assert pdf.pdf_version == "1.7"
            assert not pdf.is_encrypted
            meta = pdf.open_metadata()
            assert meta["pdfaid:part"] == "3"
            assert meta["pdfaid:conformance"] == "A"  # level A (tagged) since issue 21
            assert meta["xmp:CreateDate"] == meta["xmp:ModifyDate"] == XMP_DATE
            assert meta["dc:title"] == str(pdf.docinfo["/Title"])
            [intent] = pdf.Root.OutputIntents
            assert intent.S == "/GTS_PDFA1"
            assert intent.DestOutputProfile.N == 3  # the sRGB ICC profile
            spec = pdf.attachments[ATTACHMENT_NAME]
            assert spec.obj.AFRelationship == "/Source"
            assert [item.objgen for item in pdf.Root.AF] == [spec.obj.objgen]
            assert spec.get_file().mime_type == "application/json"
            assert str(pdf.Root.Lang) == entry["locale"].replace("_", "-")
            info = {k: str(v) for k, v in pdf.docinfo.items()}
            assert info["/Author"] == localized(brand.legal_name, entry["locale"])
            assert info["/Subject"] == reference
            assert info["/Keywords"] == (f"{reference}, brand:{brand.key}, "
                                         f"stage:{entry['stage']}, as-of:2026-11-20")
            assert info["/CreationDate"] == info["/ModDate"] == PDF_DATE
            assert localized(brand.short_name, entry["locale"]) in info["/Title"]
    assert len(seen) >= 10


def test_every_font_is_embedded_per_pdffonts(sample_run: tuple[RunSummary, Path]) -> None:
    locales: set[str] = set()
    for entry, path in _letters(sample_run):
        if entry["locale"] in locales:
            continue
        locales.add(entry["locale"])
        out = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True,
                             check=True).stdout.splitlines()[2:]
        assert out, entry["account_id"]
        for line in out:
            # name, type…, encoding, then emb sub uni as yes/no, then the object id
            flags = line.split()[-5:-2]
            assert flags[0] == "yes", (entry["account_id"], line)
    assert len(locales) == 5


def test_the_attached_data_is_the_record_masked(sample_run: tuple[RunSummary, Path]) -> None:
    """letter-data.json round-trips to the record: every field as the export wrote it, the ID
    number and phone masked exactly as the letter prints them, nothing of the full ones."""
    rows = _rows()
    for entry, path in _letters(sample_run):
        row = rows[entry["account_id"]]
        data = path.read_bytes()
        attached = read_letter_data(data)
        assert attached["format"] == DATA_FORMAT
        assert attached["letter"] == {
            "reference": f"{row['contract_no']}-20261120", "as_of": "2026-11-20",
            "stage": entry["stage"], "locale": entry["locale"], "total": entry["total"],
            "currency": entry["currency"]}
        record = attached["record"]
        for name in ("account_id", "contract_no", "brand", "name", "loan_date", "due_date"):
            assert record[name] == row[name], (entry["account_id"], name)
        assert record["address"] == row["address"].splitlines()
        assert record["postal_code"] == row.get("postal_code", "")
        assert record["id_type"] == (row.get("id_type") or "cn_resident")
        assert record["currency"] == (row.get("currency") or "CNY")
        assert record["locale"] == (row.get("locale") or None)
        for name in ("loan_amount", "overdue_principal", "overdue_interest", "fees",
                     "paid_since_due", "penalty_rate_daily"):
            assert Decimal(record[name]) == Decimal(row.get(name) or "0"), name
            assert isinstance(record[name], str), "amounts stay exact text"
        for name in ("compound", "disputed", "bankrupt", "deceased", "cease_contact"):
            assert record[name] is (row.get(name) in ("true", "yes", "1")), name
        # masked as the letter shows them; the full numbers and the birth date nowhere
        text = squash(pdf_text(data))
        assert record["id_number"] in text
        assert record["id_number"] != row["id_number"]
        assert "*" in record["id_number"]
        raw = data.decode("latin-1")
        attached_text = str(attached)
        assert row["id_number"] not in attached_text
        if row.get("id_type", "cn_resident") in ("", "cn_resident"):
            assert row["id_number"][6:14] not in attached_text, "birth date"
        digits = "".join(ch for ch in row.get("phone", "") if ch.isdigit())
        if digits:
            assert digits not in attached_text
            assert "*" in record["phone"]
        assert row["id_number"] not in raw


def test_the_same_input_gives_the_same_bytes(tmp_path: Path, dunning: Dunning) -> None:
    """Two runs of the same records, templates and as-of date into two folders (one in this
    process, one in two worker processes): every letter and every print file is identical."""
    wanted = ("MT-000004", "JQ-000018", "LM-000004", "RS-000002", "MT-000041", "JQ-000041")
    rows = [row for path in SAMPLE_FILES for row in raw_rows(path)
            if row["account_id"] in wanted and path.suffix == ".csv"]
    export = write_export(tmp_path / "in.csv", rows)
    runs = []
    for name, workers in (("one", 1), ("two", 2)):
        out = tmp_path / name
        summary = run_batch([export], as_of=SAMPLES_AS_OF, out_dir=out, dunning=dunning,
                            workers=workers)
        assert summary.counts["rendered"] == len(rows)
        runs.append((out, make_print_files(out)))
    (one, printed_one), (two, printed_two) = runs
    first, second = read_manifest_lines(one), read_manifest_lines(two)
    assert [e["sha256"] for e in first] == [e["sha256"] for e in second]
    for entry in first:
        assert (one / entry["path"]).read_bytes() == (two / entry["path"]).read_bytes()
    # the print files hold the same letters' pages; only their cover sheets differ (each
    # names its own run: the print shop tells the jobs apart)
    assert [f.pdf for f in printed_one.files] == [f.pdf for f in printed_two.files]
    for made_one, made_two in zip(printed_one.files, printed_two.files, strict=True):
        with pikepdf.open(one / made_one.pdf) as a, pikepdf.open(two / made_two.pdf) as b:
            assert len(a.pages) == len(b.pages)
            for page_a, page_b in list(zip(a.pages, b.pages, strict=True))[made_one.cover_pages:]:
                assert page_a.obj.get("/Contents") is None or \
                    page_a.Contents.read_bytes() == page_b.Contents.read_bytes()
        assert (one / made_one.manifest).read_bytes() == (two / made_two.manifest).read_bytes()


def test_a_letter_rendered_later_is_the_same_bytes(
    sample_run: tuple[RunSummary, Path], dunning: Dunning,
) -> None:
    """Regenerated from its record, a letter of the batch (made in worker processes) is the
    same file: what the archive promises years later."""
    record = sample_record(dunning, "LM-000004")
    _, out = sample_run
    [entry] = [e for e in read_manifest_lines(out) if e["account_id"] == "LM-000004"]
    again = dunning.render(dunning.plan(record, SAMPLES_AS_OF)).pdf.data
    assert again == (out / entry["path"]).read_bytes()
    later = dunning.render(dunning.plan(record, date(2026, 11, 21))).pdf.data
    with pikepdf.open(io.BytesIO(later)) as pdf:
        assert str(pdf.docinfo["/CreationDate"]) == "D:20261121000000+08'00"


def test_an_encrypted_letter_is_not_pdf_a_but_keeps_its_data(dunning: Dunning) -> None:
    """PDF/A forbids encryption: a brand that encrypts gets plain PDF (no PDF/A claim) with
    the same metadata and attachment, readable with the letter's password."""
    locked = with_brand(dunning, "mingtai", encryption=Encryption(password="id_last6"))
    record = sample_record(locked, "MT-000004")
    from dunning.protect import protect_letter

    data = protect_letter(locked.render(locked.plan(record, SAMPLES_AS_OF)).pdf.data, record,
                          locked.brands["mingtai"], environ={})
    assert archive_problems(data) == ["encrypted (PDF/A forbids encryption)"]
    password = password_for(record, "id_last6")
    assert password
    with pikepdf.open(io.BytesIO(data), password=password) as pdf:
        assert pdf.is_encrypted
        assert "pdfaid:part" not in pdf.open_metadata()
        assert "/OutputIntents" not in pdf.Root
    attached = read_letter_data(data, password=password)
    assert attached["record"]["account_id"] == "MT-000004"


def test_pdf_archive_off_gives_plain_letters(dunning: Dunning) -> None:
    plain = dataclasses.replace(
        dunning, settings=dunning.settings.with_changes(pdf_archive=False),
        _renderer=dunning.renderer)
    record = sample_record(plain, "MT-000004")
    data = plain.render(plain.plan(record, SAMPLES_AS_OF)).pdf.data
    with pikepdf.open(io.BytesIO(data)) as pdf:
        assert "pdfaid:part" not in pdf.open_metadata()
        assert len(pdf.attachments) == 0
        assert "/CreationDate" not in pdf.docinfo
    assert archive_problems(data) != []


def test_the_setting_is_read_from_settings_yaml(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "config", tmp_path / "config")
    settings_file = tmp_path / "config" / "settings.yaml"
    assert Settings.at(tmp_path).pdf_archive is True
    settings_file.write_text("pdf_archive: false\n", encoding="utf-8")
    assert Settings.at(tmp_path).pdf_archive is False
    settings_file.write_text("pdf_archve: false\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="did you mean 'pdf_archive'"):
        Settings.at(tmp_path)
    settings_file.write_text("pdf_archive: 'no'\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="pdf_archive"):
        Settings.at(tmp_path)


def test_archive_metadata_carries_no_personal_data(sample_run: tuple[RunSummary, Path]) -> None:
    rows = _rows()
    for entry, path in _letters(sample_run):
        row = rows[entry["account_id"]]
        with pikepdf.open(path) as pdf:
            stored = " ".join(str(v) for v in pdf.docinfo.values())
            stored += pdf.Root.Metadata.read_bytes().decode("utf-8")
        for value in (row["name"], row["id_number"], row["address"].splitlines()[0],
                      row.get("phone") or "\0"):
            assert value not in stored, (entry["account_id"], "metadata")
