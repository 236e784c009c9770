"""WeasyPrint: letter HTML → PDF bytes, with a locked-down URL fetcher and font checks.

Takes the HTML from ``compose``; gives the PDF bytes and page count. WeasyPrint may read only
files under the templates' asset folder: no other ``file://`` path, no http(s), no data
leaving the machine. Before layout, every character of the letter is checked against the
locale's configured fonts, so a missing glyph fails the letter instead of printing a box.
HarfBuzz subsetting is required (without it WeasyPrint silently falls back to fontTools,
about 60 times slower for CJK fonts) unless the caller explicitly allows the slow path.

A :class:`PdfRenderer` is made once per process and kept warm: the stylesheets a letter links
under the asset folder are parsed once (not once per letter) and handed to WeasyPrint already
parsed, and the prepared fonts of :mod:`dunning.fonts` are put in front of their families.

This module uses WeasyPrint's public API (``HTML``, ``CSS``, ``write_pdf``); whatever else of
WeasyPrint it relies on is in :mod:`dunning.weasy`. A letter that cannot be made raises
:class:`~dunning.errors.RenderError` with its ``kind`` (``glyph``, ``overflow``,
``stylesheet``, ``resource``, ``weasyprint``, ``fonts``).
"""

from __future__ import annotations

import html
import io
import logging
import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from . import weasy
from .archive import ATTACHMENT_NAME, ATTACHMENT_RELATIONSHIP, ArchiveOptions
from .cssvars import DECLARED, Declarations, inline, scan, values_for
from .errors import ConfigError, RenderError
from .fonts import PreparedFonts
from .output import read_regular_text
from .plan import RenderedPdf
from .vcode import QR_ATTRIBUTE, qr_modules
from .weasy import harfbuzz_subset_available as harfbuzz_subset_available
from .weasy import load_weasyprint as load_weasyprint

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- environment


SLOW_SUBSETTING = (
    "libharfbuzz-subset is missing: WeasyPrint would fall back to fontTools and take about "
    "12 s instead of 0.2 s per CJK letter. Install it (Debian: apt-get install "
    "libharfbuzz-subset0, or run `make setup`), or pass --allow-slow-subsetting to accept it."
)


# --------------------------------------------------------------------------- fonts


@lru_cache(maxsize=32)
def font_charset(family: str) -> frozenset[int]:
    """Code points covered by any installed face of ``family``, per fontconfig.

    Raises ConfigError when no face of that family is installed."""
    if shutil.which("fc-list") is None:
        raise ConfigError("fc-list (fontconfig) not found; install the fontconfig package")
    out = subprocess.run(
        ["fc-list", "-f", "%{family}\t%{charset}\n", f"{family}"],
        capture_output=True, text=True, check=False,
    ).stdout
    covered: set[int] = set()
    found = False
    for row in out.splitlines():
        families, _, charset = row.partition("\t")
        if family not in [f.strip() for f in families.split(",")]:
            continue
        found = True
        for part in charset.split():
            start, _, end = part.partition("-")
            covered.update(range(int(start, 16), int(end or start, 16) + 1))
    if not found:
        raise ConfigError(
            f"font {family!r} is not installed (Debian: fonts-noto-cjk for Noto CJK; "
            "run `make setup`)"
        )
    return frozenset(covered)


class FontCoverage:
    """The union of the code points of a locale's font families."""

    def __init__(self, families: Iterable[str]) -> None:
        self.families = tuple(families)
        covered: set[int] = set()
        for family in self.families:
            covered |= font_charset(family)
        self.covered = frozenset(covered)

    def missing(self, text: str) -> list[str]:
        """Characters of ``text`` that no family covers (whitespace and controls ignored)."""
        return sorted({ch for ch in text if ord(ch) not in self.covered
                       and not ch.isspace() and ord(ch) >= 0x20})


_TAG = re.compile(r"<style.*?</style>|<[^>]*>", re.S)


