"""What a letter must and must not contain, as findings an author can act on.

Takes one letter (its HTML, the text of its PDF pages, its record and coordinates), the
project's catalogs and config; gives :class:`Finding` objects with the file and line to fix:

- the sections of ``docs/domain.md`` §2 (``data-section`` attributes), the credit-reporting
  advance notice of formal and final letters (``class="credit-notice"``) and the footer;
- the prohibited wording of §6, per locale, from ``config/wording.yaml``;
- contact hours outside the allowed window (08:00–21:00 unless a brand says otherwise);
- message ids the templates use that a locale's catalogs do not translate;
- the error that stopped a letter (template file and line, config file and key).

``dunning.check`` applies these rules to every letter of a check run; the preview to the
letter on screen.
"""

from __future__ import annotations

import html
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
from pydantic import BaseModel, ConfigDict, Field, field_validator

from .errors import ConfigError, DunningError, RenderError, TemplateError
from .letter import Dunning
from .locale import catalog_files, parse_locale, translations
from .pdf import visible_text
from .plan import Plan
from .records import Record
from .settings import Settings, fallback_chain
from .yamlconf import load_yaml_file, validate_model, yaml_line

Severity = Literal["error", "warning"]

#: The sections of docs/domain.md §2, by their ``data-section`` names, in letter order.
#: The footer (§2.12) lives in ``@page`` rules and is checked in the PDF's text.
SECTIONS: tuple[str, ...] = (
    "letterhead", "addressee", "title", "identity", "status", "itemization",
    "consequences", "options", "contacts", "rights", "signature",
)
#: Elements (by class) that a stage's letter must carry, beyond the sections.
STAGE_MARKERS: dict[str, tuple[str, ...]] = {
    "reminder": (),
    "formal": ("credit-notice",),
    "final": ("credit-notice",),
}
MARKER_NAMES = {"credit-notice": "the credit-reporting advance notice"}


# --------------------------------------------------------------------------- findings


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem: what (``kind``, ``message``), where (``file``, ``line``) and in which
    letter (``template``, ``stage``, ``locale``, ``brand``, ``sample``) it showed."""

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

    @property
    def where(self) -> str:
        if self.file and self.line:
            return f"{self.file}:{self.line}"
        return self.file or ""

    def key(self) -> tuple[Any, ...]:
        """What makes two findings the same problem (in different letters)."""
        return (self.severity, self.kind, self.message, self.file, self.line)

    def letter(self) -> str:
        parts = [f"{name} {value}" for name, value in (
            ("template", self.template), ("locale", self.locale), ("stage", self.stage),
            ("brand", self.brand), ("sample", self.sample)) if value]
        return " · ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    def __str__(self) -> str:
        where = f"{self.where}: " if self.where else ""
        return f"{where}{self.severity} [{self.kind}] {self.message}"


# --------------------------------------------------------------------------- wording rules


class HoursWindow(BaseModel):
    """Earliest opening and latest closing time (HH:MM, local) a hotline may show."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    earliest: str = Field(default="08:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    latest: str = Field(default="21:00", pattern=r"^([01]\d|2[0-4]):[0-5]\d$")


