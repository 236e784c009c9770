"""What a letter must and must not contain, as findings an author can act on.

Takes one letter (its HTML, the text of its PDF pages, its record and coordinates), the
project's catalogs and config; gives :class:`Finding` objects with the file and line to fix:

- the sections of ``docs/domain.md`` §2 (``data-section`` attributes) and the footer;
- the prohibited content of §6 by category, in any language, and untranslated text, with
  :mod:`dunning.wording` and ``config/wording.yaml``;
- contact hours outside the allowed window (08:00–21:00 unless a brand says otherwise);
- message ids the templates use that a locale's catalogs do not translate;
- the error that stopped a letter (template file and line, config file and key).

``dunning.check`` applies these rules to every letter of a check run; the preview to the
letter on screen.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Literal

import jinja2
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po

from .errors import ConfigError, DunningError, RenderError, TemplateError
from .letter import Dunning
from .locale import catalog_files, parse_locale, translations
from .plan import Plan
from .records import Record
from .settings import SUPPORTED_LOCALES, Settings, fallback_chain
from .wording import (
    HoursWindow,
    Source,
    WordingRules,
    load_wording,
    locate,
    scan,
    strays,
    text_blocks,
    wording_file,
)
from .yamlconf import yaml_line

__all__ = ["Finding", "HoursWindow", "WordingRules", "load_wording", "wording_file"]

Severity = Literal["error", "warning"]

#: The sections of docs/domain.md §2, by their ``data-section`` names, in letter order.
#: The footer (§2.12) lives in ``@page`` rules and is checked in the PDF's text.
SECTIONS: tuple[str, ...] = (
    "letterhead", "addressee", "title", "identity", "status", "itemization",
    "consequences", "options", "contacts", "rights", "signature",
)


# --------------------------------------------------------------------------- findings


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem: what (``kind``, ``message``, in plain words), what to do (``advice``),
    where (``file``, ``line``: the template line, catalog entry or config key the author edits)
    and in which letter (``template``, ``stage``, ``locale``, ``brand``, ``sample``) it showed.
    ``subject`` is what the problem is about (the words matched), when the message quotes a
    letter's text that differs from letter to letter."""

    severity: Severity
    kind: str
    message: str
    file: str | None = None
    line: int | None = None
    template: str | None = None
    stage: str | None = None
    locale: str | None = None
    brand: str | None = None
    sample: str | None = None
    advice: str | None = None
    subject: str | None = None

    @property
    def where(self) -> str:
        if self.file and self.line:
            return f"{self.file}:{self.line}"
        return self.file or ""

    def key(self) -> tuple[Any, ...]:
        """What makes two findings the same problem (in different letters)."""
        return (self.severity, self.kind, self.subject or self.message, self.file, self.line)

    def letter(self) -> str:
        parts = [f"{name} {value}" for name, value in (
            ("template", self.template), ("locale", self.locale), ("stage", self.stage),
            ("brand", self.brand), ("sample", self.sample)) if value]
        return " · ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    def __str__(self) -> str:
        where = f"{self.where}: " if self.where else ""
        advice = f"\n    what to do: {self.advice}" if self.advice else ""
        return f"{where}{self.severity} [{self.kind}] {self.message}{advice}"


# --------------------------------------------------------------------------- hours


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def hours_outside(open_: str, close: str, window: HoursWindow) -> bool:
    """Whether the hours ``open_``–``close`` reach outside ``window``.

    >>> hours_outside("09:00", "21:00", HoursWindow())
    False
    >>> hours_outside("07:30", "20:00", HoursWindow())
    True
    """
    return (_minutes(open_) < _minutes(window.earliest)
            or _minutes(close) > _minutes(window.latest)
            or _minutes(close) <= _minutes(open_))


# --------------------------------------------------------------------------- templates


@dataclass(frozen=True, slots=True)
class Msgid:
    """A message id a template uses, and where."""

    text: str
    file: str
    line: int


def template_messages(templates_dir: Path) -> list[Msgid]:
    """Every gettext message of the templates (as ``pybabel extract`` sees them)."""
    found: list[Msgid] = []
    for path in sorted(templates_dir.rglob("*.html")):
        if not path.is_file():  # a folder, or a link to a device or pipe: never read
            continue
        rel = path.relative_to(templates_dir).as_posix()
        try:
            extracted = list(extract_from_file(
                "jinja2", str(path),
                options={"extensions": "jinja2.ext.i18n"}))
        except (jinja2.TemplateSyntaxError, UnicodeDecodeError):
            continue  # reported as a template error when the letter renders
        for lineno, message, _comments, _context in extracted:
            ids = message if isinstance(message, tuple) else (message,)
            found.extend(Msgid(text=m, file=rel, line=lineno) for m in ids if m)
    return found


# --------------------------------------------------------------------------- translations


