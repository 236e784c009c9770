"""Pre-flight: before the first letter, find what would fail every letter of the run.

Takes the run's inputs and the loaded project (config, brands and policy are validated while
loading: a bad one is a ConfigError already); gives a :class:`Preflight` with

- what the inputs hold (:func:`scan_inputs`, one cheap pass over the raw rows): how many data
  rows (none: the upstream export may have failed), which brands and letter locales they need,
  and one valid record to render;
- findings, with :mod:`dunning.check`'s machinery, for what breaks letters regardless of
  their record: every template compiles; the letter renders for every stage × needed locale ×
  brand (HTML) and, once per needed locale and once per brand, to PDF (stylesheets parse,
  fonts cover the text, assets are found); every catalog a needed locale uses is complete;
  brands' contact hours are allowed.

Only findings of the kinds in :data:`BLOCKING` stop the run; what depends on one record's data
(an address too long for the window) stays a per-letter outcome. ``dunning run`` raises
:class:`PreflightError` (exit 2) before any letter is written.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from .check import (
    Case,
    Checker,
    compile_findings,
    entry_templates,
    read_samples,
    sample_files,
)
from .errors import RecordError
from .letter import Dunning
from .output import read_regular_text
from .policy import STAGES
from .records import Record, raw_rows, validate_row
from .rules import Finding, brand_findings, load_wording, template_messages, translation_findings
from .settings import SUPPORTED_LOCALES
from .stopping import time_limit

log = logging.getLogger("dunning.preflight")

#: Finding kinds that fail every letter (or every letter of a locale or brand).
BLOCKING = frozenset({"syntax", "undefined", "template", "config", "translation", "hours",
                      "stylesheet", "resource", "weasyprint", "fonts", "glyph"})
#: Raw rows tried for a valid record to render before giving up (all rejected so far).
FIRST_RECORD_TRIES = 1000


@dataclass
class InputScan:
    """What the run's inputs hold, from one pass over their raw rows."""

    rows: int = 0
    brands: set[str] = field(default_factory=set)
    locales: set[str] = field(default_factory=set)
    record: Record | None = None


def scan_inputs(paths: Sequence[Path], dunning: Dunning) -> InputScan:
    """Count the data rows, collect the brands and letter locales they need and keep one
    valid record (see the module docstring). Raises InputError for an unreadable file."""
    scan = InputScan()
    brands = dunning.brands.by_key
    rules = dunning.record_rules()
    tries = 0
    for path in paths:
        for line, raw in raw_rows(path):
            scan.rows += 1
            if not isinstance(raw, dict):  # a row that could not be parsed (rejected)
                continue
            brand = str(raw.get("brand") or "").strip()
            if brand not in brands:
                continue
            scan.brands.add(brand)
            locale = str(raw.get("locale") or "").strip()
            if locale not in SUPPORTED_LOCALES:
                locale = brands[brand].default_locale or dunning.settings.default_locale
            scan.locales.add(locale)
            if scan.record is None and tries < FIRST_RECORD_TRIES:
                tries += 1
                try:
                    scan.record = validate_row(raw, source=str(path), line=line, rules=rules)
                except RecordError:
                    pass
    return scan


@dataclass
class Preflight:
    """The scan, the findings that block the run, and how long it all took."""

    scan: InputScan
    findings: list[Finding]
    seconds: float
    letters: int = 0
    pdfs: int = 0

    @property
    def ok(self) -> bool:
        return not self.findings

    def describe(self) -> str:
        """One line per distinct finding: file:line, what, and in which letter."""
        seen: dict[tuple[object, ...], tuple[Finding, int]] = {}
        for finding in self.findings:
            first, count = seen.get(finding.key(), (finding, 0))
            seen[finding.key()] = (first, count + 1)
        lines = []
        for finding, count in seen.values():
            letter = finding.letter()
            lines.append(f"  {finding}" + (f"  (in {letter}" + (
                f" and {count - 1} more" if count > 1 else "") + ")" if letter else ""))
        return "\n".join(lines)


def _records(dunning: Dunning, scan: InputScan) -> list[Record]:
    if scan.record is not None:
        return [scan.record]
    samples, _ = read_samples(dunning, sample_files(dunning.settings))
    return samples[:1]


