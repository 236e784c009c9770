"""The nightly batch end to end on the samples: manifest row by row, and every letter's text
checked against an independent computation of its figures, in the terms of its own locale."""

from __future__ import annotations

import csv
import hashlib
import json
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from dunning.batch import RunSummary, run_batch
from dunning.errors import InputError
from dunning.letter import Dunning
from dunning.words import en_words, zh_capitals

from .helpers import (
    BAD_FILES,
    SAMPLE_FILES,
    SAMPLES_AS_OF,
    check_id,
    expected_figures,
    expected_outcome,
    fmt,
    pdf_pages,
    pdf_text,
    raw_rows,
    read_manifest_lines,
    squash,
)

CAPS = {"mingtai": Fraction("0.24"), "jinqiao": Fraction("0.20"), "lungmun": Fraction("0.36"),
        "risheng": Fraction("0.16")}
#: What each locale's letter says, without whitespace (pdftotext breaks lines anywhere):
#: titles by stage, section headings, and the phrases the checks below look for. ``dpd``,
#: ``total`` and ``page`` are formats; ``compound_also`` is the settlement-offer phrase that
#: names compound interest even in letters without it.
TERMS: dict[str, dict[str, Any]] = {
    "zh_CN": {
        "titles": {"reminder": "逾期还款提醒函", "formal": "逾期还款通知函",
                   "final": "催收函（诉前通知）"},
        "sections": ["身份确认", "逾期情况", "欠款明细", "逾期未还的后果", "还款方案", "联系我们",
                     "您的权利"],
        "dpd": "已逾期{}天", "total": "应还合计{}", "page": "第{}页，共{}页",
        "compound": "复利", "compound_also": "罚息及复利", "capped": "已按年利率上限",
        "credit": "征信报送事先告知", "legal": "提起民事诉讼",
    },
    "zh_TW": {
        "titles": {"reminder": "逾期還款提醒函", "formal": "逾期還款通知函",
                   "final": "催告函（起訴前通知）"},
        "sections": ["身分確認", "逾期狀況", "欠款明細", "逾期未繳之後果", "還款方案", "聯絡我們",
                     "台端之權利"],
        "dpd": "已逾期{}日", "total": "應繳總額{}", "page": "第{}頁，共{}頁",
        "compound": "複利", "compound_also": "遲延利息及複利", "capped": "已依年利率上限",
        "credit": "信用資料報送事前通知", "legal": "提起民事訴訟",
    },
    "zh_HK": {
        "titles": {"reminder": "逾期還款提示信", "formal": "逾期還款通知書",
                   "final": "最後通知書（採取法律行動前）"},
        "sections": ["身份確認", "逾期狀況", "欠款明細", "逾期未還的後果", "還款方案", "聯絡我們",
                     "閣下的權利"],
        "dpd": "已逾期{}日", "total": "應還總額{}", "page": "第{}頁，共{}頁",
        "compound": "複息", "compound_also": "罰息及複息", "capped": "已按年利率上限",
        "credit": "信貸資料報告預先通知", "legal": "提出民事申索",
    },
    "en_US": {
        "titles": {"reminder": "OverduePaymentReminder", "formal": "OverduePaymentNotice",
                   "final": "FinalNoticeBeforeLegalAction"},
        "sections": ["Identityconfirmation", "Overduestatus", "Whatyouoweasof",
                     "Whathappensifthedebtstaysunpaid", "Youroptionsforrepaying",
                     "Howtoreachus", "Yourrights"],
        "dpd": "itis{}daysoverdue", "total": "Totaldue{}", "page": "Page{}of{}",
        "compound": "Compoundinterest", "compound_also": "", "capped": "reducedtothelegalmaximum",
        "credit": "Advancenoticeofcreditreporting", "legal": "fileacivillawsuit",
    },
    "en_GB": {
        "titles": {"reminder": "OverduePaymentReminder", "formal": "OverduePaymentNotice",
                   "final": "FinalNoticeBeforeLegalAction"},
        "sections": ["Identityconfirmation", "Overduestatus", "Whatyouoweasat",
                     "Whathappensifthedebtstaysunpaid", "Youroptionsforrepaying",
                     "Howtoreachus", "Yourrights"],
        "dpd": "itis{}daysoverdue", "total": "Totaldue{}", "page": "Page{}of{}",
        "compound": "Compoundinterest", "compound_also": "", "capped": "reducedtothelegalmaximum",
        "credit": "Advancenoticeofcreditreporting", "legal": "startcourtproceedings",
    },
}
#: The currency's name in the amount in words, per script or English locale.
CURRENCY_WORDS = {
    "Hans": {"CNY": "人民币", "HKD": "港币", "TWD": "新台币", "USD": "美元", "GBP": "英镑"},
    "Hant": {"CNY": "人民幣", "HKD": "港幣", "TWD": "新臺幣", "USD": "美元", "GBP": "英鎊"},
    "en_US": {"CNY": "Chinese yuan", "HKD": "Hong Kong dollars", "TWD": "New Taiwan dollars",
              "USD": "US dollars", "GBP": "British pounds"},
    "en_GB": {"CNY": "Chinese yuan", "HKD": "Hong Kong dollars", "TWD": "New Taiwan dollars",
              "USD": "US dollars", "GBP": "pounds sterling"},
}