def visible_text(markup: str) -> str:
    """The text of an HTML page without tags and styles, entities decoded."""
    return html.unescape(_TAG.sub(" ", markup))


# --------------------------------------------------------------------------- URL fetching


class FetchRefusedError(ValueError):
    """A resource outside the allowed folder was requested."""


#: What templates may load from the assets folder, with its content type (a fixed table, so
#: that the machine's /etc/mime.types is neither read nor relied on).
ASSET_TYPES = {
    ".css": "text/css", ".svg": "image/svg+xml", ".png": "image/png", ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg", ".gif": "image/gif", ".webp": "image/webp", ".otf": "font/otf",
    ".ttf": "font/ttf", ".woff": "font/woff", ".woff2": "font/woff2",
}


def asset_path(url: str, root: Path) -> Path | None:
    """The file under ``root`` (resolved) that ``url`` names, or None when it may not be
    loaded: not a local ``file:`` URL, outside ``root`` once percent-escapes, ``..`` and
    symbolic links are resolved, not a regular file, or not one of :data:`ASSET_TYPES`.

    >>> asset_path("http://example.com/letter.css", Path("/")) is None
    True
    """
    try:
        parts = urlsplit(url)
        if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
            return None
        path = Path(unquote(parts.path)).resolve()
        if path.is_relative_to(root) and path.suffix.lower() in ASSET_TYPES and path.is_file():
            return path
    except (ValueError, OSError):  # e.g. an embedded NUL
        pass
    return None


def serve_asset(url: str, root: Path) -> tuple[str, bytes, str]:
    """What WeasyPrint gets for ``url``: the file under ``root`` (resolved) it names, as
    (URL, content, content type); FetchRefusedError for anything else (:func:`asset_path`)."""
    path = asset_path(url, root)
    if path is None:
        raise FetchRefusedError(f"refused: only files under {root} may be loaded")
    return path.as_uri(), path.read_bytes(), ASSET_TYPES[path.suffix.lower()]


def _fetcher_class() -> type:
    """The URL fetcher class of the renderer: instances are made with the assets folder
    (resolved), serve :func:`serve_asset` and list what they refused in ``refused``."""
    return weasy.fetcher_class(serve_asset, FetchRefusedError)


# --------------------------------------------------------------------------- rendering