class ContactHours(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    default: HoursWindow = HoursWindow()
    brands: dict[str, HoursWindow] = {}


class WordingRules(BaseModel):
    """``config/wording.yaml``: prohibited terms and allowed phrases per locale or language,
    and the contact-hours window (default and per brand)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    prohibited: dict[str, list[str]]
    allowed: dict[str, list[str]] = {}
    contact_hours: ContactHours = ContactHours()

    @field_validator("prohibited", "allowed")
    @classmethod
    def _no_empty_terms(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for key, terms in value.items():
            if any(not str(t).strip() for t in terms):
                raise ValueError(f"{key}: empty term")
        return value

    def _for(self, table: Mapping[str, list[str]], locale: str) -> list[str]:
        language = locale.split("_")[0]
        keys = [locale] + ([language] if language != locale else [])
        return [term for key in keys for term in table.get(key, [])]

    def has_list(self, locale: str) -> bool:
        language = locale.split("_")[0]
        return locale in self.prohibited or language in self.prohibited

    def prohibited_for(self, locale: str) -> list[str]:
        """The terms for ``locale``: its own list plus its language's (``en`` for en_GB)."""
        return self._for(self.prohibited, locale)

    def allowed_for(self, locale: str) -> list[str]:
        return self._for(self.allowed, locale)

    def hours_for(self, brand: str) -> HoursWindow:
        return self.contact_hours.brands.get(brand, self.contact_hours.default)


def wording_file(settings: Settings) -> Path:
    return settings.config_dir / "wording.yaml"


def load_wording(settings: Settings) -> WordingRules:
    """Read and validate ``config/wording.yaml`` (ConfigError naming file and key)."""
    path = wording_file(settings)
    if not path.is_file():
        raise ConfigError("missing: the wording rules (prohibited terms, contact hours) "
                          "are required", path=str(path))
    return validate_model(WordingRules, load_yaml_file(path), path=str(path))


def _term_pattern(term: str) -> re.Pattern[str]:
    """Latin terms match whole words ignoring case; other scripts anywhere."""
    escaped = re.escape(term)
    if term.isascii():
        return re.compile(rf"(?<![A-Za-z0-9]){escaped}(?![A-Za-z0-9])", re.IGNORECASE)
    return re.compile(escaped)


def prohibited_in(text: str, locale: str, rules: WordingRules) -> list[str]:
    """The prohibited terms for ``locale`` that occur in ``text`` (allowed phrases removed).

    >>> rules = WordingRules(prohibited={"zh_CN": ["公安"], "en": ["police"]},
    ...                      allowed={"en": ["police station road"]})
    >>> prohibited_in("我司将联系公安机关", "zh_CN", rules)
    ['公安']
    >>> prohibited_in("Policemen? POLICE!", "en_GB", rules)
    ['police']
    >>> prohibited_in("12 Police Station Road", "en_US", rules)
    []
    """
    for phrase in rules.allowed_for(locale):
        text = _term_pattern(phrase).sub(" ", text)
    return [term for term in dict.fromkeys(rules.prohibited_for(locale))
            if _term_pattern(term).search(text)]


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


# --------------------------------------------------------------------------- YAML lines


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


def catalog_chain(locale: str) -> tuple[str, ...]:
    """The catalogs a locale's messages may come from: its own, then its fallbacks
    (``settings.LOCALE_FALLBACKS``, as :func:`dunning.locale.translations` chains them)."""
    return fallback_chain(locale)


def _read_catalog(po: Path, locale: str) -> Catalog | None:
    if not po.is_file():
        return None
    with po.open("rb") as handle:
        return read_po(handle, locale=locale)


def translation_findings(settings: Settings, locale: str,
                         messages: Sequence[Msgid] | None = None) -> list[Finding]:
    """Messages the templates use that ``locale`` does not translate, and translations whose
    placeholders do not match. English letters fall back to the templates' English source
    text by design, so only their placeholder problems count."""
    messages = template_messages(settings.templates_dir) if messages is None else messages
    chain = catalog_chain(locale)
    catalogs: list[tuple[Path, Catalog]] = []
    for key in chain:
        po = catalog_files(settings.locales_dir, key)[0]
        catalog = _read_catalog(po, key)
        if catalog is not None:
            catalogs.append((po, catalog))
    rel = relative_to(settings.root)
    own_po = catalog_files(settings.locales_dir, locale)[0]
    english = parse_locale(locale).language == "en"
    findings: list[Finding] = []
    if not catalogs or catalogs[0][0] != own_po:
        if not english:
            findings.append(Finding("error", "translation", f"no message catalog for {locale}",
                                    file=rel(own_po), locale=locale))
            return findings
    for po, catalog in catalogs:
        for message, errors in catalog.check():
            for error in errors:
                findings.append(Finding(
                    "error", "translation", f"{message.id!r}: {error}", file=rel(po),
                    line=message.lineno, locale=locale))
    if english:
        return findings
    seen: set[str] = set()
    for msg in messages:
        if msg.text in seen:
            continue
        seen.add(msg.text)
        if any(_translated(catalog, msg.text) for _, catalog in catalogs):
            continue
        po, catalog = catalogs[0]
        entry = catalog.get(msg.text)
        if entry is None:
            why = f"missing from {rel(po)}"
        elif entry.fuzzy:
            why = f"marked fuzzy in {rel(po)}:{entry.lineno}"
        else:
            why = f"left empty in {rel(po)}:{entry.lineno}"
        findings.append(Finding(
            "error", "translation", f"{msg.text!r} has no {locale} translation ({why})",
            file=msg.file, line=msg.line, locale=locale))
    return findings


def _translated(catalog: Catalog, msgid: str) -> bool:
    entry = catalog.get(msgid)
    if entry is None or entry.fuzzy:
        return False
    strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
    return all(strings)


def relative_to(root: Path) -> Callable[[Path], str]:
    """A function that shows paths under ``root`` relative to it, others as they are."""

    def rel(path: Path) -> str:
        try:
            return path.resolve().relative_to(root.resolve()).as_posix()
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
                    brand_hours: tuple[str, str] | None = None) -> list[Finding]:
    """The findings in one letter's HTML: sections, prohibited wording, contact hours
    (hours equal to the brand's configured ``brand_hours`` are left to
    :func:`brand_findings`)."""
    findings: list[Finding] = []
    outline = Outline(markup, classes=[m for ms in STAGE_MARKERS.values() for m in ms])
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
    for marker in STAGE_MARKERS.get(stage, ()):
        if not outline.marked(marker):
            findings.append(Finding(
                "error", "section",
                f"a {stage} letter must carry {MARKER_NAMES.get(marker, marker)} "
                f'(an element with class="{marker}" in the consequences section)',
                file="letter/partials/consequences.html", template=template))
    findings += wording_findings(markup, locale=locale, record=record, rules=rules,
                                 settings=settings)
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