def expected_words(total_cents: int, currency: str, locale: str) -> str:
    """The amount in words as the letter must print it (docs/locales.md), from words.py's
    spelling and this file's currency names."""
    amount = Decimal(total_cents) / 100
    if locale.startswith("zh"):
        script = "Hans" if locale == "zh_CN" else "Hant"
        whole = "正" if locale == "zh_HK" else "整"
        return CURRENCY_WORDS[script][currency] + zh_capitals(
            amount, traditional=script == "Hant", whole=whole)
    return en_words(amount, currency_major=CURRENCY_WORDS[locale][currency],
                    british=locale == "en_GB")


def letter_locale(row: dict[str, Any], dunning: Dunning) -> str:
    """The record's locale, else its brand's (every sample brand names one)."""
    return row.get("locale") or str(dunning.brands[row["brand"]].default_locale)


def _inputs() -> list[tuple[Path, dict[str, Any]]]:
    return [(path, row) for path in SAMPLE_FILES for row in raw_rows(path)]


def test_manifest_accounts_for_every_row_once(
    sample_run: tuple[RunSummary, Path], dunning: Dunning
) -> None:
    summary, out = sample_run
    manifest = read_manifest_lines(out)
    inputs = _inputs()
    assert len(manifest) == len(inputs) == summary.rows
    by_id = {entry["account_id"]: entry for entry in manifest}
    assert len(by_id) == len(manifest), "an account appears twice in the manifest"
    for path, row in inputs:
        entry = by_id[row["account_id"]]
        assert entry["source"].startswith(f"{path}:"), entry
        outcome, detail = expected_outcome(row, SAMPLES_AS_OF, CAPS[row["brand"]])
        assert entry["outcome"] == outcome, (row["account_id"], entry)
        if outcome == "rendered":
            assert entry["stage"] == detail
            assert entry["locale"] == letter_locale(row, dunning)
            assert entry["currency"] == (row.get("currency") or "CNY")
            pdf = out / entry["path"]
            data = pdf.read_bytes()
            assert hashlib.sha256(data).hexdigest() == entry["sha256"]
            assert pdf_pages(pdf) == entry["pages"]
            assert entry["reason"] is None
        else:
            assert entry["reason"].startswith(f"{detail}:"), entry
            assert entry["path"] is None
            assert entry["sha256"] is None
    pdfs = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.pdf"))
    assert pdfs == sorted(e["path"] for e in manifest if e["outcome"] == "rendered")
    assert not list(out.rglob("*.tmp")), "temp files left behind"


def test_summary_reconciles(sample_run: tuple[RunSummary, Path]) -> None:
    summary, out = sample_run
    data = json.loads((out / "summary.json").read_text("utf-8"))
    assert data["rows"] == sum(data["outcomes"].values()) == len(_inputs())
    assert data["outcomes"]["rejected"] == data["outcomes"]["failed"] == 0
    assert data["exit_code"] == summary.exit_code == 0
    rendered = [e for e in read_manifest_lines(out) if e["outcome"] == "rendered"]
    assert sum(data["rendered_by_stage"].values()) == len(rendered)
    currencies = {e["currency"] for e in rendered}
    assert currencies == {"CNY", "HKD", "TWD", "USD", "GBP"}
    assert data["total_demanded"] == {
        cur: str(sum(Decimal(e["total"]) for e in rendered if e["currency"] == cur))
        for cur in sorted(currencies)
    }
    assert data["capped_letters"] == sum(e["capped"] for e in rendered)


def _rendered_rows(sample_run: tuple[RunSummary, Path]) -> list[tuple[dict[str, Any], Path, str]]:
    _, out = sample_run
    by_id = {e["account_id"]: e for e in read_manifest_lines(out)}
    rows = []
    for _, row in _inputs():
        entry = by_id[row["account_id"]]
        if entry["outcome"] == "rendered":
            rows.append((row, out / entry["path"], entry["stage"]))
    return rows