class PdfRenderer:
    """Turns letter HTML into PDF bytes. Keep one per process: it holds the font
    configuration and the fonts' coverage warm across letters."""

    def __init__(
        self, assets_dir: Path, fonts: dict[str, tuple[str, ...]], *,
        allow_slow_subsetting: bool = False,
    ) -> None:
        load_weasyprint()
        if not allow_slow_subsetting and not harfbuzz_subset_available():
            raise RenderError(SLOW_SUBSETTING, kind="fonts")
        self.assets_dir = assets_dir.resolve()
        self.fonts = fonts
        self.font_config = weasy.font_configuration()
        self._coverage: dict[str, FontCoverage] = {}
        self._fetcher = _fetcher_class()
        self._sources: dict[Path, tuple[tuple[int, int], str, Declarations]] = {}
        self._sheets: dict[tuple[Path, tuple[tuple[str, str], ...]], _Sheet] = {}
        families = {family for stack in fonts.values() for family in stack}
        self.prepared = PreparedFonts(self.assets_dir / "fonts", families)
        self._font_faces: dict[str, _Sheet] = {}

    def warm(self) -> None:
        """Do before the first letter what every letter needs: read every stylesheet under
        the assets folder (each is parsed when a letter language first uses it), read each
        configured font's coverage and load its faces."""
        from weasyprint import HTML

        for path in sorted(self.assets_dir.rglob("*.css")):
            self._source(path)
        for locale, families in self.fonts.items():
            self.coverage(locale)
            self._prepared_faces(locale)
            stack = ", ".join(f'"{family}"' for family in families)
            HTML(string=f"<p style='font-family: {stack}'>dunning 催收 <b>通知</b></p>").render(
                font_config=self.font_config)

    def coverage(self, locale: str) -> FontCoverage:
        if locale not in self._coverage:
            families = self.fonts.get(locale)
            if not families:
                raise ConfigError(f"no fonts configured for locale {locale}")
            self._coverage[locale] = FontCoverage(families)
        return self._coverage[locale]

    def check_glyphs(self, markup: str, locale: str) -> None:
        missing = self.coverage(locale).missing(visible_text(markup))
        if missing:
            shown = ", ".join(f"U+{ord(c):04X}" for c in missing[:10])
            raise RenderError(
                f"no configured font ({', '.join(self.coverage(locale).families)}) has a glyph "
                f"for {shown}; the letter would show empty boxes", kind="glyph",
            )

    def render(self, markup: str, locale: str,
               archive: ArchiveOptions | None = None) -> RenderedPdf:
        """Render one letter (one document, so page counters are per letter); with
        ``archive``, as the archive letter it describes (:mod:`dunning.archive`)."""
        from weasyprint import HTML

        self.check_glyphs(markup, locale)
        fetcher = self._fetcher(self.assets_dir)
        with weasy.collect_warnings() as warnings:
            try:
                page = HTML(string=markup, base_url=self.assets_dir.as_uri() + "/",
                            url_fetcher=fetcher)
                sheets = self._take_linked_stylesheets(page)
                if sheets and self.prepared.faces:
                    sheets.insert(0, self._prepared_faces(locale))
                document = page.render(font_config=self.font_config,
                                       stylesheets=[sheet.css for sheet in sheets])
                marked = list(weasy.boxes_with_attribute(document, FIT_ATTRIBUTE,
                                                         QR_ATTRIBUTE))
                overflow = overflowing(marked)
                if overflow:
                    raise RenderError(overflow[0], kind="overflow")
                codes = qr_codes(marked)
                data = (_write_archive(document, archive, codes) if archive is not None
                        else weasy.write_pdf(document, paint=codes, uncompressed_pdf=False))
            except RenderError:
                raise
            except Exception as exc:  # WeasyPrint raises many kinds; the letter fails alone
                raise RenderError(f"WeasyPrint failed: {type(exc).__name__}: {exc}",
                                  kind="weasyprint") from exc
        refused = [url for sheet in sheets for url in sheet.refused] + fetcher.refused
        if refused:
            raise RenderError(
                "the letter asked for resources outside the templates' assets folder: "
                + ", ".join(refused[:3]), kind="resource",
            )
        reported = [(sheet.file, m) for sheet in sheets for m in sheet.warnings]
        reported += [(None, m) for m in warnings]
        problems = [(file, m) for file, m in reported if not weasy.is_tolerated(m.message)]
        if problems:
            file, first = problems[0]
            raise RenderError(
                "WeasyPrint reported: " + " | ".join(m.message for _, m in problems[:3]),
                kind="stylesheet" if first.stylesheet else "weasyprint",
                # the line WeasyPrint names is in the file only when it parsed that file
                file=file if first.stylesheet else None,
                line=first.line if first.stylesheet and file else None,
            )
        return RenderedPdf(data=data, pages=len(document.pages),
                           qr_codes=tuple(code for _, attribute, code, _ in marked
                                          if attribute == QR_ATTRIBUTE))

    # ----------------------------------------------------------------- stylesheets

    def _source(self, path: Path) -> tuple[tuple[int, int], str, Declarations]:
        """The text of ``path`` and its custom properties, read once per process (again only
        when the file changes), with the file's (mtime, size) stamp."""
        stat = path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        source = self._sources.get(path)
        if source is None or source[0] != stamp:
            text = read_regular_text(path)
            source = (stamp, text, scan(text))
            self._sources[path] = source
        return source

    def _stylesheet(self, path: Path, values: dict[str, str] | None = None) -> _Sheet:
        """``path`` parsed once per process and set of inlined custom property ``values``
        (see dunning.cssvars), again only when the file changes."""
        from weasyprint import CSS

        stamp, text, _ = self._source(path)
        key = (path, tuple(sorted((values or {}).items())))
        sheet = self._sheets.get(key)
        if sheet is None or sheet.stamp != stamp:
            fetcher = self._fetcher(self.assets_dir)
            with weasy.collect_warnings() as warnings:
                css = CSS(string=self.prepared.prefer(inline(text, values or {})),
                          base_url=path.as_uri(), url_fetcher=fetcher,
                          font_config=self.font_config)
            sheet = _Sheet(css, stamp, tuple(warnings), tuple(fetcher.refused),
                           self._source_name(path))
            self._sheets[key] = sheet
        return sheet

    def _source_name(self, path: Path) -> str:
        """How an error names a stylesheet: relative to the templates folder (as template
        errors name templates), e.g. ``assets/letter.css``."""
        try:
            return path.relative_to(self.assets_dir.parent).as_posix()
        except ValueError:
            return str(path)

    def _inlined_values(self, page: Any, paths: list[Path]) -> dict[str, str]:
        """The custom properties to inline in ``paths`` for ``page``'s language: none that
        the page's own ``<style>`` or ``style`` attributes declare."""
        root = weasy.page_root(page)
        lang = root.get("lang") or ""
        if not lang:
            return {}
        blocked: set[str] = set()
        for element in root.iter():
            own = element.text if element.tag == "style" else element.get("style")
            if own:
                blocked.update(DECLARED.findall(own))
        return values_for([self._source(path)[2] for path in paths], lang, blocked)

    def _prepared_faces(self, locale: str) -> _Sheet:
        """The ``@font-face`` rules of the prepared fonts of ``locale``'s families (see
        dunning.fonts), parsed once; a locale's faces are loaded only when it is first used."""
        from weasyprint import CSS

        if locale not in self._font_faces:
            fetcher = self._fetcher(self.assets_dir)
            with weasy.collect_warnings() as warnings:
                css = CSS(string=self.prepared.font_face_css(self.fonts.get(locale, ())),
                          base_url=self.assets_dir.as_uri() + "/", url_fetcher=fetcher,
                          font_config=self.font_config)
            self._font_faces[locale] = _Sheet(css, (0, 0), tuple(warnings),
                                              tuple(fetcher.refused))
        return self._font_faces[locale]

    def _take_linked_stylesheets(self, page: Any) -> list[_Sheet]:
        """Swap the page's ``<link rel=stylesheet>`` to files under the assets folder for
        their parsed copies, in document order. (WeasyPrint would otherwise fetch, tokenize
        and parse letter.css and the brand's stylesheet again for every letter.) Links to
        anything else stay, for the URL fetcher to refuse. Passed this way they rank as user
        stylesheets in the cascade: below a ``<style>`` element or ``style`` attribute of the
        page whatever the specificity (the templates keep only the page footer's text there)."""
        paths: list[Path] = []
        for parent in list(weasy.page_root(page).iter()):
            for element in list(parent):
                if element.tag != "link" or not element.get("href"):
                    continue
                rels = element.get("rel", "").lower().split()
                if "stylesheet" not in rels or "alternate" in rels or \
                        element.get("media", "all").strip().lower() not in ("all", "print"):
                    continue
                path = _local_file(urljoin(weasy.page_base_url(page), element.get("href")),
                                   self.assets_dir)
                if path is None or path.suffix.lower() != ".css":
                    continue
                paths.append(path)
                parent.remove(element)
        if not paths:
            return []
        weasy.rewrap(page)
        values = self._inlined_values(page, paths)
        return [self._stylesheet(path, values) for path in paths]