def _record_texts(record: Record) -> list[str]:
    """The borrower's own text on the letter: not the author's wording."""
    return [t for t in (record.name, *record.address, record.contract_no, record.account_id)
            if t]


def wording_findings(markup: str, *, locale: str, record: Record | None, rules: WordingRules,
                     settings: Settings) -> list[Finding]:
    """Prohibited terms in the letter's visible text, each traced to the template, catalog
    or brands file line it comes from where that can be found."""
    if not rules.has_list(locale):
        return [Finding("error", "wording",
                        f"no prohibited-wording list for {locale} (add one under prohibited: "
                        f"in config/wording.yaml)", file="config/wording.yaml")]
    text = visible_text(markup)
    for own in sorted(_record_texts(record) if record else [], key=len, reverse=True):
        text = text.replace(own, " ")
    findings = []
    for term in prohibited_in(text, locale, rules):
        file, line = locate_term(term, settings, locale)
        findings.append(Finding(
            "error", "wording",
            f"prohibited wording {term!r} ({locale}; docs/domain.md §6, config/wording.yaml)",
            file=file, line=line))
    return findings


def locate_term(term: str, settings: Settings, locale: str) -> tuple[str | None, int | None]:
    """The first line of a catalog, template or config file of the project that holds
    ``term`` (for the report), or (None, None)."""
    pattern = _term_pattern(term)
    rel = relative_to(settings.root)
    files = [catalog_files(settings.locales_dir, key)[0] for key in catalog_chain(locale)]
    files += [*sorted(settings.templates_dir.rglob("*.html")), settings.brands_file]
    for path in files:
        try:
            lines = path.read_text("utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        for number, text in enumerate(lines, 1):
            if path.suffix == ".po" and not text.startswith(("msgstr", '"')):
                continue
            if pattern.search(html.unescape(text)):
                return rel(path), number
    return None, None


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
    reference = f"{plan.record.contract_no}-{plan.as_of:%Y%m%d}"
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
