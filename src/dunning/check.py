"""Template checks: what an author must fix before a letter goes out.

Takes the project (a loaded :class:`~dunning.letter.Dunning`) and the sample records; renders
letters for every entry template × stage × locale × brand and every sample record, and gives
:class:`Finding` objects for

- template errors: syntax errors, runtime errors and undefined variables (file and line);
- missing translations: message ids the templates use that a locale's catalogs (with their
  fallbacks) lack, leave empty or mark fuzzy, and translations whose placeholders differ;
- prohibited wording (``docs/domain.md`` §6), per locale, from ``config/wording.yaml``;
- sections of the letter (§2) that a stage requires and the letter lacks, and the page footer;
- required content per jurisdiction and stage (``config/checklists.yaml``): the
  credit-reporting advance notice of formal and final letters, the mainland card rules, the
  Hong Kong notice before an agency, UK prominence;
- contact hours outside the allowed window (08:00–21:00 unless a brand says otherwise);
- characters that no configured font covers, and anything else WeasyPrint refuses.

The rules themselves, one letter at a time, are in :mod:`dunning.rules` (the preview applies
them to the letter on screen); this module picks the letters, renders them and reports
(:func:`format_report`).

What is rendered, and why not everything: a letter's text depends on the record (names,
amounts, which itemization lines and options appear), the stage, the locale and the brand; its
layout (fonts, stylesheets, assets, page breaks) mostly on the locale and the brand. So

- every stage × locale × brand is rendered to HTML with :data:`TYPICAL` representative
  samples, picked greedily to cover the optional parts of a letter (compound interest, fees,
  payments, a capped rate, characters outside the BMP, no phone or postal code, long
  addresses, each ID type);
- every sample record is rendered once more, in its own brand and locale, the stages taking
  turns, so that a record whose data breaks a template is found;
- every locale × brand is rendered to PDF once, the stages rotating so that every stage ×
  locale and stage × brand pair is in a PDF too (pairwise): fonts, stylesheets, assets and
  the footer are checked there.

HTML takes milliseconds, a PDF about half a second: the whole check of 5 locales and 4 brands
takes well under a minute. A letter whose figures leave nothing owed is skipped (such a
record never gets a letter).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .checklists import Checklists, checklist_findings, load_checklists
from .compose import environment, letter_context, render_html, syntax_message
from .errors import ConfigError, DunningError, RenderError, TemplateError
from .explain import config_findings, excerpt
from .letter import Dunning
from .output import read_regular_text
from .plan import Plan
from .policy import STAGES, Stage
from .records import Record, Rejection, read_records
from .rules import (
    Finding,
    WordingRules,
    brand_findings,
    brand_names,
    error_finding,
    footer_findings,
    letter_findings,
    load_wording,
    missing_translations,
    pdf_text_pages,
    record_texts,
    relative_to,
    template_messages,
    translation_findings,
)
from .settings import SUPPORTED_LOCALES, Settings
from .stylecheck import letter_stylesheets, stylesheet_findings


@dataclass(frozen=True, slots=True)
class Case:
    """One letter to check: which template, stage, locale and brand, for which record."""

    template: str
    stage: Stage
    locale: str
    brand: str
    record: Record
    pdf: bool = False
    sample: str = ""

    def stamp(self, findings: Iterable[Finding]) -> list[Finding]:
        """The findings with this letter's coordinates filled in."""
        return [replace(f, template=self.template, stage=self.stage, locale=self.locale,
                        brand=self.brand, sample=self.sample or self.record.account_id)
                for f in findings]


def entry_templates(templates_dir: Path) -> list[str]:
    """Templates that make a whole letter: those that extend another (``letter/letter.html``
    extends ``letter/base.html``), as names relative to ``templates_dir``."""
    found = []
    for path in sorted(templates_dir.rglob("*.html")):
        try:
            text = read_regular_text(path)
        except (OSError, UnicodeDecodeError):
            continue
        if re.search(r"{%-?\s*extends\s", text):
            found.append(path.relative_to(templates_dir).as_posix())
    return found