#: CSS pixels per millimetre (WeasyPrint lays out in CSS px, 96 per inch).
_PX_PER_MM = 96 / 25.4


#: The attribute of an element whose text must fit its box (its value: where it is placed).
FIT_ATTRIBUTE = "data-fit"
#: A laid-out box of a rendered letter, as :func:`dunning.weasy.boxes_with_attribute` finds
#: it: (page number, attribute, its value, box).
Marked = tuple[int, str, str, Any]


def overflowing(marked: Iterable[Marked]) -> list[str]:
    """What does not fit where it must: for every box of ``marked`` found by
    :data:`FIT_ATTRIBUTE` (the addressee block: ``data-fit="the envelope window"``), a
    message when any of its lines or words reach past its content box (there ``overflow:
    hidden`` would silently cut off an address). Empty when everything fits."""
    found: list[str] = []
    for number, attribute, label, box in marked:
        if attribute != FIT_ATTRIBUTE:
            continue
        below, beyond = weasy.overflow(box)
        if below > 0.5 or beyond > 0.5:  # half a pixel: rounding, not overflow
            how = (f"{below / _PX_PER_MM:.1f} mm too tall" if below > 0.5 else
                   f"{beyond / _PX_PER_MM:.1f} mm too wide")
            found.append(f"the text placed for {label} does not fit it on page {number} "
                         f"({how}); shorten the address or change the brand's window")
    return found


