"""Required content per jurisdiction and stage, as checklists in ``config/checklists.yaml``.

Takes a letter's HTML with its stage, locale and brand, and the checklists; gives the
:class:`~dunning.rules.Finding` objects for each required item the letter lacks, naming the
checklist, the item and what to do. The checklists are data so that compliance extends them
without code: the credit-reporting advance notice of formal and final letters, the mainland card
rules' collection letter, the Hong Kong notice before an account goes to an agency, UK
prominence without block capitals (docs/domain.md §6).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from html.parser import HTMLParser
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .errors import ConfigError
from .policy import STAGES
from .rules import Finding
from .settings import SUPPORTED_LOCALES, Settings
from .wording import Language, Pattern, compile_pattern, language_of, text_blocks
from .yamlconf import load_yaml_file, validate_model


class Applies(BaseModel):
    """Which letters a checklist covers (all given conditions must hold)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    stages: list[str] | None = None
    locales: list[str] | None = None
    brands: list[str] | None = None
    when: dict[Language, list[Pattern]] | None = None

    @model_validator(mode="after")
    def _known(self) -> Applies:
        for name, allowed in (("stages", STAGES), ("locales", SUPPORTED_LOCALES)):
            unknown = set(getattr(self, name) or ()) - set(allowed)
            if unknown:
                raise ValueError(f"{name}: unknown {', '.join(sorted(unknown))} "
                                 f"(choose from {', '.join(allowed)})")
        return self


class Item(BaseModel):
    """One thing a letter must show, and how to see that it does."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1)
    fix: str = Field(min_length=1)
    sections: list[str] = []
    #: the class of an element the letter must have (with text, or an image)
    marker: str | None = None
    patterns: dict[Language, list[Pattern]] = {}
    #: the data-section the patterns are searched in (default: the whole letter)
    within: str | None = None
    block_capitals: bool | None = None
    #: the file that holds it, for the finding (a template under templates/, or a config file)
    file: str | None = None

    @model_validator(mode="after")
    def _something_to_check(self) -> Item:
        if not (self.sections or self.marker or self.patterns or self.block_capitals is False):
            raise ValueError("an item needs sections, marker, patterns or block_capitals: false")
        return self


class Checklist(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1)
    applies: Applies = Applies()
    items: list[Item] = Field(min_length=1)


class Checklists(BaseModel):
    """``config/checklists.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    checklists: dict[str, Checklist]


def checklists_file(settings: Settings) -> Path:
    return settings.config_dir / "checklists.yaml"


def load_checklists(settings: Settings) -> Checklists:
    """Read and validate ``config/checklists.yaml`` (ConfigError naming file, line, key)."""
    path = checklists_file(settings)
    if not path.is_file():
        raise ConfigError("missing: the required-content checklists are required",
                          path=str(path))
    return validate_model(Checklists, load_yaml_file(path), path=str(path))


# --------------------------------------------------------------------------- the letter


class _Letter(HTMLParser):
    """The text of each section (``data-section``) and the classes of the elements that
    have text or are images."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.sections: dict[str, list[str]] = {}
        self.classes: set[str] = set()
        self._open: list[tuple[str, str | None, list[str]]] = []
        self._skip = 0
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in ("style", "script", "head"):
            self._skip += 1
        classes = (values.get("class") or "").split()
        if tag == "img" and values.get("src"):
            self.classes.update(classes)
            return
        if tag in ("br", "hr", "meta", "link", "img", "input"):
            return
        section = values.get("data-section")
        if section:
            self.sections.setdefault(section, [])
        self._open.append((tag, section, classes))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script", "head"):
            self._skip = max(0, self._skip - 1)
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i][0] == tag:
                del self._open[i:]
                break

    def handle_data(self, data: str) -> None:
        if self._skip or not data.strip():
            return
        for _, section, classes in self._open:
            if section:
                self.sections[section].append(data)
            self.classes.update(classes)

    def section(self, name: str) -> str:
        return " ".join(" ".join(self.sections.get(name, [])).split())


#: Words in capitals for prominence: two or more capitalised words in a row, or one long one
#: (acronyms such as FCA or HKMA are short and stand alone).
_CAPITALS = re.compile(r"\b[A-Z]{3,}(?:[ ,!:-]+[A-Z]{2,})+\b|\b[A-Z]{6,}\b")


def _matches(patterns: Mapping[Language, Sequence[str]], text: str) -> bool:
    return any(compile_pattern(p, lang).search(text) for lang, ps in patterns.items() for p in ps)


def applies(checklist: Checklist, *, stage: str, locale: str, brand: str, text: str) -> bool:
    rule = checklist.applies
    return ((rule.stages is None or stage in rule.stages)
            and (rule.locales is None or locale in rule.locales)
            and (rule.brands is None or brand in rule.brands)
            and (rule.when is None or _matches(rule.when, text)))


def missing_items(item: Item, letter: _Letter, text: str, locale: str) -> str | None:
    """Why the letter lacks ``item`` (None when it has it)."""
    for name in item.sections:
        if not letter.section(name):
            return f"its {name!r} section is missing or empty"
    if item.marker and item.marker not in letter.classes:
        return f'no element with class="{item.marker}"'
    if item.patterns:
        where = letter.section(item.within) if item.within else text
        language = language_of(locale)
        own = {language: item.patterns[language]} if language in item.patterns \
            else item.patterns
        if not _matches(own, where):
            place = f"its {item.within!r} section" if item.within else "it"
            return f"nothing in {place} says it"
    if item.block_capitals is False:
        found = _CAPITALS.search(text)
        if found:
            return f"it has words in block capitals: “{found.group(0)}”"
    return None


def checklist_findings(markup: str, *, stage: str, locale: str, brand: str,
                       checklists: Checklists, template: str,
                       own: Sequence[str] = ()) -> list[Finding]:
    """The required items of every applicable checklist that the letter lacks. ``own``: the
    borrower's and the brand's own texts (a name in capitals is not prominence)."""
    letter = _Letter(markup)
    text = "\n".join(text_blocks(markup))
    for value in sorted((o for o in own if len(o) > 1), key=len, reverse=True):
        text = text.replace(value, "…")
    findings = []
    for key, checklist in checklists.checklists.items():
        if not applies(checklist, stage=stage, locale=locale, brand=brand, text=text):
            continue
        for item in checklist.items:
            why = missing_items(item, letter, text, locale)
            if why:
                findings.append(Finding(
                    "error", "required",
                    f"{checklist.name} must show {item.name}; this letter does not ({why})",
                    file=item.file or template, template=template, advice=item.fix,
                    subject=f"{key}: {item.name}"))
    return findings