def compile_findings(dunning: Dunning) -> list[Finding]:
    """Every template that does not compile, even one no letter uses yet (a partial being
    written): the finding a letter's check makes of the same error (file relative to the
    templates folder, the author's wording), so that one error is listed once."""
    import jinja2

    settings = dunning.settings
    env = environment(settings.templates_dir, settings.locales_dir, settings.default_locale)
    findings = []
    for path in sorted(settings.templates_dir.rglob("*.html")):
        name = path.relative_to(settings.templates_dir).as_posix()
        try:
            env.get_template(name)
        except jinja2.TemplateSyntaxError as exc:
            findings.append(Finding("error", "syntax",
                                    syntax_message(exc.message or type(exc).__name__),
                                    file=name, line=exc.lineno, template=name))
        except (jinja2.TemplateError, OSError, UnicodeDecodeError) as exc:
            findings.append(Finding("error", "template", f"{type(exc).__name__}: {exc}",
                                    file=name, template=name))
    return findings


# --------------------------------------------------------------------------- cases


def checked_html(dunning: Dunning, plan: Plan, problems: list[TemplateError]) -> str:
    """The letter's HTML as :meth:`Dunning.html` makes it, with the problems that would stop
    a batch letter (undefined names, untranslated sentences) appended to ``problems``
    instead (:func:`dunning.compose.render_html`)."""
    if plan.stage is None or plan.options is None:
        raise ValueError("a suppressed record has no letter")
    record = plan.record
    context = letter_context(
        record=record, brand=dunning.brands[record.brand], policy=dunning.policy_for(record),
        stage=plan.stage, locale=plan.locale, items=plan.items, options=plan.options,
        as_of=plan.as_of)
    settings = dunning.settings
    return render_html(context, templates_dir=settings.templates_dir,
                       locales_dir=settings.locales_dir, template=settings.letter_template,
                       problems=problems)


@dataclass
class Checker:
    """Renders letters and collects their findings; one per check run (or preview)."""

    dunning: Dunning
    rules: WordingRules
    checklists: Checklists | None = None
    letters: int = 0
    pdfs: int = 0
    skipped: int = 0
    _sheets: dict[str, list[Finding]] = field(default_factory=dict)

    def for_template(self, template: str) -> Dunning:
        if template == self.dunning.settings.letter_template:
            return self.dunning
        return replace(self.dunning,
                       settings=self.dunning.settings.with_changes(letter_template=template))

    def hours(self, brand: str) -> tuple[str, str]:
        hours = self.dunning.brands[brand].hotline_hours
        return hours.open, hours.close

    def plan(self, case: Case) -> Plan:
        record = case.record if case.record.brand == case.brand else replace(
            case.record, brand=case.brand)
        return self.dunning.plan_as(record, case.stage, locale=case.locale)

    def check(self, case: Case) -> list[Finding]:
        """Render one case and return all its findings (stamped with the case): undefined
        names and untranslated sentences do not stop the letter here, so that its wording
        and the rest are checked too."""
        dunning = self.for_template(case.template)
        settings = dunning.settings
        problems: list[TemplateError] = []
        try:
            plan = self.plan(case)
            if plan.items.total <= 0:
                self.skipped += 1  # nothing owed at this stage's dates: never a letter
                return []
            self.letters += 1
            markup = checked_html(dunning, plan, problems)
        except (DunningError, ValueError, ArithmeticError) as exc:
            return case.stamp([*(error_finding(p, settings) for p in problems),
                               error_finding(exc, settings)])
        found = [error_finding(p, settings) for p in problems]
        found += letter_findings(markup, stage=case.stage, locale=case.locale, brand=case.brand,
                                record=plan.record, rules=self.rules, settings=settings,
                                template=case.template, brand_hours=self.hours(case.brand),
                                own=brand_names(dunning, case.brand))
        found += checklist_findings(markup, stage=case.stage, locale=case.locale,
                                    brand=case.brand, checklists=self.required(),
                                    template=case.template,
                                    own=[*brand_names(dunning, case.brand),
                                         *record_texts(plan.record)])
        try:
            if case.pdf:
                self.pdfs += 1
                pdf = dunning.renderer.render(markup, case.locale)
                found += footer_findings(pdf_text_pages(pdf.data), plan, settings,
                                         case.template)
            else:
                dunning.renderer.check_glyphs(markup, case.locale)
        except RenderError as exc:
            sheets = self.stylesheets(case.brand)
            # WeasyPrint's report names no file: the stylesheet findings say it better
            found += [f for f in sheets if f.severity == "error"] or [
                error_finding(exc, settings)]
        except DunningError as exc:
            found.append(error_finding(exc, settings))
        return case.stamp(found)

    def required(self) -> Checklists:
        if self.checklists is None:
            self.checklists = load_checklists(self.dunning.settings)
        return self.checklists

    def stylesheets(self, brand: str) -> list[Finding]:
        """The problems of the stylesheets a brand's letters link (letter.css, its own)."""
        if brand not in self._sheets:
            self._sheets[brand] = stylesheet_findings(letter_stylesheets(
                self.dunning.settings, self.dunning.brands[brand].stylesheet),
                self.dunning.settings)
        return self._sheets[brand]


