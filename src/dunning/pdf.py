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
"""

from __future__ import annotations

import html
import io
import logging
import os
import re
import shutil
import subprocess
import sys
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from .archive import ATTACHMENT_NAME, ATTACHMENT_RELATIONSHIP, ArchiveOptions
from .cssvars import DECLARED, Declarations, inline, scan, values_for
from .errors import ConfigError, RenderError
from .fonts import PreparedFonts
from .plan import RenderedPdf

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- environment


@contextmanager
def quick_library_lookup() -> Iterator[None]:
    """While importing WeasyPrint: find its C libraries in the ld.so cache only.

    cffi opens a library by trying each of the names WeasyPrint lists for all platforms
    (``libpango-1.0-0``, ``pango-1.0-0``, ``pango-1.0``…) and, for each name ``dlopen``
    rejects, asks ``ctypes.util.find_library``, which on Linux runs ``ldconfig -p`` and then,
    for a name that is not there, gcc and ld: about 12 ms for each of 16 names that exist only
    on Windows or macOS, 0.2 s of every cold start. Here a name not in the ld.so cache is not
    found, at once. Left as it is when ``LD_LIBRARY_PATH`` is set (ld would look there) or
    where ctypes has no ld.so cache reader."""
    import ctypes.util

    from_cache = getattr(ctypes.util, "_findSoname_ldconfig", None)
    if from_cache is None or os.environ.get("LD_LIBRARY_PATH") or sys.platform != "linux":
        yield
        return
    original = ctypes.util.find_library
    ctypes.util.find_library = from_cache
    try:
        yield
    finally:
        ctypes.util.find_library = original


def load_weasyprint() -> None:
    """Import WeasyPrint, once per process, with :func:`quick_library_lookup`."""
    if "weasyprint" not in sys.modules:
        with quick_library_lookup():
            import weasyprint  # noqa: F401


def harfbuzz_subset_available() -> bool:
    """Whether WeasyPrint found libharfbuzz-subset (the fast font subsetter)."""
    load_weasyprint()
    from weasyprint.text.ffi import harfbuzz, harfbuzz_subset

    return harfbuzz_subset is not None and bool(harfbuzz.hb_version_atleast(4, 1, 0))


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


def _fetcher_class() -> type:
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class AssetsOnlyFetcher(URLFetcher):  # type: ignore[misc]
        """Serves ``file://`` URLs under one folder; refuses everything else."""

        def __init__(self, root: Path) -> None:
            super().__init__(timeout=1, allowed_protocols=("file",))
            self.root = root.resolve()
            self.refused: list[str] = []

        def fetch(self, url: str, headers: Any = None) -> Any:
            path = asset_path(url, self.root)
            if path is None:
                self.refused.append(url[:200])
                raise FetchRefusedError(f"refused: only files under {self.root} may be loaded")
            mime = ASSET_TYPES[path.suffix.lower()]
            return URLFetcherResponse(path.as_uri(), path.read_bytes(),
                                      headers={"Content-Type": mime})

    return AssetsOnlyFetcher


# --------------------------------------------------------------------------- rendering


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def _weasyprint_warnings() -> Iterator[list[str]]:
    handler = _Collect()
    logger = logging.getLogger("weasyprint")
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)


class PdfRenderer:
    """Turns letter HTML into PDF bytes. Keep one per process: it holds the font
    configuration and the fonts' coverage warm across letters."""

    def __init__(
        self, assets_dir: Path, fonts: dict[str, tuple[str, ...]], *,
        allow_slow_subsetting: bool = False,
    ) -> None:
        load_weasyprint()
        if not allow_slow_subsetting and not harfbuzz_subset_available():
            raise RenderError(SLOW_SUBSETTING)
        from weasyprint.text.fonts import FontConfiguration

        self.assets_dir = assets_dir.resolve()
        self.fonts = fonts
        self.font_config = FontConfiguration()
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
                f"for {shown}; the letter would show empty boxes", kind="glyph"
            )

    def render(self, markup: str, locale: str,
               archive: ArchiveOptions | None = None) -> RenderedPdf:
        """Render one letter (one document, so page counters are per letter); with
        ``archive``, as the archive letter it describes (:mod:`dunning.archive`)."""
        from weasyprint import HTML

        self.check_glyphs(markup, locale)
        fetcher = self._fetcher(self.assets_dir)
        with _weasyprint_warnings() as warnings:
            try:
                page = HTML(string=markup, base_url=self.assets_dir.as_uri() + "/",
                            url_fetcher=fetcher)
                sheets = self._take_linked_stylesheets(page)
                if sheets and self.prepared.faces:
                    sheets.insert(0, self._prepared_faces(locale))
                document = page.render(font_config=self.font_config,
                                       stylesheets=[sheet.css for sheet in sheets])
                overflow = overflowing(document)
                if overflow:
                    raise RenderError(overflow[0])
                data = (_write_archive(document, archive) if archive is not None
                        else document.write_pdf(uncompressed_pdf=False))
            except RenderError:
                raise
            except Exception as exc:  # WeasyPrint raises many kinds; the letter fails alone
                raise RenderError(f"WeasyPrint failed: {type(exc).__name__}: {exc}") from exc
        refused = [url for sheet in sheets for url in sheet.refused] + fetcher.refused
        if refused:
            raise RenderError(
                "the letter asked for resources outside the templates' assets folder: "
                + ", ".join(refused[:3])
            )
        warnings = [m for sheet in sheets for m in sheet.warnings] + warnings
        problems = [m for m in warnings if "Ignored" not in m or "unknown" not in m]
        if problems:
            raise RenderError("WeasyPrint reported: " + " | ".join(problems[:3]))
        return RenderedPdf(data=data, pages=len(document.pages))

    # ----------------------------------------------------------------- stylesheets

    def _source(self, path: Path) -> tuple[tuple[int, int], str, Declarations]:
        """The text of ``path`` and its custom properties, read once per process (again only
        when the file changes), with the file's (mtime, size) stamp."""
        stat = path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        source = self._sources.get(path)
        if source is None or source[0] != stamp:
            text = path.read_text("utf-8")
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
            with _weasyprint_warnings() as warnings:
                css = CSS(string=self.prepared.prefer(inline(text, values or {})),
                          base_url=path.as_uri(), url_fetcher=fetcher,
                          font_config=self.font_config)
            sheet = _Sheet(css, stamp, tuple(warnings), tuple(fetcher.refused))
            self._sheets[key] = sheet
        return sheet

    def _inlined_values(self, page: Any, paths: list[Path]) -> dict[str, str]:
        """The custom properties to inline in ``paths`` for ``page``'s language: none that
        the page's own ``<style>`` or ``style`` attributes declare."""
        root = page.etree_element
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
            with _weasyprint_warnings() as warnings:
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
        import cssselect2

        paths: list[Path] = []
        for parent in list(page.etree_element.iter()):
            for element in list(parent):
                if element.tag != "link" or not element.get("href"):
                    continue
                rels = element.get("rel", "").lower().split()
                if "stylesheet" not in rels or "alternate" in rels or \
                        element.get("media", "all").strip().lower() not in ("all", "print"):
                    continue
                path = _local_file(urljoin(page.base_url, element.get("href")), self.assets_dir)
                if path is None or path.suffix.lower() != ".css":
                    continue
                paths.append(path)
                parent.remove(element)
        if not paths:
            return []
        page.wrapper_element = cssselect2.ElementWrapper.from_html_root(
            page.etree_element, content_language=None)
        values = self._inlined_values(page, paths)
        return [self._stylesheet(path, values) for path in paths]