def test_every_letter_states_its_figures_and_sections(
    sample_run: tuple[RunSummary, Path], dunning: Dunning
) -> None:
    rows = _rendered_rows(sample_run)
    assert len(rows) > 80
    seen_locales = set()
    for row, pdf, stage in rows:
        text = squash(pdf_text(pdf))
        who = row["account_id"]
        locale = letter_locale(row, dunning)
        seen_locales.add(locale)
        terms = TERMS[locale]
        currency = row.get("currency") or "CNY"
        brand = dunning.brands[row["brand"]]
        figures = expected_figures(row, SAMPLES_AS_OF, CAPS[row["brand"]])
        # identity: full name, masked ID, never the full ID or the birth date
        assert squash(row["name"]) in text, who
        id_number = row["id_number"].upper()
        assert id_number not in text, f"{who}: full ID number printed"
        if len(id_number) == 18:
            start, end = brand.id_mask.keep_start, brand.id_mask.keep_end
            masked = id_number[:start] + "*" * (18 - start - end) + id_number[18 - end:]
            assert id_number[-1] == check_id(id_number[:17])
            assert masked in text, who
            assert id_number[6:14] not in text, f"{who}: birth date printed"
        assert row["contract_no"] in text
        # status and itemization, each figure from the independent computation
        assert terms["dpd"].format(figures["dpd"]) in text, who
        lines = figures["lines"]
        for key in ("principal", "interest", "penalty", "fees", "paid"):
            assert fmt(lines[key]) in text, (who, key, fmt(lines[key]))
        also = terms["compound_also"]
        compound_named = terms["compound"] in (text.replace(also, "") if also else text)
        assert compound_named == (row.get("compound") == "true"), who
        if row.get("compound") == "true":
            assert fmt(lines["compound"]) in text, who
        assert terms["total"].format(fmt(figures["total"])) in text, who
        words = expected_words(figures["total"], currency, locale)
        assert squash(words) in text, (who, words)
        assert (terms["capped"] in text) == figures["capped"], who
        # every section, the stage title, the footer
        assert terms["titles"][stage] in text, who
        for heading in terms["sections"]:
            assert heading in text, (who, heading)
        assert terms["page"].format(1, pdf_pages(pdf)) in text, who
        assert squash(brand.regulator_hotline) in text, who
        assert (terms["credit"] in text) == (stage in ("formal", "final")), who
        assert (terms["legal"] in text) == (stage == "final"), who
        # the letter reference: contract number and as-of date
        assert f"{row['contract_no']}-20261120" in text
    assert seen_locales == set(TERMS), "the samples have letters in every locale"


def test_page_x_of_y_counted_per_letter(
    sample_run: tuple[RunSummary, Path], dunning: Dunning
) -> None:
    rows = _rendered_rows(sample_run)
    firsts = {letter_locale(row, dunning): (row, pdf) for row, pdf, _ in reversed(rows)}
    assert set(firsts) == set(TERMS)
    for locale, (_, pdf) in firsts.items():
        page_format = TERMS[locale]["page"]
        pages = pdf_pages(pdf)
        text = squash(pdf_text(pdf))
        for page in range(1, pages + 1):
            assert page_format.format(page, pages) in text, locale
        assert page_format.format(pages + 1, pages) not in text, locale


def test_rare_characters_are_printed_not_boxes(sample_run: tuple[RunSummary, Path]) -> None:
    seen = set()
    for row, pdf, _ in _rendered_rows(sample_run):
        for ch in "堃喆赟𠮷龘㵘":
            if ch in row["name"]:
                assert ch in pdf_text(pdf), (row["account_id"], ch)
                seen.add(ch)
    assert seen == set("堃喆赟𠮷龘㵘")


def test_pdf_metadata_has_no_personal_data(sample_run: tuple[RunSummary, Path]) -> None:
    import subprocess

    for row, pdf, _ in _rendered_rows(sample_run)[:10]:
        info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True,
                              check=True).stdout
        assert row["name"] not in info
        assert row["id_number"] not in info
        assert "Author:" in info


def test_bad_records_each_rejected_with_its_own_message(tmp_path: Path, dunning: Dunning) -> None:
    import yaml

    summary = run_batch(BAD_FILES, as_of=SAMPLES_AS_OF, out_dir=tmp_path, dunning=dunning)
    manifest = read_manifest_lines(tmp_path)
    expected = yaml.safe_load((BAD_FILES[0].parent / "expected.yaml").read_text("utf-8"))
    errors = expected["errors"]
    rejected = [e for e in manifest if e["outcome"] == "rejected"]
    assert len(rejected) == len(errors)
    assert summary.exit_code == 1
    reasons = set()
    for err in errors:
        source = f"{BAD_FILES[0].parent / err['file']}:{err['line']}"
        [entry] = [e for e in rejected if e["source"] == source]
        if err["field"]:
            assert err["field"] in entry["reason"], (err, entry)
        reasons.add(entry["reason"])
    assert len(reasons) == len(errors), "two defects gave the same message"
    with BAD_FILES[0].open(encoding="utf-8", newline="") as handle:
        csv_rows = len(list(csv.reader(handle))) - 1
    yaml_rows = len(yaml.safe_load(BAD_FILES[1].read_text("utf-8"))["records"])
    assert len(manifest) == csv_rows + yaml_rows, "every input row has exactly one outcome"


def test_unreadable_input_stops_before_any_output(tmp_path: Path, dunning: Dunning) -> None:
    bad = tmp_path / "export.csv"
    bad.write_text("account_id,contract_nr\nA,B\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"contract_nr.*did you mean 'contract_no'"):
        run_batch([bad], as_of=SAMPLES_AS_OF, out_dir=tmp_path / "out", dunning=dunning)
    assert not (tmp_path / "out").exists()
