"""docs/authoring.md (observation 9) covers what an author works with: every template file,
every variable and filter a template may use, every category and checklist of the checks, and
the workflows (a brand, a sentence, a stage's wording, translation without make)."""

from __future__ import annotations

import dataclasses

import pytest

from dunning.checklists import load_checklists
from dunning.compose import filters_for, letter_context
from dunning.letter import Dunning
from dunning.settings import Settings
from dunning.wording import load_wording

from .helpers import ROOT, sample_record

DOC = ROOT / "docs" / "authoring.md"


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text("utf-8")


def test_every_template_file_is_mapped(doc: str) -> None:
    for path in sorted((ROOT / "templates" / "letter").rglob("*.html")):
        name = path.relative_to(ROOT / "templates").as_posix()
        assert f"`{name}`" in doc or f"`{path.name}`" in doc, name


def test_every_variable_and_filter_is_documented(doc: str, dunning: Dunning) -> None:
    record = sample_record(dunning, "MT-000004")
    plan = dunning.plan_as(record, "formal")
    assert plan.stage is not None
    assert plan.options is not None
    context = letter_context(record=record, brand=dunning.brands[record.brand],
                             policy=dunning.policy_for(record), stage=plan.stage,
                             locale=plan.locale, items=plan.items, options=plan.options,
                             as_of=plan.as_of)
    names = ["title"]
    for key, value in context.items():
        if isinstance(value, dict):
            names += [f"{key}.{sub}" for sub in value]
        elif dataclasses.is_dataclass(value):
            names += [f"{key}.{f.name}" for f in dataclasses.fields(value)]
        else:
            names.append(key)
    missing = [n for n in names if f"`{n}`" not in doc and f"`{n}." not in doc]
    assert not missing, f"docs/authoring.md does not document {missing}"
    filters = [f for f in filters_for("zh_CN") if f"`{f}" not in doc]
    assert not filters, f"docs/authoring.md does not document the filters {filters}"


def test_every_check_and_how_to_extend_it(doc: str) -> None:
    settings = Settings.at(ROOT)
    for category in load_wording(settings).categories.values():
        assert category.name in doc, category.name
    for key in load_checklists(settings).checklists:
        assert f"`{key}`" in doc, key
    for heading in ("## Adding a sentence", "## Changing a stage's wording", "## Adding a brand",
                    "## Translation without make", "## What the checks enforce"):
        assert heading in doc, heading
    assert "dunning catalogs" in doc
    assert "tests/data/wording_corpus.yaml" in doc