#: CSS pixels per millimetre (WeasyPrint lays out in CSS px, 96 per inch).
_PX_PER_MM = 96 / 25.4


def overflowing(document: Any) -> list[str]:
    """What does not fit where it must: for every element of the rendered ``document`` with
    a ``data-fit`` attribute (the addressee block: ``data-fit="the envelope window"``), a
    message when any of its lines or words reach past its content box (there ``overflow:
    hidden`` would silently cut off an address). Empty when everything fits."""
    from weasyprint.formatting_structure.boxes import LineBox, ParentBox

    found: list[str] = []
    seen: set[int] = set()
    for number, page in enumerate(document.pages, 1):
        for found_box in page._page_box.descendants():
            box = getattr(found_box, "_box", found_box)  # an absolute box's placeholder
            element = getattr(box, "element", None)
            label = element.get("data-fit") if element is not None else None
            if not label or id(element) in seen or not isinstance(box, ParentBox):
                continue
            seen.add(id(element))
            bottom = box.content_box_y() + box.height
            right = box.content_box_x() + box.width
            below = beyond = 0.0
            for inner in box.descendants():
                if isinstance(inner, LineBox):
                    below = max(below, inner.position_y + inner.margin_height() - bottom)
                    for child in inner.children:
                        beyond = max(beyond, child.position_x + child.margin_width() - right)
            if below > 0.5 or beyond > 0.5:  # half a pixel: rounding, not overflow
                how = (f"{below / _PX_PER_MM:.1f} mm too tall" if below > 0.5 else
                       f"{beyond / _PX_PER_MM:.1f} mm too wide")
                found.append(f"the text placed for {label} does not fit it on page {number} "
                             f"({how}); shorten the address or change the brand's window")
    return found


def _write_archive(document: Any, archive: ArchiveOptions) -> bytes:
    """The PDF of a rendered WeasyPrint document with ``archive``'s variant, fixed dates,
    subject, keywords and attached record data."""
    from weasyprint import Attachment

    metadata = document.metadata
    metadata.created = metadata.modified = archive.w3c_date
    metadata.description = archive.reference
    metadata.keywords = list(archive.keywords)
    utc = archive.created.astimezone(UTC).replace(tzinfo=None)  # WeasyPrint writes it as Z
    attachment = Attachment(
        file_obj=io.BytesIO(archive.attachment), name=ATTACHMENT_NAME,
        description="The record this letter was made from (ID number and phone masked)",
        created=utc, modified=utc, relationship=ATTACHMENT_RELATIONSHIP,
    )
    with warnings.catch_warnings():
        # WeasyPrint 70 opens its sRGB profile for the output intent and never closes it.
        warnings.filterwarnings("ignore", r"unclosed file .*sRGB2014\.icc", ResourceWarning)
        data: bytes = document.write_pdf(
            uncompressed_pdf=False, pdf_variant=archive.pdf_variant, attachments=[attachment],
            finisher=_unique_associated_files)
    return data


def _unique_associated_files(document: Any, pdf: Any) -> None:
    """WeasyPrint 70 lists each attachment twice in the catalog's /AF (once from the
    embedded files' name tree, once from the file specifications): keep each once."""
    listed = pdf.catalog.get("AF")
    if listed:
        unique = list(dict.fromkeys(listed))
        listed.clear()
        listed.extend(unique)


@dataclass(frozen=True, slots=True)
class _Sheet:
    """A parsed stylesheet, with what WeasyPrint said and refused while parsing it (repeated
    for every letter that uses it, as if it had been parsed for that letter)."""

    css: Any
    stamp: tuple[int, int]
    warnings: tuple[str, ...]
    refused: tuple[str, ...]


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
