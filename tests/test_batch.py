"""The nightly batch end to end on the samples: manifest row by row, and every letter's text
checked against an independent computation of its figures."""

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
from dunning.words import zh_capitals

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
    squash,
)

CAPS = {"mingtai": Fraction("0.24"), "jinqiao": Fraction("0.20")}
TITLES = {"reminder": "逾期还款提醒函", "formal": "逾期还款通知函", "final": "催收函（诉前通知）"}
SECTIONS = [
    "身份确认", "逾期情况", "欠款明细", "逾期未还的后果", "还款方案", "联系我们", "您的权利",
]


def _manifest(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text("utf-8").splitlines()]


def _inputs() -> list[tuple[Path, dict[str, Any]]]:
    return [(path, row) for path in SAMPLE_FILES for row in raw_rows(path)]


def test_manifest_accounts_for_every_row_once(sample_run: tuple[RunSummary, Path]) -> None:
    summary, out = sample_run
    manifest = _manifest(out)
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
            assert entry["locale"] == "zh_CN"
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
    rendered = [e for e in _manifest(out) if e["outcome"] == "rendered"]
    assert sum(data["rendered_by_stage"].values()) == len(rendered)
    assert Decimal(data["total_demanded"]["CNY"]) == sum(Decimal(e["total"]) for e in rendered)
    assert data["capped_letters"] == sum(e["capped"] for e in rendered)


def _rendered_rows(sample_run: tuple[RunSummary, Path]) -> list[tuple[dict[str, Any], Path, str]]:
    _, out = sample_run
    by_id = {e["account_id"]: e for e in _manifest(out)}
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
    assert len(rows) > 50
    for row, pdf, stage in rows:
        text = squash(pdf_text(pdf))
        who = row["account_id"]
        figures = expected_figures(row, SAMPLES_AS_OF, CAPS[row["brand"]])
        # identity: full name, masked ID, never the full ID or the birth date
        assert squash(row["name"]) in text, who
        id_number = row["id_number"].upper()
        assert id_number not in text, f"{who}: full ID number printed"
        masked = id_number[:3] + "*" * (len(id_number) - 7) + id_number[-4:]
        if len(id_number) == 18:
            assert id_number[-1] == check_id(id_number[:17])
            assert masked in text, who
            assert id_number[6:14] not in text, f"{who}: birth date printed"
        assert row["contract_no"] in text
        # status and itemization, each figure from the independent computation
        assert f"已逾期{figures['dpd']}天" in text, who
        lines = figures["lines"]
        for key in ("principal", "interest", "penalty", "fees", "paid"):
            assert fmt(lines[key]) in text, (who, key, fmt(lines[key]))
        if row.get("compound") == "true":
            assert "复利" in text, who
            assert fmt(lines["compound"]) in text, who
        else:
            assert "复利" not in text.replace("罚息及复利", ""), who
        assert f"应还合计{fmt(figures['total'])}" in text, who
        words = zh_capitals(Decimal(figures["total"]) / 100)
        assert f"人民币{words}" in text, who
        if figures["capped"]:
            assert "已按年利率上限" in text, who
        # every section, the stage title, the footer
        assert TITLES[stage] in text, who
        for heading in SECTIONS:
            assert heading in text, (who, heading)
        assert f"第1页，共{pdf_pages(pdf)}页" in text, who
        assert "12378" in text
        if stage in ("formal", "final"):
            assert "征信报送事先告知" in text, who
        if stage == "final":
            assert "提起民事诉讼" in text, who
        else:
            assert "提起民事诉讼" not in text, who
        # the letter reference: contract number and as-of date
        assert f"{row['contract_no']}-20261120" in text


def test_page_x_of_y_counted_per_letter(sample_run: tuple[RunSummary, Path]) -> None:
    for _, pdf, _ in _rendered_rows(sample_run)[:5]:
        pages = pdf_pages(pdf)
        text = squash(pdf_text(pdf))
        for page in range(1, pages + 1):
            assert f"第{page}页，共{pages}页" in text
        assert f"第{pages + 1}页" not in text


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
    manifest = _manifest(tmp_path)
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
