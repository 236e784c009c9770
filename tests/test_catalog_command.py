"""``dunning catalogs``: the catalogs follow the templates without make. On a copy of the
project: current catalogs are left as they are; a reworded sentence is added to every catalog
and reported, per locale, with its line, until it is translated; then the letter prints it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from babel.messages.pofile import read_po, write_po

from dunning.cli import main
from dunning.letter import Dunning
from dunning.rules import pdf_text_pages
from dunning.settings import Settings

from .helpers import ROOT, sample_record, squash


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    for folder in ("templates", "config", "locales", "src"):
        shutil.copytree(ROOT / folder, home / folder)
    shutil.copy(ROOT / "babel.cfg", home / "babel.cfg")
    return home


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_current_catalogs_are_left_alone(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(home / "locales")
    assert main(["--home", str(home), "catalogs"]) == 0
    out = capsys.readouterr().out
    assert "changed: nothing" in out
    assert "ok: every Chinese catalog is complete" in out
    assert snapshot(home / "locales") == before


def test_a_reworded_sentence_is_added_reported_and_then_printed(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    partial = home / "templates" / "letter" / "partials" / "contacts.html"
    partial.write_text(partial.read_text("utf-8").replace('_("Email")', '_("E-mail address")'),
                       "utf-8")
    assert main(["--home", str(home), "catalogs"]) == 1
    out = capsys.readouterr().out
    assert "new: 'E-mail address'" in out
    assert "no longer used: 'Email'" in out
    for locale in ("zh_CN", "zh_TW", "zh_HK"):
        po = home / "locales" / locale / "LC_MESSAGES" / "messages.po"
        line = next(n for n, t in enumerate(po.read_text("utf-8").splitlines(), 1)
                    if t == 'msgid "E-mail address"')
        assert f"locales/{locale}/LC_MESSAGES/messages.po:{line}: 'E-mail address': " \
               "translate it (msgstr)" in out
        assert '#~ msgid "Email"' in po.read_text("utf-8")  # the old one, to reuse
    assert "locales/messages.pot" in out
    # the author translates it in each catalog and runs the command again
    translated = {"zh_CN": "电子邮箱地址", "zh_TW": "電子郵件地址", "zh_HK": "電郵地址"}
    for locale, text in translated.items():
        po = home / "locales" / locale / "LC_MESSAGES" / "messages.po"
        with po.open("rb") as handle:
            catalog = read_po(handle, locale=locale)
        catalog["E-mail address"].string = text
        with po.open("wb") as handle:
            write_po(handle, catalog, width=100)
    assert main(["--home", str(home), "catalogs"]) == 0
    assert "ok: every Chinese catalog is complete" in capsys.readouterr().out
    dunning = Dunning.load(Settings.at(home))
    plan = dunning.plan_as(sample_record(dunning, "MT-000004"), "formal", locale="zh_CN")
    assert "电子邮箱地址" in squash("".join(pdf_text_pages(dunning.render(plan).pdf.data)))