def _read_catalog(po: Path, locale: str) -> Catalog | None:
    if not po.is_file():
        return None
    with po.open("rb") as handle:
        return read_po(handle, locale=locale)


def _catalogs(settings: Settings, locale: str) -> list[tuple[Path, Catalog]]:
    """The catalogs of ``locale``'s fallback chain that exist, in order."""
    found = []
    for key in fallback_chain(locale):
        po = catalog_files(settings.locales_dir, key)[0]
        catalog = _read_catalog(po, key)
        if catalog is not None:
            found.append((po, catalog))
    return found


def translation_findings(settings: Settings, locale: str,
                         messages: Sequence[Msgid] | None = None) -> list[Finding]:
    """Problems of ``locale``'s catalogs themselves: a missing catalog, translations whose
    placeholders do not match. (Sentences without a translation:
    :func:`missing_translations`, for every locale at once.)"""
    catalogs = _catalogs(settings, locale)
    rel = relative_to(settings.root)
    own_po = catalog_files(settings.locales_dir, locale)[0]
    english = parse_locale(locale).language == "en"
    findings: list[Finding] = []
    if (not catalogs or catalogs[0][0] != own_po) and not english:
        return [Finding("error", "translation", f"there is no message catalog for {locale}",
                        file=rel(own_po), locale=locale,
                        advice="Create it from locales/messages.pot (docs/locales.md, "
                        "\"A new locale\"), then run `dunning catalogs`.")]
    for po, catalog in catalogs:
        for message, errors in catalog.check():
            for error in errors:
                findings.append(Finding(
                    "error", "translation",
                    f"the translation of “{message.id}” does not match its sentence: {error}",
                    file=rel(po), line=message.lineno, locale=locale,
                    advice="Use exactly the placeholders of the English sentence, "
                    "e.g. %(date)s, in the translation (msgstr)."))
    return findings


def missing_translations(settings: Settings, messages: Sequence[Msgid] | None = None,
                         locales: Sequence[str] = SUPPORTED_LOCALES) -> list[Finding]:
    """Sentences of the templates that some of ``locales`` do not translate (missing, empty or
    fuzzy in every catalog of the locale's chain): one finding per sentence, at the template
    line that uses it, naming every locale that lost it and where. English letters print the
    English source text, so only Chinese locales can lose a translation; but every preview
    and check shows it, an English one too: changing an English sentence breaks the others."""
    messages = template_messages(settings.templates_dir) if messages is None else messages
    rel = relative_to(settings.root)
    chains = {locale: _catalogs(settings, locale) for locale in locales
              if parse_locale(locale).language != "en"}
    findings: list[Finding] = []
    seen: set[str] = set()
    for msg in messages:
        if msg.text in seen:
            continue
        seen.add(msg.text)
        lost: dict[str, str] = {}
        for locale, catalogs in chains.items():
            if not catalogs or any(_translated(catalog, msg.text) for _, catalog in catalogs):
                continue
            po, catalog = catalogs[0]
            entry = catalog.get(msg.text)
            if entry is None:
                lost[locale] = f"not in {rel(po)}"
            elif entry.fuzzy:
                lost[locale] = f"marked fuzzy in {rel(po)}:{entry.lineno}"
            else:
                lost[locale] = f"left empty in {rel(po)}:{entry.lineno}"
        if not lost:
            continue
        names = ", ".join(lost)
        findings.append(Finding(
            "error", "translation",
            f"the sentence “{msg.text}” has no translation in {names} "
            f"({'; '.join(f'{k}: {v}' for k, v in lost.items())}): letters in "
            f"{names} cannot be made until it has one",
            file=msg.file, line=msg.line, locale=next(iter(lost)) if len(lost) == 1 else None,
            subject=msg.text,
            advice="Run `dunning catalogs`: it adds the sentence to every catalog and says what "
            "is left to translate. Then write its translation (the empty msgstr) in the "
            "catalogs named. If you reworded an existing sentence, its old translation is kept "
            "at the end of each catalog as an obsolete (#~) entry to reuse."))
    return findings


def _translated(catalog: Catalog, msgid: str) -> bool:
    entry = catalog.get(msgid)
    if entry is None or entry.fuzzy:
        return False
    strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
    return all(strings)


def relative_to(root: Path) -> Callable[[Path], str]:
    """A function that shows paths under ``root`` relative to it, others as they are. A file
    that is a link is shown where the link is (the file an author edits), not where it
    points."""

    def rel(path: Path) -> str:
        try:
            return (path.parent.resolve() / path.name).relative_to(root.resolve()).as_posix()
        except ValueError:
            return str(path)
    return rel


# --------------------------------------------------------------------------- brands


