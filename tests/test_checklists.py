"""Required content per jurisdiction and stage (config/checklists.yaml), planted defects in a
copy of the project: each gives its finding in the letters it applies to, and only there."""

from __future__ import annotations

from pathlib import Path

import pytest

from dunning.checklists import load_checklists
from dunning.errors import ConfigError
from dunning.rules import Finding
from dunning.settings import Settings

from .test_check import check, copy_project, edit


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return copy_project(tmp_path / "home")


def required(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.kind == "required"]


def test_the_hong_kong_agency_notice(home: Path) -> None:
    edit(home / "templates" / "letter" / "partials" / "consequences.html",
         'class="agency-conduct"', 'class="agency"')
    found = required(check(home, locales=["zh_HK", "en_GB"]))
    assert found
    assert {f.brand for f in found} == {"lungmun"}
    assert {f.stage for f in found} == {"formal", "final"}  # reminders name no agency
    assert {f.locale for f in found} >= {"zh_HK", "en_GB"}  # and sample records' own
    assert {f.file for f in found} == {"letter/partials/consequences.html"}
    assert "how to report improper conduct of the agency" in found[0].message
    assert found[0].advice
    assert 'class="agency-conduct"' in found[0].advice


def test_the_mainland_card_letter_needs_the_seal(home: Path) -> None:
    edit(home / "config" / "brands.yaml", "    seal: brands/mingtai/seal.svg\n", "")
    found = required(check(home, brands=["mingtai", "jinqiao"]))
    assert found
    assert {f.brand for f in found} == {"mingtai"}
    assert {f.file for f in found} == {"config/brands.yaml"}
    assert "the company seal" in found[0].message


def test_uk_letters_use_no_block_capitals(home: Path) -> None:
    edit(home / "templates" / "letter" / "partials" / "options.html",
         '<p class="how-to-pay">', '<p>{{ _("Overdue Payment Notice")|upper }}</p>\n'
         '  <p class="how-to-pay">')
    found = required(check(home, locales=["en_GB", "en_US"], stages=["formal"]))
    assert found
    assert {f.locale for f in found} == {"en_GB"}
    assert "OVERDUE PAYMENT NOTICE" in found[0].message


def test_a_checklist_mistake_names_file_line_and_key(home: Path) -> None:
    path = home / "config" / "checklists.yaml"
    edit(path, "applies: {stages: [formal, final]}", "applies: {stages: [formal, finale]}")
    line = next(n for n, t in enumerate(path.read_text("utf-8").splitlines(), 1)
                if "finale" in t)
    with pytest.raises(ConfigError) as info:
        load_checklists(Settings.at(home))
    assert info.value.line == line
    assert info.value.key == "checklists.credit_reporting.applies"
    assert "unknown finale" in info.value.message
