"""The prohibited-content patterns of config/wording.yaml against tests/data/wording_corpus.yaml:
every prohibited sentence is caught, no lawful one is flagged; recall and false positives are
printed per language and category (``pytest -s tests/test_wording.py -k corpus``). And the
validation of wording.yaml: a broken pattern or a missing language is named with file, line and
key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from dunning.errors import ConfigError
from dunning.settings import Settings
from dunning.wording import LANGUAGES, load_wording, scan, strays

from .helpers import ROOT

CORPUS = ROOT / "tests" / "data" / "wording_corpus.yaml"


def corpus() -> dict[str, Any]:
    return yaml.safe_load(CORPUS.read_text("utf-8"))  # type: ignore[no-any-return]


def test_corpus_is_big_enough_and_covers_every_category() -> None:
    rules = load_wording(Settings.at(ROOT))
    data = corpus()
    assert set(data) == set(LANGUAGES)
    for language, parts in data.items():
        assert set(parts["prohibited"]) == set(rules.categories), language
        assert sum(len(s) for s in parts["prohibited"].values()) >= 50, language
        assert len(parts["lawful"]) >= 50, language
        assert all(len(s) >= 5 for s in parts["prohibited"].values()), language


def test_corpus_recall_and_false_positives(capsys: pytest.CaptureFixture[str]) -> None:
    rules = load_wording(Settings.at(ROOT))
    missed: list[str] = []
    flagged: list[str] = []
    rows = []
    for language, parts in corpus().items():
        for category, sentences in parts["prohibited"].items():
            caught = [s for s in sentences if scan(s, rules)]
            own = [s for s in sentences if any(h.category == category for h in scan(s, rules))]
            missed += [f"{language} {category}: {s}" for s in sentences if s not in caught]
            wrongly = [s for s in parts["lawful"]
                       if any(h.category == category for h in scan(s, rules))]
            rows.append(f"{language:8} {category:16} recall {len(caught):3}/{len(sentences):<3}"
                        f" (by its own category {len(own)}/{len(sentences)})"
                        f"  false positives {len(wrongly)}/{len(parts['lawful'])}")
        false = [(s, scan(s, rules)) for s in parts["lawful"]]
        false = [(s, hits) for s, hits in false if hits]
        flagged += [f"{language}: {s} <- {[(h.category, h.matched) for h in hits]}"
                    for s, hits in false]
        total = sum(len(s) for s in parts["prohibited"].values())
        caught_all = total - sum(1 for m in missed if m.startswith(language + " "))
        rows.append(f"{language:8} {'ALL':16} recall {caught_all:3}/{total:<3} "
                    f"false positives {len(false)}/{len(parts['lawful'])}")
    with capsys.disabled():
        print("\nwording corpus (tests/data/wording_corpus.yaml):\n" + "\n".join(rows))  # noqa: T201
    assert not missed, "not caught:\n" + "\n".join(missed)
    assert not flagged, "lawful but flagged:\n" + "\n".join(flagged)


def write_rules(tmp_path: Path, text: str) -> Settings:
    (tmp_path / "config").mkdir(exist_ok=True)
    (tmp_path / "config" / "wording.yaml").write_text(text, "utf-8")
    return Settings.at(tmp_path)


def test_a_broken_pattern_names_file_line_and_key(tmp_path: Path) -> None:
    text = (ROOT / "config" / "wording.yaml").read_text("utf-8")
    broken = text.replace("- 老赖|不要脸", "- (老赖|不要脸", 1)
    line = next(n for n, t in enumerate(broken.splitlines(), 1) if "(老赖|不要脸" in t)
    settings = write_rules(tmp_path, broken)
    with pytest.raises(ConfigError) as info:
        load_wording(settings)
    error = info.value
    assert (error.key, error.line) == ("categories.insults.patterns.zh_Hans.0", line)
    assert "not a valid pattern" in error.message
    assert "missing )" in error.message


def test_a_category_without_a_language_is_refused(tmp_path: Path) -> None:
    settings = write_rules(tmp_path, "categories:\n  insults:\n    name: insults\n"
                           "    advice: be polite\n    patterns:\n      en: [scum]\n")
    with pytest.raises(ConfigError) as info:
        load_wording(settings)
    assert "no patterns for zh_Hans, zh_Hant" in info.value.message


def test_english_in_a_chinese_letter_is_found_and_names_are_not() -> None:
    found = strays(["您好，张伟 Zhang Wei Smith。we will have you arrested", "客服 help@x.com"],
                   "zh_CN", own=["Zhang Wei Smith"])
    assert [(s.what, s.text) for s in found] == [("latin", "we will have you arrested")]
    assert [s.what for s in strays(["欠款请尽快还款"], "zh_TW")] == ["script"]
    assert strays(["We will have you arrested 王小明"], "en_GB") == []