def brand_findings(dunning: Dunning, rules: WordingRules) -> list[Finding]:
    """Hotline hours of every brand against the allowed window."""
    findings = []
    path = dunning.settings.brands_file
    for key, brand in dunning.brands.by_key.items():
        hours, window = brand.hotline_hours, rules.hours_for(key)
        if hours_outside(hours.open, hours.close, window):
            findings.append(Finding(
                "error", "hours",
                f"brand {key}: hotline hours {hours.open}–{hours.close} are outside the "
                f"allowed {window.earliest}–{window.latest} (docs/domain.md §6; a brand "
                f"may have its own window under contact_hours.brands in "
                f"{relative_to(dunning.settings.root)(wording_file(dunning.settings))})",
                file=relative_to(dunning.settings.root)(path),
                line=yaml_line(path, ["brands", key, "hotline_hours"]), brand=key))
    return findings


# --------------------------------------------------------------------------- one letter


_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
         "source", "track", "wbr"}


class Outline(HTMLParser):
    """The sections (``data-section``) and marked elements (classes) of a letter, with
    their text."""

    def __init__(self, markup: str, classes: Iterable[str] = ()) -> None:
        super().__init__(convert_charrefs=True)
        self.watched = set(classes)
        self.text: dict[str, list[str]] = {}
        self._stack: list[tuple[str, list[str]]] = []
        self._skip = 0
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "script", "head"):
            self._skip += 1
        if tag in _VOID:
            return
        keys = []
        values = dict(attrs)
        if values.get("data-section"):
            keys.append(f"section:{values['data-section']}")
        for name in (values.get("class") or "").split():
            if name in self.watched:
                keys.append(f"class:{name}")
        for key in keys:
            self.text.setdefault(key, [])
        self._stack.append((tag, keys))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script", "head"):
            self._skip = max(0, self._skip - 1)
        for i in range(len(self._stack) - 1, -1, -1):
            if self._stack[i][0] == tag:
                del self._stack[i:]
                break

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        for _, keys in self._stack:
            for key in keys:
                self.text[key].append(data)

    def section(self, name: str) -> str | None:
        parts = self.text.get(f"section:{name}")
        return None if parts is None else " ".join(" ".join(parts).split())

    def marked(self, name: str) -> str | None:
        parts = self.text.get(f"class:{name}")
        return None if parts is None else " ".join(" ".join(parts).split())


_TIME = re.compile(r"(?<!\d)([01]?\d|2[0-4])[:：]([0-5]\d)(?!\d)")


def letter_findings(markup: str, *, stage: str, locale: str, brand: str, record: Record,
                    rules: WordingRules, settings: Settings, template: str,
                    brand_hours: tuple[str, str] | None = None,
                    own: Sequence[str] = ()) -> list[Finding]:
    """The findings in one letter's HTML: sections, prohibited wording, contact hours
    (hours equal to the brand's configured ``brand_hours`` are left to
    :func:`brand_findings`)."""
    findings: list[Finding] = []
    outline = Outline(markup)
    partials = settings.templates_dir / "letter" / "partials"
    for name in SECTIONS:
        text = outline.section(name)
        if text is None or not text:
            partial = partials / f"{name}.html"
            hint = (f"is {'empty' if text is not None else 'missing'}; "
                    f"letter/partials/{name}.html is not included or lost its "
                    f'data-section="{name}"' if partial.exists() or text is None else "")
            findings.append(Finding(
                "error", "section", f"section {name!r} (docs/domain.md §2) {hint}".strip(),
                file=template, template=template))
    findings += wording_findings(markup, locale=locale, record=record, rules=rules,
                                 settings=settings, own=own)
    window = rules.hours_for(brand)
    contacts = outline.section("contacts") or ""
    times = [f"{h}:{m}" for h, m in _TIME.findall(contacts)]
    if len(times) >= 2 and hours_outside(times[0], times[-1], window) \
            and (times[0], times[-1]) != brand_hours:
        findings.append(Finding(
            "error", "hours",
            f"the letter shows contact hours {times[0]}–{times[-1]}, outside the allowed "
            f"{window.earliest}–{window.latest}",
            file="letter/partials/contacts.html", template=template))
    return findings


