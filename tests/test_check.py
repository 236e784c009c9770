"""``dunning check`` and ``dunning.rules``: the check passes on the real templates; each kind
of defect, planted in a temporary copy of the project, gives its finding (kind, file, line) and
a non-zero exit."""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import pytest

from dunning.check import format_report, run_checks
from dunning.cli import main
from dunning.letter import Dunning
from dunning.preview.workspace import clear_caches
from dunning.rules import Finding, load_wording, pdf_text_pages
from dunning.settings import SUPPORTED_LOCALES, Settings
from dunning.wording import scan

from .helpers import ROOT, SAMPLE_FILES, raw_rows, sample_record, squash


def copy_project(target: Path) -> Path:
    for folder in ("templates", "config", "locales", "data/samples"):
        shutil.copytree(ROOT / folder, target / folder)
    return target


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return copy_project(tmp_path / "home")


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text("utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), "utf-8")


def check(home: Path, **scope: object) -> list[Finding]:
    """Findings for a quick check of ``home``: zh_CN, the YAML samples, HTML only."""
    dunning = Dunning.load(Settings.at(home))
    options: dict[str, object] = {"locales": ["zh_CN"], "pdf": False,
                                  "samples": [home / "data" / "samples" / "accounts.yaml"]}
    options.update(scope)
    return run_checks(dunning, **options).findings  # type: ignore[arg-type]


def kinds(findings: list[Finding]) -> set[str]:
    return {f.kind for f in findings}


def test_real_templates_pass(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--home", str(ROOT), "check", "--no-pdf"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "ok: 0 distinct finding(s)" in out
    # every sample record was rendered at least once
    records = sum(len(raw_rows(p)) for p in SAMPLE_FILES)
    assert f"{records} sample record(s) once each" in out


def test_real_templates_pass_in_pdf(dunning: Dunning) -> None:
    """The PDF-level checks (fonts, footer on every page, assets) on one brand."""
    brand = dunning.brands.keys()[0]
    report = run_checks(dunning, brands=[brand], samples=[SAMPLE_FILES[1]])
    assert report.pdfs >= 3
    assert not report.findings, format_report(report)


@pytest.mark.parametrize(("locale", "statement"), [
    ("zh_CN", "我司仅以合法方式催收，不会威胁、骚扰或侮辱您，"
              "也不会向与本债务无关的第三人透露本债务。"),
    ("en_US", "We collect debts only by lawful means. We will not threaten, harass or insult "
              "you, and we will not discuss this debt with third parties who have no part in it."),
])
def test_lawful_collection_statement_is_not_prohibited(locale: str, statement: str) -> None:
    assert scan(statement, load_wording(Settings.at(ROOT))) == []


def test_english_typed_into_a_template_is_caught_in_every_locale(home: Path) -> None:
    """Observation 1: plain English in a template prints in the zh letters too; it is found
    there as a legal threat and as untranslated text, at the template's line."""
    partial = home / "templates" / "letter" / "partials" / "signature.html"
    edit(partial, "</section>", "<p>we will have you arrested</p>\n</section>")
    line = next(n for n, t in enumerate(partial.read_text("utf-8").splitlines(), 1)
                if "arrested" in t)
    dunning = Dunning.load(Settings.at(home))
    plan = dunning.plan_as(sample_record(dunning, "MT-000004"), "formal", locale="zh_CN")
    printed = squash("".join(pdf_text_pages(dunning.render(plan).pdf.data)))
    assert "wewillhaveyouarrested" in printed
    findings = check(home, locales=list(SUPPORTED_LOCALES))
    where = {(f.kind, f.file, f.line) for f in findings}
    assert where == {("wording", "letter/partials/signature.html", line),
                     ("untranslated", "letter/partials/signature.html", line)}
    wording = {f.locale for f in findings if f.kind == "wording"}
    assert wording == set(SUPPORTED_LOCALES)
    assert {f.locale for f in findings if f.kind == "untranslated"} == {
        "zh_CN", "zh_TW", "zh_HK"}
    threat = next(f for f in findings if f.kind == "wording")
    assert "false authority or legal threats" in threat.message
    assert threat.advice
    assert "civil claim" in threat.advice


def test_a_paraphrase_is_caught_not_only_listed_words(home: Path) -> None:
    """Observation 2: contacting relatives, friends and the employer, and sending people to
    the home, in words no list had, traced to the catalog entry."""
    po = home / "locales" / "zh_CN" / "LC_MESSAGES" / "messages.po"
    text = po.read_text("utf-8")
    line = next(n for n, t in enumerate(text.splitlines(), 1) if "我司仅以合法方式催收" in t)
    threat = "我们将联系你的亲戚朋友和老板，并派人到你家里找你。"
    edit(po, "我司仅以合法方式催收", threat + "我司仅以合法方式催收")
    findings = [f for f in check(home) if f.kind == "wording"]
    categories = {f.message.split("read as ")[1].split(",")[0] for f in findings}
    assert categories == {"contacting third parties", "visits and violence"}
    assert {(f.file, f.line) for f in findings} == {
        ("locales/zh_CN/LC_MESSAGES/messages.po", line)}


def test_prohibited_word(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    po = home / "locales" / "zh_CN" / "LC_MESSAGES" / "messages.po"
    text = po.read_text("utf-8")
    # the lawful-collection statement of zh_CN, made unlawful
    line = next(n for n, t in enumerate(text.splitlines(), 1) if "我司仅以合法方式催收" in t)
    edit(po, "我司仅以合法方式催收", "如不还款我司将通知您的家人和公安机关。我司仅以合法方式催收")
    findings = [f for f in check(home) if f.kind == "wording"]
    assert {f.subject for f in findings} == {"家人", "公安"}
    assert {(f.file, f.line) for f in findings} == {
        ("locales/zh_CN/LC_MESSAGES/messages.po", line)}
    assert all(f.locale == "zh_CN" and f.stage and f.brand and f.sample for f in findings)
    assert main(["--home", str(home), "check", "--no-pdf"]) == 1
    out = capsys.readouterr().out
    assert f"locales/zh_CN/LC_MESSAGES/messages.po:{line}: error [wording]" in out


def test_allowed_phrase_is_not_a_finding(home: Path) -> None:
    wording = home / "config" / "wording.yaml"
    edit(wording, "allowed: {}", "allowed: {zh_Hans: [公安路]}")
    rules = load_wording(Settings.at(home))
    assert scan("请寄往公安路 12 号", rules) == []
    assert [h.matched for h in scan("请联系公安", rules)] == ["公安"]


def test_borrower_address_is_not_wording(home: Path, tmp_path: Path) -> None:
    rows = [r for r in raw_rows(SAMPLE_FILES[0]) if r["account_id"] == "MT-000004"]
    rows[0]["address"] = "云南省昆明市\n公安路 1 号"
    export = tmp_path / "one.csv"
    with export.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert check(home, samples=[export]) == []


def test_removed_section(home: Path) -> None:
    edit(home / "templates" / "letter" / "letter.html",
         '{% include "letter/partials/rights.html" %}', "")
    findings = check(home)
    missing = [f for f in findings if f.kind == "section"]
    assert missing
    assert all("'rights'" in f.message for f in missing)
    assert {f.stage for f in missing} == {"reminder", "formal", "final"}
    assert missing[0].file == "letter/letter.html"


def test_removed_credit_notice(home: Path) -> None:
    edit(home / "templates" / "letter" / "partials" / "consequences.html",
         'class="credit-notice"', 'class="notice"')
    findings = [f for f in check(home) if f.kind == "required"]
    assert findings
    assert {f.stage for f in findings} == {"formal", "final"}
    assert all("credit-reporting advance notice" in f.message for f in findings)
    assert {f.file for f in findings} == {"letter/partials/consequences.html"}


def test_undefined_variable(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    partial = home / "templates" / "letter" / "partials" / "signature.html"
    partial.write_text('<section class="signature" data-section="signature">\n'
                       "<p>{{ borrower.nickname }}</p>\n</section>\n", "utf-8")
    findings = [f for f in check(home) if f.kind == "undefined"]
    assert {(f.file, f.line) for f in findings} == {("letter/partials/signature.html", 2)}
    assert "nickname" in findings[0].message
    assert main(["--home", str(home), "check", "--no-pdf"]) == 1
    out = capsys.readouterr().out
    assert "letter/partials/signature.html:2: error [undefined]" in out
    assert "Traceback" not in out


def test_syntax_error(home: Path) -> None:
    (home / "templates" / "letter" / "partials" / "status.html").write_text(
        "<section>\n{% if items.dpd %}\n<p>x</p>\n", "utf-8")
    findings = check(home)
    assert kinds(findings) == {"syntax"}
    assert findings[0].file == "letter/partials/status.html"
    # every letter's check finds it, and the compile of every template: one problem
    assert len({f.key() for f in findings}) == 1


def test_a_broken_template_no_letter_uses_yet_is_found(home: Path) -> None:
    """A partial being written, not yet included anywhere: the nightly run's pre-flight
    compiles every template and would stop on it, so the check says so first."""
    (home / "templates" / "letter" / "partials" / "draft.html").write_text(
        "<p>{{ borrower.name }</p>\n", "utf-8")
    findings = check(home)
    assert [(f.kind, f.file, f.line, f.severity) for f in findings] == [
        ("syntax", "letter/partials/draft.html", 1, "error")]
    assert findings[0].message.startswith("the template does not follow Jinja's syntax here")


def test_out_of_hours_brand(home: Path) -> None:
    brands = home / "config" / "brands.yaml"
    dunning = Dunning.load(Settings.at(home))
    key = dunning.brands.keys()[0]
    hours = dunning.brands[key].hotline_hours
    text = brands.read_text("utf-8")
    block = text.index(f"\n  {key}:")
    body = text[block:].replace(f'open: "{hours.open}"', 'open: "07:00"', 1)
    brands.write_text(text[:block] + body, "utf-8")
    line = next(n for n, t in enumerate(brands.read_text("utf-8").splitlines(), 1)
                if 'open: "07:00"' in t)
    findings = [f for f in check(home, brands=[key]) if f.kind == "hours"]
    assert [(f.file, f.line, f.brand) for f in findings] == [("config/brands.yaml", line, key)]
    assert "07:00" in findings[0].message
    # a brand may say otherwise, in config/wording.yaml
    edit(home / "config" / "wording.yaml", "  brands: {}",
         f'  brands: {{{key}: {{earliest: "07:00", latest: "21:00"}}}}')
    assert [f for f in check(home, brands=[key]) if f.kind == "hours"] == []


def test_hours_in_a_template(home: Path) -> None:
    edit(home / "templates" / "letter" / "partials" / "contacts.html",
         "close=brand.hotline_hours.close", 'close="23:30"')
    findings = [f for f in check(home) if f.kind == "hours"]
    assert findings
    assert findings[0].file == "letter/partials/contacts.html"


def test_missing_translation(home: Path) -> None:
    partial = home / "templates" / "letter" / "partials" / "contacts.html"
    line = next(n for n, t in enumerate(partial.read_text("utf-8").splitlines(), 1)
                if '_("Email")' in t)
    edit(partial, '_("Email")', '_("E-mail address")')
    findings = [f for f in check(home, samples=[]) if f.kind == "translation"]
    assert [(f.file, f.line, f.locale) for f in findings] == [
        ("letter/partials/contacts.html", line, "zh_CN")]
    assert "“E-mail address” has no translation in zh_CN" in findings[0].message
    # every locale that lost it, in one finding, and in an English check too
    findings = [f for f in check(home, samples=[], locales=["en_GB", "zh_CN", "zh_HK"])
                if f.kind == "translation"]
    assert len(findings) == 1
    assert "no translation in zh_CN, zh_HK" in findings[0].message
    assert "dunning catalogs" in (findings[0].advice or "")


def test_untranslated_entry(home: Path) -> None:
    po = home / "locales" / "zh_CN" / "LC_MESSAGES" / "messages.po"
    text = po.read_text("utf-8")
    entry = re.search(r'msgid "Email"\nmsgstr "([^"]+)"', text)
    assert entry
    po.write_text(text.replace(entry.group(0), 'msgid "Email"\nmsgstr ""'), "utf-8")
    findings = [f for f in check(home, samples=[]) if f.kind == "translation"]
    assert len(findings) == 1
    assert "left empty in locales/zh_CN/LC_MESSAGES/messages.po" in findings[0].message


def test_uncovered_glyph(home: Path, tmp_path: Path) -> None:
    rows = [r for r in raw_rows(SAMPLE_FILES[0]) if r["account_id"] == "MT-000004"]
    rows[0]["name"] = "王\U00031350明"
    export = tmp_path / "glyph.csv"
    with export.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    findings = check(home, samples=[export])
    assert kinds(findings) == {"glyph"}
    assert "U+31350" in findings[0].message
    assert findings[0].sample
    assert "MT-000004" in findings[0].sample


def test_missing_footer(home: Path) -> None:
    base = home / "templates" / "letter" / "base.html"
    lines = base.read_text("utf-8").splitlines(keepends=True)
    base.write_text("".join(t for t in lines if "@bottom-right" not in t), "utf-8")
    dunning = Dunning.load(Settings.at(home))
    report = run_checks(dunning, locales=["zh_CN"], brands=[dunning.brands.keys()[0]],
                        stages=["final"], samples=[home / "data/samples/accounts.yaml"])
    findings = [f for f in report.findings if f.kind == "section"]
    assert findings
    assert "page number" in findings[0].message
    assert findings[0].file == "letter/base.html"
    assert report.exit_code == 1


def test_bad_sample_record_is_reported(home: Path) -> None:
    findings = check(home, samples=[home / "data/samples/bad/bad_records.yaml"])
    records = [f for f in findings if f.kind == "record"]
    assert records
    assert all(f.file == "data/samples/bad/bad_records.yaml" and f.line for f in records)


def test_one_letter_reports_all_its_problems(home: Path) -> None:
    """Observation 8: an undefined variable no longer hides the wording findings of the same
    letter, nor another undefined variable further down."""
    partial = home / "templates" / "letter" / "partials" / "signature.html"
    edit(partial, "</section>", "<p>{{ borrower.nickname }}</p>\n<p>我们会通知你的老板。</p>\n"
         "<p>{{ brand.motto }}</p>\n</section>")
    findings = check(home, stages=["formal"])
    assert {(f.kind, f.file) for f in findings} >= {
        ("undefined", "letter/partials/signature.html"),
        ("wording", "letter/partials/signature.html")}
    undefined = {f.message for f in findings if f.kind == "undefined"}
    assert any("nickname" in m for m in undefined)
    assert any("motto" in m for m in undefined)


def test_errors_in_an_authors_words(home: Path) -> None:
    """Observation 6: what Jinja and Babel say, in words a template author acts on."""
    partial = home / "templates" / "letter" / "partials" / "signature.html"
    edit(partial, "</section>", "<p>{{ brand.nickname }}</p>\n</section>")
    found = [f for f in check(home, stages=["formal"]) if f.kind == "undefined"]
    brand = Dunning.load(Settings.at(home)).brands.keys()
    assert found
    message = found[0].message
    assert "'dict object'" not in message
    assert message.startswith(f"brand '{found[0].brand}' has no field 'nickname'; brands have: ")
    assert "hotline" in message
    assert found[0].brand in brand
    # a translation that names a placeholder its sentence does not have
    po = home / "locales" / "zh_CN" / "LC_MESSAGES" / "messages.po"
    edit(po, 'msgstr "%(days)s 天"', 'msgstr "%(日期)s 天"')
    edit(partial, "<p>{{ brand.nickname }}</p>\n", "")
    clear_caches()  # the catalog was read by the first check
    found = [f for f in check(home, stages=["formal"]) if f.kind == "template"]
    assert found
    assert "KeyError" not in found[0].message
    assert "%(日期)s" in found[0].message
    assert "%(days)s" in found[0].message


def test_a_missing_translation_is_said_plainly(home: Path) -> None:
    """Observation 6: no "MissingTranslationError", no "make catalogs"."""
    partial = home / "templates" / "letter" / "partials" / "contacts.html"
    edit(partial, '_("Email")', '_("E-mail address")')
    found = [f for f in check(home, stages=["formal"]) if f.kind == "template"]
    assert found
    assert all("MissingTranslationError" not in f.message for f in found)
    assert all("make catalogs" not in f.message for f in found)
    assert "dunning catalogs" in found[0].message
    assert found[0].file == "letter/partials/contacts.html"


def test_a_brand_stylesheet_linked_to_a_device_is_reported_with_its_file(home: Path) -> None:
    """A brand's stylesheet replaced by a link to /dev/zero is a finding naming the file and
    why, not a file the stylesheet check passes over (it took only regular files)."""
    dunning = Dunning.load(Settings.at(home))
    brand = dunning.brands.keys()[0]
    name = str(dunning.brands[brand].stylesheet)
    sheet = home / "templates" / "assets" / name
    sheet.unlink()
    sheet.symlink_to("/dev/zero")
    report = run_checks(dunning, locales=["zh_CN"], brands=[brand], stages=["formal"],
                        samples=[home / "data/samples/accounts.yaml"])
    found = [f for f in report.findings if f.kind == "stylesheet"]
    assert [(f.file, f.message) for f in found] == [
        (f"templates/assets/{name}",
         "the stylesheet cannot be read: a device or a pipe, not a regular file")]


def test_a_stylesheet_problem_is_reported_once_with_its_file(home: Path) -> None:
    """Observation 5, in the check: the stylesheet and line, once, not WeasyPrint's report."""
    dunning = Dunning.load(Settings.at(home))
    brand = dunning.brands.keys()[0]
    sheet = home / "templates" / "assets" / str(dunning.brands[brand].stylesheet)
    lines = sheet.read_text("utf-8").splitlines()
    lines.insert(1, ".letterhead { color: ; }")
    sheet.write_text("\n".join(lines) + "\n", "utf-8")
    report = run_checks(dunning, locales=["zh_CN"], brands=[brand], stages=["formal"],
                        samples=[home / "data/samples/accounts.yaml"])
    found = [f for f in report.findings if f.kind == "stylesheet"]
    assert {(f.file, f.line) for f in found} == {
        (f"templates/assets/{dunning.brands[brand].stylesheet}", 2)}
    assert not any(f.kind == "weasyprint" for f in report.findings)
    assert "has no value" in found[0].message


def test_the_report_shows_the_lines_around_each_finding(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Observation 3, in the check: the excerpt under a finding, long lines wrapped."""
    partial = home / "templates" / "letter" / "partials" / "signature.html"
    long = "<p>我们会通知你的老板。" + "这是一段很长的文字，" * 30 + "</p>"
    edit(partial, "</section>", long + "\n<p>after</p>\n</section>")
    assert main(["--home", str(home), "check", "--no-pdf"]) == 1
    out = capsys.readouterr().out
    assert "    >" in out
    assert "| <p>after</p>" in out
    shown = [t for t in out.splitlines() if t.startswith("    ")]
    assert max(len(t) for t in shown if "|" in t) <= 110


def test_check_lists_every_missing_field_of_a_new_brand_on_the_command_line(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Observation 8 on the command line: a brand without its fields does not stop the
    check at the first one; every problem of the brands file is listed, in plain words."""
    brands = home / "config" / "brands.yaml"
    edit(brands, "brands:\n", "brands:\n  newco:\n    legal_name: New Co\n"
                              "    hotlne: 400-000-0000\n")
    code = main(["--home", str(home), "check", "--no-pdf"])
    out = capsys.readouterr().out
    assert code == 1
    for field_name in ("short_name", "hotline", "email", "website", "logo"):
        assert f"brand 'newco' has no '{field_name}', which every brand needs" in out
    assert "'hotlne' is not a brand field; did you mean 'hotline'?" in out
    assert "config/brands.yaml:" in out
    assert "the configuration does not load" in out


def test_a_misspelt_field_of_a_schedule_row_names_the_row_fields(home: Path) -> None:
    """A schedule row (an installment) answers a misspelt field with the fields it has, as
    every other value of a letter does."""
    partial = home / "templates" / "letter" / "partials" / "schedule.html"
    partial.write_text(partial.read_text("utf-8").replace(
        "{{ row.payment|amount(cur) }}", "{{ row.paymnt|amount(cur) }}"), "utf-8")
    findings = [f for f in check(home) if f.kind == "undefined"]
    assert findings, "a misspelt field was not found"
    assert {f.file for f in findings} == {"letter/partials/schedule.html"}
    assert ("'paymnt' is not a field of this value; it has: number, due, principal, "
            "interest, payment, balance") in findings[0].message


def test_check_takes_exports_as_arguments_like_run(capsys: pytest.CaptureFixture[str]) -> None:
    """``dunning check FILE`` reads the exports given as arguments, as ``run`` and ``render``
    do (``--input``/``--samples`` still work): only that file's records are rendered."""
    one = SAMPLE_FILES[1]
    code = main(["--home", str(ROOT), "check", str(one), "--no-pdf"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"{len(raw_rows(one))} sample record(s) once each" in out
    assert main(["--home", str(ROOT), "check", "--input", str(one), "--no-pdf"]) == 0
    assert f"{len(raw_rows(one))} sample record(s) once each" in capsys.readouterr().out
