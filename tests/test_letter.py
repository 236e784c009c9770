"""One record → one letter: failures stay with their letter, record values stay data,
templates reach only their own assets, and no personal data leaks into the manifest or logs."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import pytest

from dunning.batch import RunSummary, run_batch
from dunning.errors import RenderError, TemplateError
from dunning.letter import Dunning
from dunning.settings import Settings

from .helpers import (
    ROOT,
    SAMPLE_FILES,
    SAMPLES_AS_OF,
    pdf_text,
    raw_rows,
    read_manifest_lines,
    squash,
    write_export,
)


def _row(account_id: str = "MT-000004", **changes: str) -> dict[str, Any]:
    row = next(r for r in raw_rows(SAMPLE_FILES[0]) if r["account_id"] == account_id)
    return {**row, **changes}


def test_uncovered_character_fails_only_that_letter(tmp_path: Path, dunning: Dunning) -> None:
    rows = [_row("MT-000004", name="王\U00031350明"), _row("MT-000005")]
    summary = run_batch([write_export(tmp_path / "in.csv", rows)], as_of=SAMPLES_AS_OF,
                        out_dir=tmp_path / "out", dunning=dunning)
    failed, ok = read_manifest_lines(tmp_path / "out")
    assert failed["outcome"] == "failed"
    assert "U+31350" in failed["reason"]
    assert "王" not in failed["reason"], "the name must not appear in the reason"
    assert ok["outcome"] == "rendered"
    assert summary.exit_code == 1


def test_record_values_are_shown_literally(tmp_path: Path, dunning: Dunning) -> None:
    hostile = "<b>{{ 7*7 }}</b><img src=x>"
    rows = [_row(name=hostile[:40], address="<script>alert(1)</script>\n{% include 'x' %}")]
    run_batch([write_export(tmp_path / "in.csv", rows)], as_of=SAMPLES_AS_OF,
              out_dir=tmp_path / "out", dunning=dunning)
    [entry] = read_manifest_lines(tmp_path / "out")
    assert entry["outcome"] == "rendered", entry
    text = squash(pdf_text(tmp_path / "out" / entry["path"]))
    assert squash("<b>{{ 7*7 }}</b><img src=x>") in text
    assert "<script>alert(1)</script>" in text
    assert "{%include'x'%}" in text


def _home_with(tmp_path: Path, partial: str, content: str) -> Settings:
    home = tmp_path / "home"
    for folder in ("config", "templates", "locales"):
        shutil.copytree(ROOT / folder, home / folder)
    (home / "templates" / "letter" / "partials" / partial).write_text(content, "utf-8")
    return Settings.at(home)


@pytest.mark.parametrize("url", [
    "file:///etc/passwd",
    "http://127.0.0.1:9/x.png",
    "../../config/brands.yaml",
])
def test_templates_reach_only_their_assets(tmp_path: Path, url: str) -> None:
    settings = _home_with(tmp_path, "signature.html", f'<img src="{url}"><p>signed</p>')
    dunning = Dunning.load(settings)
    record = next(r for r in dunning_rows(dunning) if r.account_id == "MT-000004")
    with pytest.raises(RenderError, match="outside the templates' assets"):
        dunning.render(dunning.plan(record, SAMPLES_AS_OF))


def dunning_rows(dunning: Dunning) -> list[Any]:
    from dunning.records import Record, read_records

    return [r for r in read_records([SAMPLE_FILES[0]], dunning.record_rules())
            if isinstance(r, Record)]


@pytest.mark.parametrize(("content", "message"), [
    ("<p>{{ borrower.name }</p>", "unexpected '}'"),
    ("<p>\n{{ borrower.nickname }}</p>", "nickname"),
    ("<p>{{ ''.__class__.__mro__ }}</p>", "__class__"),
])
def test_template_errors_name_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    dunning = Dunning.load(_home_with(tmp_path, "contacts.html", content))
    record = next(r for r in dunning_rows(dunning) if r.account_id == "MT-000004")
    with pytest.raises(TemplateError, match=message) as info:
        dunning.render(dunning.plan(record, SAMPLES_AS_OF))
    assert info.value.template == "letter/partials/contacts.html"
    assert info.value.line == content.count("\n") + 1


def test_broken_template_fails_letters_not_the_run(tmp_path: Path) -> None:
    dunning = Dunning.load(_home_with(tmp_path, "rights.html", "{{ missing_variable }}"))
    export = write_export(tmp_path / "in.csv", [_row("MT-000004"), _row("MT-000012")])
    summary = run_batch([export], as_of=SAMPLES_AS_OF, out_dir=tmp_path / "out", dunning=dunning)
    failed, suppressed = read_manifest_lines(tmp_path / "out")
    assert failed["outcome"] == "failed"
    assert "letter/partials/rights.html:1" in failed["reason"]
    assert suppressed["outcome"] == "suppressed"
    assert summary.counts["failed"] == 1


def test_manifest_and_logs_carry_no_personal_data(
    sample_run: tuple[RunSummary, Path], tmp_path: Path, dunning: Dunning,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, out = sample_run
    manifest = (out / "manifest.jsonl").read_text("utf-8")
    rows = [r for p in SAMPLE_FILES for r in raw_rows(p)]
    for row in rows:
        for field in ("name", "id_number", "phone"):
            if row.get(field):
                assert row[field] not in manifest, (row["account_id"], field)
        assert row["address"].splitlines()[0] not in manifest
    # a run with rejections and failures logs account ids and reasons, never the personal fields
    bad = [_row("MT-000004", name="李\U00031350"),
           _row("MT-000005", id_number="110105194912310021")]
    with caplog.at_level(logging.DEBUG, logger="dunning"):
        run_batch([write_export(tmp_path / "in.csv", bad)], as_of=SAMPLES_AS_OF,
                  out_dir=tmp_path / "out", dunning=dunning)
    logged = caplog.text
    assert "MT-000004" in logged
    assert "MT-000005" in logged
    assert "李" not in logged
    assert "110105194912310021" not in logged