def brand_names(dunning: Dunning, brand: str) -> list[str]:
    """A brand's own texts in every language (names, addresses, channels): names, not
    wording, wherever they print."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str) and len(value) >= 3 and not value.isdigit():
            found.append(value)
        elif isinstance(value, Mapping):
            for item in value.values():
                walk(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)

    if brand in dunning.brands:
        walk(dunning.brands[brand].model_dump(mode="json"))
    return found


def record_texts(record: Record) -> list[str]:
    """The borrower's own text on the letter: not the author's wording."""
    return [t for t in (record.name, *record.address, record.contract_no, record.account_id)
            if t]


_WHAT_TO_EDIT = {
    "catalog": "change this translation (the msgstr of the entry)",
    "template": "change this line of the template",
    "config": "change this value of the brand",
}


def _edit_hint(source: Source | None) -> str:
    if source is None:
        return ("It is not in a template, catalog or brand text: it comes from the sample "
                "record or a computed value.")
    return f"Where: {source.file}, line {source.line}: {_WHAT_TO_EDIT[source.what]}."


def wording_findings(markup: str, *, locale: str, record: Record | None, rules: WordingRules,
                     settings: Settings, own: Sequence[str] = ()) -> list[Finding]:
    """Prohibited content (by category, in any language) and untranslated text in the letter
    as it prints, each traced to the catalog entry, template line or brand value it comes
    from. The borrower's own texts (and ``own``: brand names and the like) are left out."""
    mine = sorted({*(record_texts(record) if record else []), *own}, key=len, reverse=True)
    blocks = []
    for block in text_blocks(markup):
        for value in mine:
            if len(value) > 1:
                block = block.replace(value, "…")
        blocks.append(block)
    findings = []
    for hit in scan("\n".join(blocks), rules):
        category = rules.categories[hit.category]
        source = locate(hit.matched, settings, locale)
        findings.append(Finding(
            "error", "wording",
            f"The letter says “{hit.sentence}”. The words “{hit.matched}” read as "
            f"{category.name}, which no letter may contain (docs/domain.md §6).",
            file=source.file if source else None, line=source.line if source else None,
            advice=f"{category.advice} {_edit_hint(source)}", subject=hit.matched))
    language = parse_locale(locale)
    for stray in strays(blocks, locale, own=mine):
        source = locate(stray.text, settings, locale)
        if stray.what == "latin":
            message = (f"English text in a {locale} letter: “{stray.text}”. A Chinese letter "
                       "prints only Chinese, apart from names, brands, web and e-mail "
                       "addresses and codes.")
            fix = ("Put the sentence inside {{ _(\"...\") }} so that it is translated, then "
                   "run `dunning catalogs` and translate it in every catalog."
                   if source and source.what == "template" else "Translate it.")
        else:
            script = "Traditional" if language.script != "Hant" else "Simplified"
            message = (f"{script} Chinese characters ({stray.text}) in a {locale} letter: "
                       f"“{stray.block}”.")
            fix = f"Write it in {'Traditional' if script == 'Simplified' else 'Simplified'} " \
                  "Chinese."
        findings.append(Finding(
            "error", "untranslated", message, file=source.file if source else None,
            line=source.line if source else None, advice=f"{fix} {_edit_hint(source)}",
            subject=stray.text))
    return findings


def error_finding(exc: BaseException, settings: Settings) -> Finding:
    """A finding for an error that stopped a letter, from the facts the error carries: the
    template file and line for template errors (kind ``syntax``, ``undefined`` or
    ``template``), the file, line and key for config errors, the kind of render error."""
    relative = relative_to(settings.root)
    if isinstance(exc, TemplateError):
        return Finding("error", exc.kind, exc.message, file=exc.template, line=exc.line,
                       template=exc.template)
    if isinstance(exc, ConfigError):
        return Finding("error", "config", exc.message + (f" (at {exc.key})" if exc.key else ""),
                       file=relative(Path(exc.path)) if exc.path else None, line=exc.line)
    if isinstance(exc, RenderError):
        return Finding("error", exc.kind, exc.message,
                       file=relative(Path(exc.file)) if exc.file else None, line=exc.line)
    return Finding("error", "template", f"{type(exc).__name__}: {exc}")


def pdf_text_pages(data: bytes) -> list[str]:
    """The text of each page of a PDF (poppler's pdftotext)."""
    out = subprocess.run(["pdftotext", "-raw", "-enc", "UTF-8", "-", "-"], input=data,
                         capture_output=True, check=True).stdout.decode("utf-8")
    pages = out.split("\f")
    return pages[:-1] if pages and not pages[-1].strip() else pages


def footer_findings(pages: Sequence[str], plan: Plan, settings: Settings,
                    template: str) -> list[Finding]:
    """Every page carries "page X of Y" and the letter reference (§2.12)."""
    squash = "".join
    reference = plan.reference
    try:
        page_of = translations(settings.locales_dir, plan.locale).gettext(
            "Page {page} of {pages}")
    except DunningError:
        page_of = None  # reported as a missing translation
    findings = []
    for number, text in enumerate(pages, 1):
        flat = squash(text.split())
        missing = []
        if page_of and squash(page_of.format(page=number, pages=len(pages)).split()) \
                not in flat:
            missing.append("page number")
        if reference not in flat:
            missing.append("letter reference")
        if missing:
            findings.append(Finding(
                "error", "section",
                f"page {number} of {len(pages)} has no {' or '.join(missing)} in its footer "
                "(docs/domain.md §2.12; the @page rules of letter/base.html)",
                file="letter/base.html", template=template))
            break
    return findings