def qr_codes(marked: Iterable[Marked]) -> list[weasy.Squares]:
    """The QR codes to paint over a rendered letter: one for each box of ``marked`` found by
    :data:`~dunning.vcode.QR_ATTRIBUTE` (the code), filling the largest square at the left
    of the box's top padding, above its content (the stylesheet gives ``.vcode`` an 18 mm
    top padding). A box with no top padding fails the letter: its code would be painted
    over its text."""
    found = []
    for number, attribute, code, box in marked:
        if attribute != QR_ATTRIBUTE:
            continue
        x, y, width, height = weasy.top_padding(box)
        if min(width, height) < _PX_PER_MM:
            raise RenderError(
                "the element that carries the verification code's QR code "
                f"({QR_ATTRIBUTE}) has no room above its text for it: give it a top "
                "padding as tall as the code (letter.css: .signature .vcode "
                "{ padding-top: 18mm })", kind="stylesheet")
        try:
            modules = qr_modules(code)
        except ValueError as exc:  # segno: no QR code holds this text
            raise RenderError(f"the verification code {code[:60]!r} cannot be a QR code: "
                              f"{exc}", kind="overflow") from exc
        found.append(weasy.Squares(page=number, x=x, y=y, side=min(width, height),
                                   size=modules.size, rects=modules.rects))
    return found


def _write_archive(document: Any, archive: ArchiveOptions,
                   paint: list[weasy.Squares]) -> bytes:
    """The PDF of a rendered WeasyPrint document with ``archive``'s variant, fixed dates,
    subject, keywords and attached record data, ``paint`` painted over its pages."""
    weasy.set_metadata(document, date=archive.w3c_date, subject=archive.reference,
                       keywords=list(archive.keywords))
    attachment = weasy.attachment(
        io.BytesIO(archive.attachment), name=ATTACHMENT_NAME,
        description="The record this letter was made from (ID number and phone masked)",
        created=archive.created, relationship=ATTACHMENT_RELATIONSHIP,
    )
    return weasy.write_pdf(document, paint=paint, uncompressed_pdf=False,
                           pdf_variant=archive.pdf_variant, attachments=[attachment])


@dataclass(frozen=True, slots=True)
class _Sheet:
    """A parsed stylesheet, with what WeasyPrint said and refused while parsing it (repeated
    for every letter that uses it, as if it had been parsed for that letter), and the file it
    was read from (None for the prepared fonts' generated rules). Its lines are the file's:
    naming the prepared faces adds no line break, nor does inlining a custom property whose
    value is on one line."""

    css: Any
    stamp: tuple[int, int]
    warnings: tuple[weasy.Reported, ...]
    refused: tuple[str, ...]
    file: str | None = None


def _local_file(url: str, root: Path) -> Path | None:
    """The regular file under ``root`` that a ``file:`` URL names, else None."""
    parts = urlsplit(url)
    if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
        return None
    try:
        path = Path(unquote(parts.path)).resolve()
    except (OSError, ValueError):
        return None
    return path if path.is_relative_to(root) and path.is_file() else None