#: How many representative samples go through the stage × locale × brand cross product.
TYPICAL = 3


def representative(records: Sequence[Record], dunning: Dunning) -> list[Record]:
    """A few records that together show every optional part of a letter (greedy cover)."""
    def features(r: Record) -> set[str]:
        cap = dunning.policy_for(r).max_daily_rate
        found = {f"id:{r.id_type}", f"lines:{min(len(r.address), 4)}"}
        found |= {name for name, on in (
            ("compound", r.compound), ("fees", r.fees > 0), ("paid", r.paid_since_due > 0),
            ("capped", r.penalty_rate_daily > cap), ("no-phone", not r.phone),
            ("no-postal", not r.postal_code), ("astral", any(ord(c) > 0xFFFF for c in r.name)),
            ("latin-name", r.name.isascii()), ("zero-interest", r.overdue_interest == 0),
        ) if on}
        return found

    todo = set().union(*(features(r) for r in records)) if records else set()
    chosen: list[Record] = []
    while todo:
        best = max(records, key=lambda r: len(features(r) & todo))
        gained = features(best) & todo
        if not gained:
            break
        chosen.append(best)
        todo -= gained
    return chosen


def sample_files(settings: Settings) -> list[Path]:
    """The sample exports of the project: ``data/samples/*.csv|yaml|yml``."""
    folder = settings.root / "data" / "samples"
    return sorted(p for p in folder.glob("*") if p.suffix.lower() in (".csv", ".yaml", ".yml"))


def read_samples(dunning: Dunning, files: Sequence[Path]) -> tuple[list[Record], list[Finding]]:
    """The records of ``files``; rejected rows become findings (file and line)."""
    records: list[Record] = []
    findings: list[Finding] = []
    rel = relative_to(dunning.settings.root)
    for row in read_records(list(files), dunning.record_rules()):
        if isinstance(row, Rejection):
            findings.append(Finding("error", "record",
                                    f"{row.account_id or 'a record'}: {row.error.reason}",
                                    file=rel(Path(row.error.source)), line=row.error.line))
        else:
            records.append(row)
    return records, findings


@dataclass
class CheckReport:
    findings: list[Finding]
    letters: int
    pdfs: int
    summary: str
    settings: Settings | None = None

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def exit_code(self) -> int:
        return 1 if self.errors else 0


def plan_cases(*, templates: Sequence[str], stages: Sequence[Stage], locales: Sequence[str],
               brands: Sequence[str], records: Sequence[Record], typical: Sequence[Record],
               dunning: Dunning, pdf: bool = True) -> Iterator[Case]:
    """The letters a check renders (see the module docstring for why these)."""
    rel = relative_to(dunning.settings.root)

    def label(record: Record) -> str:
        return f"{record.account_id} ({rel(Path(record.source))}:{record.line})"

    for template in templates:
        for s, stage in enumerate(stages):
            for li, locale in enumerate(locales):
                for b, brand in enumerate(brands):
                    # PDFs for every locale × brand, with the stages rotating so that every
                    # stage × locale and stage × brand pair is also rendered once (pairwise)
                    paired = (li + b) % len(stages) == s or (
                        len(locales) * len(brands) < len(stages) and li == b == 0)
                    for i, record in enumerate(typical):
                        yield Case(template, stage, locale, brand, record,
                                   pdf=pdf and paired and i == 0, sample=label(record))
        for i, record in enumerate(records):
            yield Case(template, stages[i % len(stages)], dunning.locale_for(record),
                       record.brand, record, sample=label(record))