def preflight(paths: Sequence[Path], dunning: Dunning,
              letter_timeout: float | None = None) -> Preflight:
    """Scan the inputs and check what every letter needs (see the module docstring). A
    letter that takes longer than ``letter_timeout`` stops the letter checks (it is that
    record's problem, which the run reports as a failed letter), with a warning."""
    started = time.monotonic()
    scan = scan_inputs(paths, dunning)
    settings = dunning.settings
    findings: list[Finding] = []
    if scan.rows:
        rules = load_wording(settings)
        messages = template_messages(settings.templates_dir)
        for locale in sorted(scan.locales):
            findings += translation_findings(settings, locale, messages)
        findings += [f for f in brand_findings(dunning, rules) if f.brand in scan.brands]
        # a letter's check finds a compile error again: listed once, from the project root
        compiled = compile_findings(dunning)
        seen = {f.key() for f in compiled}
        findings += [replace(f, file=f"templates/{f.file}") for f in compiled]
        checker = Checker(dunning, rules)
        records = _records(dunning, scan)
        locales, brands = sorted(scan.locales), sorted(scan.brands)
        templates = entry_templates(settings.templates_dir) or [settings.letter_template]
        template = (settings.letter_template if settings.letter_template in templates
                    else templates[0])
        slow = False
        for record in records:
            pdf_done: set[str] = set()
            for li, locale in enumerate(locales):
                for bi, brand in enumerate(brands):
                    for si, stage in enumerate(STAGES):
                        pdf = si == (li + bi) % len(STAGES) and (
                            locale not in pdf_done or brand not in pdf_done)
                        if pdf:
                            pdf_done |= {locale, brand}
                        if slow:
                            continue
                        with time_limit(letter_timeout):
                            found = checker.check(Case(template, stage, locale, brand, record,
                                                       pdf=pdf, sample=record.account_id))
                        if any(f.kind == "timeout" for f in found):
                            slow = True
                            log.warning("pre-flight: the letter for %s took longer than %g s; "
                                        "the letter checks stop here", record.account_id,
                                        letter_timeout or 0)
                        findings += [f for f in found if f.key() not in seen]
        findings = [_locate_css(f, settings.templates_dir)
                    if f.kind in ("stylesheet", "weasyprint") else f
                    for f in findings if f.severity == "error" and f.kind in BLOCKING]
        result = Preflight(scan, findings, time.monotonic() - started, checker.letters,
                           checker.pdfs)
    else:
        result = Preflight(scan, findings, time.monotonic() - started)
    log.info("pre-flight: %d row(s), locale(s) %s, brand(s) %s: %d letter(s) checked, %d as "
             "PDF, %d problem(s), %.1f s", scan.rows, ", ".join(sorted(scan.locales)) or "none",
             ", ".join(sorted(scan.brands)) or "none", result.letters, result.pdfs,
             len(result.findings), result.seconds)
    return result


_DECLARATION = re.compile(r"`([^`]+)`")


def _locate_css(finding: Finding, templates_dir: Path) -> Finding:
    """A stylesheet finding without a file (WeasyPrint saw the stylesheet after its custom
    properties were inlined): the stylesheet and line that hold the declaration it quotes."""
    match = _DECLARATION.search(finding.message)
    if finding.file or not match:
        return finding
    needle = match[1].strip()
    for path in sorted(templates_dir.rglob("*.css")):
        try:
            lines = read_regular_text(path).splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        for number, text in enumerate(lines, 1):
            if needle in text:
                rel = f"templates/{path.relative_to(templates_dir).as_posix()}"
                return replace(finding, file=rel, line=number)
    return finding


def require_rows(scan: InputScan, paths: Sequence[Path], allow_empty: bool) -> None:
    """An export with no data row is a failed upstream export, unless ``allow_empty``."""
    from .errors import InputError

    if scan.rows == 0 and not allow_empty:
        raise InputError("no data row in " + ", ".join(str(p) for p in paths)
                         + ": the upstream export may have failed (pass --allow-empty if an "
                         "empty night is expected)")
