"""What the preview shows: a selection (template, stage, brand, locale, sample record) in,
the letter's page images, its findings and its metadata out, or the error an author can act
on (file, line, message and the lines around it; never a stack trace).

The letter is made by the real pipeline: :meth:`Dunning.plan_as` forces the chosen stage and
locale on the chosen record (with the chosen brand), :meth:`Dunning.html` renders the
templates, the batch's :class:`~dunning.pdf.PdfRenderer` makes the PDF and poppler's
``pdftoppm`` turns its pages into PNG. The only difference from a batch letter is the DRAFT
watermark, a stylesheet added to the HTML here and nowhere else.
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from .. import compose, locale
from ..check import Case, Checker, entry_templates, group, read_samples, sample_files
from ..checklists import checklist_findings
from ..errors import ConfigError, DunningError
from ..explain import config_findings, excerpt
from ..letter import Dunning
from ..pdf import PdfRenderer
from ..policy import STAGES, Stage
from ..records import Record
from ..rules import (
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
    translation_findings,
)
from ..settings import SUPPORTED_LOCALES, Settings
from ..stylecheck import letter_stylesheets, stylesheet_findings

log = logging.getLogger(__name__)

#: Added to the letter's HTML in the preview only: a DRAFT mark across every page (fixed
#: boxes repeat on each page in WeasyPrint). Batch letters never pass through here.
WATERMARK = """<style id="dunning-preview-watermark">
body::after {
  content: "DRAFT"; position: fixed; left: 0; right: 0; top: 38%;
  text-align: center; font-family: sans-serif; font-weight: bold; font-size: 110pt;
  letter-spacing: 12pt; color: rgba(200, 30, 30, 0.16); transform: rotate(-35deg);
}
</style>
"""

RESOLUTION = 100  # pixels per inch of the page images (A4: 827 x 1169)


def watermarked(markup: str) -> str:
    """The letter HTML with the DRAFT stylesheet last in its head.

    >>> "DRAFT" in watermarked("<html><head></head><body></body></html>")
    True
    """
    at = markup.lower().rfind("</head>")
    return markup[:at] + WATERMARK + markup[at:] if at >= 0 else WATERMARK + markup


def rasterize(pdf: bytes, resolution: int = RESOLUTION) -> list[bytes]:
    """PNG images of a PDF's pages, first to last (poppler's pdftoppm)."""
    with tempfile.TemporaryDirectory(prefix="dunning-preview-") as tmp:
        source = Path(tmp) / "letter.pdf"
        source.write_bytes(pdf)
        subprocess.run(["pdftoppm", "-png", "-r", str(resolution), str(source),
                        str(Path(tmp) / "page")], check=True, capture_output=True)
        pages = sorted(Path(tmp).glob("page-*.png"),
                       key=lambda p: int(p.stem.rsplit("-", 1)[1]))
        return [p.read_bytes() for p in pages]


def clear_caches() -> None:
    """Forget compiled templates and catalogs, so that the next letter reads the files
    again (a ``.po`` newer than its ``.mo`` is compiled in memory by ``translations``)."""
    compose.environment.cache_clear()
    locale.translations.cache_clear()


@dataclass(frozen=True, slots=True)
class Selection:
    """What the author picked. ``source`` is a record file they named ('' = the project's
    ``data/samples/``); ``sample`` an account id in it."""

    template: str = ""
    stage: str = "formal"
    brand: str = ""
    locale: str = ""
    sample: str = ""
    source: str = ""

    @classmethod
    def from_query(cls, query: Any) -> Selection:
        return cls(**{name: str(query.get(name) or "").strip()
                      for name in cls.__dataclass_fields__})


@dataclass
class Problem:
    """An error that stopped the letter, as an author needs it: kind, message, file and
    line, and the numbered lines around that line."""

    kind: str
    message: str
    file: str | None = None
    line: int | None = None
    excerpt: list[tuple[int, str]] = field(default_factory=list)
    advice: str | None = None


@dataclass
class Result:
    """One rendered (or failed) letter for a selection at a generation."""

    id: str
    generation: int
    selection: Selection
    pages: list[bytes] = field(default_factory=list)
    page_text: list[str] = field(default_factory=list)
    pdf: bytes = b""
    findings: list[Finding] = field(default_factory=list)
    problem: Problem | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    excerpts: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    others: list[Finding] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "generation": self.generation,
            "selection": asdict(self.selection),
            "pages": [{"url": f"/letter/{self.id}/page-{n}.png", "text": text}
                      for n, text in enumerate(self.page_text, 1)],
            "pdf": f"/letter/{self.id}/draft.pdf" if self.pdf else None,
            "findings": [{**f.to_dict(), "where": f.where, "count": count,
                          "excerpt": self.excerpts.get(f.where, [])}
                         for f, count in group(self.findings)],
            "problem": asdict(self.problem) if self.problem else None,
            "problems": [f.to_dict() for f in self.others],
            "meta": self.meta,
            "seconds": round(self.seconds, 2),
        }


class Workspace:
    """The project as the preview sees it; reloaded from disk when files change.

    Thread-safe: renders run one at a time (WeasyPrint's font configuration is shared)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.generation = 0
        self.extra_sources: set[Path] = set()
        self._lock = threading.RLock()
        self._dunning: Dunning | None = None
        self._renderer: PdfRenderer | None = None
        self._results: OrderedDict[str, Result] = OrderedDict()
        self._samples: dict[str, tuple[list[Record], list[Finding]]] = {}

    # ------------------------------------------------------------------ state

    def reload(self) -> int:
        """Files changed: drop everything read from them; returns the new generation."""
        with self._lock:
            clear_caches()
            self._dunning = None
            self._samples.clear()
            self._results.clear()
            self.generation += 1
            return self.generation

    def dunning(self) -> Dunning:
        """The loaded configuration (ConfigError while it is broken)."""
        with self._lock:
            if self._dunning is None:
                dunning = Dunning.load(self.settings)
                if self._renderer is None:
                    self._renderer = dunning.renderer
                # keep one warm renderer (fonts loaded) across reloads of the config
                self._dunning = replace(dunning, _renderer=self._renderer)
            return self._dunning

    def resolve_source(self, source: str) -> Path:
        path = Path(source).expanduser()
        return path if path.is_absolute() else (self.settings.root / path)

    def samples(self, source: str = "") -> tuple[list[Record], list[Finding]]:
        """The records of the named file, or of ``data/samples/``, and their rejections."""
        with self._lock:
            if source not in self._samples:
                dunning = self.dunning()
                if source:
                    path = self.resolve_source(source)
                    if not path.is_file():
                        return [], [Finding("error", "input", f"no such file: {source}")]
                    self.extra_sources.add(path.resolve())
                    files = [path]
                else:
                    files = sample_files(self.settings)
                self._samples[source] = read_samples(dunning, files)
            return self._samples[source]

    def options(self, source: str = "") -> dict[str, Any]:
        """What the author can pick, or the configuration error that prevents it."""
        base: dict[str, Any] = {
            "generation": self.generation,
            "stages": list(STAGES),
            "locales": list(SUPPORTED_LOCALES),
            "templates": entry_templates(self.settings.templates_dir)
            or [self.settings.letter_template],
            "default_template": self.settings.letter_template,
            "root": str(self.settings.root),
        }
        try:
            dunning = self.dunning()
            records, rejected = self.samples(source)
        except DunningError as exc:
            return {**base, "brands": [], "samples": [], "rejected": [],
                    "problem": asdict(self.problem(exc)),
                    "problems": [f.to_dict() for f in self.problems(exc)]}
        brands = [{"key": key, "default_locale": brand.default_locale
                   or self.settings.default_locale}
                  for key, brand in dunning.brands.by_key.items()]
        rel = relative_to(self.settings.root)
        samples = [{"id": r.account_id, "brand": r.brand, "locale": dunning.locale_for(r),
                    "where": f"{rel(Path(r.source))}:{r.line}"} for r in records]
        return {**base, "brands": brands, "samples": samples,
                "rejected": [f.to_dict() for f in rejected], "problem": None}

    # ------------------------------------------------------------------ rendering

    def complete(self, selection: Selection) -> Selection:
        """The selection with defaults filled in for what the author has not picked yet."""
        dunning = self.dunning()
        records, _ = self.samples(selection.source)
        brand = selection.brand or (records[0].brand if records else dunning.brands.keys()[0])
        locale_ = selection.locale or (dunning.brands[brand].default_locale
                                       if brand in dunning.brands else None) \
            or self.settings.default_locale
        return replace(
            selection,
            template=selection.template or self.settings.letter_template,
            stage=selection.stage if selection.stage in STAGES else "formal",
            brand=brand, locale=locale_,
            sample=selection.sample or (records[0].account_id if records else ""),
        )

    def render(self, selection: Selection) -> Result:
        """The letter for ``selection`` (cached until the next change)."""
        with self._lock:
            started = time.monotonic()
            generation = self.generation
            try:
                selection = self.complete(selection)
            except DunningError as exc:
                return self._store(Result(id=self._id(selection, generation),
                                          generation=generation, selection=selection,
                                          problem=self.problem(exc),
                                          others=self.problems(exc)))
            rid = self._id(selection, generation)
            if rid in self._results:
                return self._results[rid]
            result = Result(id=rid, generation=generation, selection=selection)
            try:
                self._render_into(result)
            except DunningError as exc:
                result.problem = self.problem(exc)
            except (ValueError, ArithmeticError, subprocess.CalledProcessError) as exc:
                log.exception("preview: %s failed", selection.sample)
                result.problem = Problem("error", f"{type(exc).__name__}: {exc}")
            result.seconds = time.monotonic() - started
            return self._store(result)

    def _render_into(self, result: Result) -> None:
        sel = result.selection
        dunning = self.dunning()
        records, _ = self.samples(sel.source)
        record = next((r for r in records if r.account_id == sel.sample), None)
        if sel.source and not self.resolve_source(sel.source).is_file():
            result.problem = Problem(
                "input", f"the record file {sel.source} does not exist (looked for "
                f"{self.resolve_source(sel.source)}): check its name, or empty the Record file "
                "field to use data/samples/")
            return
        if record is None:
            result.problem = Problem("input", f"no sample record {sel.sample!r} in "
                                     f"{sel.source or 'data/samples/'}")
            return
        for name, allowed in (("brand", dunning.brands.keys()), ("locale", SUPPORTED_LOCALES),
                              ("template", entry_templates(self.settings.templates_dir)
                               or [self.settings.letter_template])):
            value = getattr(sel, name)
            if value not in allowed:
                result.problem = Problem("input", f"unknown {name} {value!r}; "
                                         f"choose one of {', '.join(allowed)}")
                return
        rules = self.wording()
        stage: Stage = sel.stage  # type: ignore[assignment]  # checked in complete()
        case = Case(sel.template, stage, sel.locale, sel.brand, record,
                    sample=f"{record.account_id} ({record.where})")
        checker = Checker(dunning, rules)
        letters = checker.for_template(sel.template)
        plan = checker.plan(case)
        real = dunning.plan(record, plan.as_of)
        result.meta = {
            "account_id": record.account_id, "brand": sel.brand, "locale": sel.locale,
            "stage": sel.stage, "template": sel.template, "as_of": plan.as_of.isoformat(),
            "dpd": plan.items.dpd, "total": str(plan.items.total),
            "currency": plan.items.currency,
            "batch": (f"in a batch dated {plan.as_of} this record gets no letter: "
                      f"{real.suppression}") if real.suppression else None,
        }
        if plan.items.total <= 0:
            result.problem = Problem("input", f"{record.account_id} owes nothing at the "
                                     f"{sel.stage} stage's dates, so it never gets a letter; "
                                     "pick another record or stage")
            return
        markup = letters.html(plan)
        findings = letter_findings(
            markup, stage=stage, locale=sel.locale, brand=sel.brand, record=plan.record,
            rules=rules, settings=self.settings, template=sel.template,
            brand_hours=checker.hours(sel.brand), own=brand_names(dunning, sel.brand))
        findings += checklist_findings(markup, stage=stage, locale=sel.locale, brand=sel.brand,
                                       checklists=checker.required(), template=sel.template,
                                       own=[*brand_names(dunning, sel.brand),
                                            *record_texts(plan.record)])
        sheets = stylesheet_findings(
            letter_stylesheets(self.settings, dunning.brands[sel.brand].stylesheet),
            self.settings)
        findings += sheets
        broken = [f for f in sheets if f.severity == "error"]
        if broken:
            result.findings = case.stamp(findings)
            result.problem = self.finding_problem(broken[0])
            return
        pdf = dunning.renderer.render(watermarked(markup), sel.locale)
        result.pdf = pdf.data
        result.page_text = pdf_text_pages(pdf.data)
        result.pages = rasterize(pdf.data)
        findings += footer_findings(result.page_text, plan, self.settings, sel.template)
        findings += missing_translations(self.settings)
        findings += translation_findings(self.settings, sel.locale)
        findings += [f for f in brand_findings(dunning, rules) if f.brand == sel.brand]
        result.findings = case.stamp(findings)
        result.meta["pages"] = len(result.pages)

    def wording(self) -> WordingRules:
        return load_wording(self.settings)

    def result(self, rid: str) -> Result | None:
        with self._lock:
            return self._results.get(rid)

    def _store(self, result: Result) -> Result:
        for finding in result.findings:
            if finding.line and finding.where not in result.excerpts:
                result.excerpts[finding.where] = excerpt(self.settings, finding.file,
                                                         finding.line, around=2)
        self._results[result.id] = result
        while len(self._results) > 12:
            self._results.popitem(last=False)
        return result

    def _id(self, selection: Selection, generation: int) -> str:
        key = repr((asdict(selection), generation, self._source_stamp(selection.source)))
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    def _source_stamp(self, source: str) -> float:
        if not source:
            return 0.0
        try:
            return self.resolve_source(source).stat().st_mtime
        except OSError:
            return 0.0

    # ------------------------------------------------------------------ errors

    def problem(self, exc: BaseException) -> Problem:
        """An error as the author needs it: file, line, message and the lines around; for a
        config error, in plain words (the others of its file are in :meth:`problems`)."""
        if isinstance(exc, ConfigError):
            return self.finding_problem(config_findings(exc, self.settings)[0])
        return self.finding_problem(error_finding(exc, self.settings))

    def problems(self, exc: BaseException) -> list[Finding]:
        """Every problem of the file behind a config error (all missing fields of all
        brands, …), to list under the one shown."""
        return config_findings(exc, self.settings) if isinstance(exc, ConfigError) else []

    def finding_problem(self, finding: Finding) -> Problem:
        return Problem(kind=finding.kind, message=finding.message, file=finding.file,
                       line=finding.line, advice=finding.advice,
                       excerpt=excerpt(self.settings, finding.file, finding.line))

    def watched_paths(self) -> Sequence[Path]:
        """The folders whose changes refresh the page."""
        folders = [self.settings.templates_dir, self.settings.config_dir,
                   self.settings.locales_dir, self.settings.root / "data" / "samples"]
        return [f for f in folders if f.is_dir()]