def run_checks(
    dunning: Dunning, *, samples: Sequence[Path] | None = None,
    templates: Sequence[str] | None = None, stages: Sequence[Stage] | None = None,
    locales: Sequence[str] | None = None, brands: Sequence[str] | None = None,
    pdf: bool = True,
) -> CheckReport:
    """Check every template × stage × locale × brand × sample (see the module docstring)."""
    settings = dunning.settings
    rules = load_wording(settings)
    templates = list(templates or entry_templates(settings.templates_dir)
                     or [settings.letter_template])
    stages = list(stages or STAGES)
    locales = list(locales or SUPPORTED_LOCALES)
    brands = list(brands or dunning.brands.keys())
    files = list(samples) if samples is not None else sample_files(settings)
    records, findings = read_samples(dunning, files)
    if not records:
        findings.append(Finding("error", "record", "no sample records to render",
                                file=", ".join(str(f) for f in files) or None))
    messages = template_messages(settings.templates_dir)
    findings += missing_translations(settings, messages, locales)
    for locale in locales:
        findings += translation_findings(settings, locale, messages)
    findings += [f for f in brand_findings(dunning, rules) if f.brand in brands]
    checker = Checker(dunning, rules, load_checklists(settings))
    sheets = [f for brand in brands for f in checker.stylesheets(brand)]
    findings += [f for f in dict.fromkeys(sheets) if f.severity == "warning"]
    typical = representative(records, dunning)[:TYPICAL]
    for case in plan_cases(templates=templates, stages=stages, locales=locales, brands=brands,
                           records=records, typical=typical, dunning=dunning, pdf=pdf):
        findings += checker.check(case)
    seen = {f.key() for f in findings}  # a letter found it: listed with that letter
    findings += [f for f in compile_findings(dunning) if f.key() not in seen]
    summary = (
        f"{len(templates)} template(s) × {len(stages)} stage(s) × {len(locales)} locale(s) × "
        f"{len(brands)} brand(s) with {len(typical)} representative sample(s), and "
        f"{len(records)} sample record(s) once each: "
        f"{checker.letters} letters, {checker.pdfs} rendered to PDF"
        + (f" ({checker.skipped} skipped: nothing owed)" if checker.skipped else ""))
    return CheckReport(findings=findings, letters=checker.letters, pdfs=checker.pdfs,
                       summary=summary, settings=settings)


# --------------------------------------------------------------------------- report


def group(findings: Iterable[Finding]) -> list[tuple[Finding, int]]:
    """Findings that are the same problem in several letters, once each with a count, in the
    order first seen: errors first."""
    seen: dict[tuple[Any, ...], list[Any]] = {}
    for finding in findings:
        entry = seen.setdefault(finding.key(), [finding, 0])
        entry[1] += 1
    grouped = [(f, n) for f, n in seen.values()]
    return sorted(grouped, key=lambda fn: fn[0].severity != "error")


def check_project(settings: Settings, *, samples: Sequence[Path] | None = None,
                  pdf: bool = True) -> CheckReport:
    """``dunning check`` for a project folder: :func:`run_checks`, or, when the configuration
    does not even load, every problem of the file at fault in an author's words (all the
    missing or unknown fields of every brand at once, not one per run)."""
    try:
        dunning = Dunning.load(settings)
    except ConfigError as exc:
        findings = config_findings(exc, settings)
        return CheckReport(findings=findings, letters=0, pdfs=0, settings=settings,
                           summary=f"the configuration does not load: {len(findings)} "
                                   "problem(s) to fix first; no letter was checked")
    return run_checks(dunning, samples=samples, pdf=pdf)


def format_report(report: CheckReport) -> str:
    lines = []
    for finding, count in group(report.findings):
        lines.append(str(finding))
        if report.settings is not None:
            lines += [f"    {'>' if n == finding.line else ' '} {n:4} | {text}" for n, text in
                      excerpt(report.settings, finding.file, finding.line, around=1, width=90)]
        letter = finding.letter()
        if letter:
            more = f" (and {count - 1} more letter{'s' if count > 2 else ''})" if count > 1 \
                else ""
            lines.append(f"    in: {letter}{more}")
    errors = len(report.errors)
    warnings = len(report.findings) - errors
    distinct = len(group(report.findings))
    lines.append(f"checked {report.summary}")
    lines.append(f"{'FAILED' if errors else 'ok'}: {distinct} distinct finding(s) "
                 f"({errors} error(s), {warnings} warning(s) across letters)")
    return "\n".join(lines)
