"""WeasyPrint at arm's length: every WeasyPrint internal dunning relies on, in one module.

``pdf`` (the renderer) uses WeasyPrint's public API (``HTML``, ``CSS``,
``Document.write_pdf``) directly and reaches everything else through here, as ``doctor``
does: private attributes, module internals, the texts of its log messages and the
work-arounds for its bugs.
Each function says what it relies on and why; ``tests/test_weasy.py`` tests each of those
against the installed WeasyPrint, so that an upgrade that changes one fails there, by name,
instead of changing letters quietly. pyproject pins the major version the tests ran with
(``weasyprint>=70,<71``): an upgrade is a deliberate change, made by running those tests.

Behaviours relied on elsewhere, with no code of their own here, are tested here too: that
WeasyPrint keeps glyph ids when it subsets a face (what :mod:`dunning.fonts` orders the
prepared faces for). That the stylesheets passed to ``render`` rank as user stylesheets, below
the page's own ``<style>`` (:mod:`dunning.pdf`), is tested in ``tests/test_pdf.py``.
``bench/phases.py`` wraps WeasyPrint's internal phases to time them; it is a measuring tool,
not on the path of a letter, and is left out of this module.

Nothing here imports WeasyPrint when this module is imported: ``import dunning.pdf`` stays
light, and WeasyPrint is imported (once, with :func:`quick_library_lookup`) when a renderer or
a check first needs it.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import IO, Any

#: The logger WeasyPrint reports stylesheet, image and layout problems on.
LOGGER_NAME = "weasyprint"

# --------------------------------------------------------------------------- loading


@contextmanager
def quick_library_lookup() -> Iterator[None]:
    """While importing WeasyPrint: find its C libraries in the ld.so cache only.

    Relies on: WeasyPrint's ``text.ffi`` opening each library through cffi's ``dlopen``,
    trying each of the names it lists for all platforms (``libpango-1.0-0``, ``pango-1.0-0``,
    ``pango-1.0``…), and cffi asking ``ctypes.util.find_library`` for each name ``dlopen``
    rejects; and on ctypes' private ld.so cache reader ``ctypes.util._findSoname_ldconfig``.
    Why: ``find_library`` runs ``ldconfig -p`` and then, for a name that is not there, gcc
    and ld: about 12 ms for each of 16 names that exist only on Windows or macOS, 0.2 s of
    every cold start. Here a name not in the ld.so cache is not found, at once. Left as it is
    when ``LD_LIBRARY_PATH`` is set (ld would look there) or where ctypes has no ld.so cache
    reader."""
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
    """Whether WeasyPrint found libharfbuzz-subset (the fast font subsetter).

    Relies on: ``weasyprint.text.ffi.harfbuzz_subset`` being None when the library could not
    be opened, and WeasyPrint subsetting fonts with it only when HarfBuzz is at least 4.1.0
    (``pdf.fonts.Font.subset``); otherwise it logs a warning per font and falls back to
    fontTools, about 60 times slower for CJK faces. Why: dunning refuses that slow path
    unless asked to take it, so it must know beforehand which path WeasyPrint will take."""
    load_weasyprint()
    from weasyprint.text.ffi import harfbuzz, harfbuzz_subset

    return harfbuzz_subset is not None and bool(harfbuzz.hb_version_atleast(4, 1, 0))


def pango_version() -> int:
    """Pango's version as WeasyPrint loaded it (e.g. 15010 for 1.50.10).

    Relies on: ``weasyprint.text.ffi.pango``, the cffi handle of the Pango library WeasyPrint
    opened, with ``pango_version`` declared. Why: ``dunning doctor`` reports the Pango that
    letters are laid out with, not some other copy on the machine. Raises OSError or
    ImportError when Pango cannot be loaded."""
    load_weasyprint()
    from weasyprint.text.ffi import pango

    return int(pango.pango_version())


def font_configuration() -> Any:
    """A new ``weasyprint.text.fonts.FontConfiguration`` (the ``@font-face`` faces loaded
    for documents rendered with it).

    Relies on: the class living in ``weasyprint.text.fonts`` and holding the faces it loaded
    from one stylesheet to the next. Why: a renderer keeps one per process, so the prepared
    faces are loaded once, not once per letter."""
    load_weasyprint()
    from weasyprint.text.fonts import FontConfiguration

    return FontConfiguration()


# --------------------------------------------------------------------------- what it logs


@dataclass(frozen=True, slots=True)
class Reported:
    """One warning or error WeasyPrint logged: its text; whether WeasyPrint's CSS code logged
    it (a problem in a stylesheet or a ``<style>``); the line of the stylesheet it names,
    when it names one."""

    message: str
    stylesheet: bool
    line: int | None

    def __str__(self) -> str:
        return self.message


#: "… at 4:3 …": where WeasyPrint's CSS warnings say the problem is (line, column).
_AT_LINE = re.compile(r" at (\d+):(\d+)\b")


def reported(record: logging.LogRecord) -> Reported:
    """What a log record of WeasyPrint's says.

    Relies on: WeasyPrint logging every stylesheet problem from its ``css`` package (the
    record's ``pathname`` is under ``weasyprint/css/``), with the line and column in the
    stylesheet as "at LINE:COLUMN" in the text when it knows them ("Ignored `color:nope` at
    4:3, invalid value.", "Parse error at 2:1: …", "the whole rule was ignored at 3:1.") and
    never the stylesheet's file. Why: a letter that fails for a stylesheet problem says
    which line to fix; the caller knows which file it parsed."""
    message = record.getMessage()
    stylesheet = f"{os.sep}weasyprint{os.sep}css{os.sep}" in record.pathname
    match = _AT_LINE.search(message) if stylesheet else None
    return Reported(message, stylesheet, int(match.group(1)) if match else None)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.reported: list[Reported] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.reported.append(reported(record))


@contextmanager
def collect_warnings() -> Iterator[list[Reported]]:
    """The warnings and errors WeasyPrint logs meanwhile (:class:`Reported`).

    Relies on: WeasyPrint reporting stylesheet problems (an invalid value, a parse error),
    images and stylesheets it could not load, on the ``weasyprint`` logger at WARNING or
    ERROR level instead of raising. Why: a letter with such a problem must fail rather than
    print without a rule or an image."""
    handler = _Collect()
    logger = logging.getLogger(LOGGER_NAME)
    logger.addHandler(handler)
    try:
        yield handler.reported
    finally:
        logger.removeHandler(handler)


def is_tolerated(message: str) -> bool:
    """Whether a WeasyPrint warning is one a letter may carry: a declaration ignored because
    WeasyPrint does not know the property (``Ignored `foo:bar` at 3:5, unknown property.``).

    Relies on: the text WeasyPrint 70 logs for it (``css/validation``: "Ignored `%s:%s` at
    %d:%d, %s." with the reason "unknown property"). Why: a stylesheet may carry properties
    for other renderers (the preview's browser); every other warning fails the letter."""
    return "Ignored" in message and "unknown" in message


# --------------------------------------------------------------------------- the page


def page_root(page: Any) -> Any:
    """The parsed document (an ElementTree root element) of a ``weasyprint.HTML``.

    Relies on: ``HTML.etree_element``, set in ``HTML.__init__``; changes made to it before
    ``render`` show in the letter once :func:`rewrap` has run. Why: the renderer takes the
    stylesheet links out of the page, to pass their parsed copies instead."""
    return page.etree_element


def page_base_url(page: Any) -> str:
    """The base URL relative links of a ``weasyprint.HTML`` resolve against.

    Relies on: ``HTML.base_url``, set in ``HTML.__init__`` (from ``<base href>`` or the
    ``base_url`` given)."""
    url: str = page.base_url
    return url


def rewrap(page: Any) -> None:
    """Make a ``weasyprint.HTML`` see the changes made to :func:`page_root`.

    Relies on: ``HTML.__init__`` wrapping the parsed tree once, as
    ``cssselect2.ElementWrapper.from_html_root(root, content_language=None)`` in
    ``HTML.wrapper_element``, which the cascade, the boxes and the metadata read, and
    cssselect2 caching a wrapper's children once asked for (``etree_children``). Why: the
    renderer removes elements from the tree after ``__init__``; a fresh wrapper sees the tree
    as it is now whatever was asked of the old one. (In WeasyPrint 70 only the root's
    children are cached and nothing asks for them before ``render``, so this is a
    safeguard.)"""
    import cssselect2

    page.wrapper_element = cssselect2.ElementWrapper.from_html_root(
        page.etree_element, content_language=None)


# --------------------------------------------------------------------------- layout


def boxes_with_attribute(document: Any, *attributes: str,
                         ) -> Iterator[tuple[int, str, str, Any]]:
    """``(page number, attribute, value, box)`` for the first box of each element that has
    one of ``attributes`` (once for each it has), in a rendered ``weasyprint.Document``;
    only boxes that hold others. One walk over the laid-out boxes, whatever the number of
    attributes.

    Relies on: ``Page._page_box``, the laid-out box tree of a page (private);
    ``Box.descendants()`` yielding, in place of an absolutely positioned box, its
    ``layout.absolute.AbsolutePlaceholder`` whose private ``_box`` is the laid-out box;
    ``Box.element`` (the HTML element a box was made for) and
    ``formatting_structure.boxes.ParentBox``. Why: a box of fixed size whose content does not
    fit it (the addressee block in the envelope window) can only be found in the layout."""
    load_weasyprint()
    from weasyprint.formatting_structure.boxes import ParentBox

    seen: set[int] = set()
    for number, page in enumerate(document.pages, 1):
        for found_box in page._page_box.descendants():
            box = getattr(found_box, "_box", found_box)  # an absolute box's placeholder
            element = getattr(box, "element", None)
            if element is None or id(element) in seen or not isinstance(box, ParentBox):
                continue
            found = [(name, value) for name in attributes if (value := element.get(name))]
            if found:
                seen.add(id(element))
                for name, value in found:
                    yield number, name, value, box


def overflow(box: Any) -> tuple[float, float]:
    """How far (CSS px) the lines and the words of a laid-out ``box`` reach below and to the
    right of its content box: ``(below, beyond)``, 0 or less when everything fits.

    Relies on: the layout attributes and methods of WeasyPrint's boxes: ``content_box_x()``,
    ``content_box_y()``, ``width``, ``height``, ``position_x``, ``position_y``,
    ``margin_width()``, ``margin_height()``, ``children``, and ``boxes.LineBox`` for a line.
    Why: with ``overflow: hidden`` WeasyPrint would silently cut an address off."""
    load_weasyprint()
    from weasyprint.formatting_structure.boxes import LineBox

    bottom = box.content_box_y() + box.height
    right = box.content_box_x() + box.width
    below = beyond = 0.0
    for inner in box.descendants():
        if isinstance(inner, LineBox):
            below = max(below, inner.position_y + inner.margin_height() - bottom)
            for child in inner.children:
                beyond = max(beyond, child.position_x + child.margin_width() - right)
    return below, beyond


# --------------------------------------------------------------------------- fetching


def fetcher_class(serve: Callable[[str, Any], tuple[str, bytes, str]],
                  refusal: type[Exception]) -> type:
    """A ``weasyprint.urls.URLFetcher`` class whose instances, made with a ``root``, answer
    every URL WeasyPrint asks for with ``serve(url, root)`` → ``(url, body, content type)``.
    When ``serve`` raises ``refusal``, the URL (its first 200 characters) is added to the
    instance's ``refused`` list; whatever it raises goes on to WeasyPrint.

    Relies on: WeasyPrint 70's fetcher API: a ``URLFetcher`` subclass whose
    ``fetch(url, headers)`` returns a ``URLFetcherResponse(url, body, headers=…)``, and
    ``URLFetcher.__init__`` taking ``timeout`` and ``allowed_protocols``; and on WeasyPrint
    catching what ``fetch`` raises for a stylesheet or an image, logging it and going on. Why:
    WeasyPrint must read nothing but what ``serve`` allows, and the renderer must learn what
    was refused (WeasyPrint only logs it)."""
    load_weasyprint()
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class ServingFetcher(URLFetcher):  # type: ignore[misc]
        """Serves what ``serve`` allows under ``root``; refuses everything else."""

        def __init__(self, root: Any) -> None:
            super().__init__(timeout=1, allowed_protocols=("file",))
            self.root = root
            self.refused: list[str] = []

        def fetch(self, url: str, headers: Any = None) -> Any:
            try:
                found, body, mime = serve(url, self.root)
            except refusal:
                self.refused.append(url[:200])
                raise
            return URLFetcherResponse(found, body, headers={"Content-Type": mime})

    return ServingFetcher


# --------------------------------------------------------------------------- writing


def set_metadata(document: Any, *, date: str, subject: str, keywords: list[str]) -> None:
    """Set a rendered document's creation and modification date (W3C, with an offset), its
    subject and keywords.

    Relies on: ``Document.metadata`` (``pdf.metadata.DocumentMetadata``) whose ``created``
    and ``modified`` become the Info and XMP dates and whose ``description`` becomes the
    Info ``/Subject``. Why: archive letters carry their reference as subject and dates fixed
    by the as-of date, so the same input gives the same bytes."""
    metadata = document.metadata
    metadata.created = metadata.modified = date
    metadata.description = subject
    metadata.keywords = keywords


def attachment(file_obj: IO[bytes], *, name: str, description: str, created: datetime,
               relationship: str) -> Any:
    """A ``weasyprint.Attachment`` with ``created`` as its creation and modification date.

    Relies on: WeasyPrint 70 writing an attachment's dates with
    ``strftime('D:%Y%m%d%H%M%SZ')`` (``pdf.anchors``): the time as given, marked UTC. Why:
    an aware date is therefore converted to UTC and passed without its zone, or the file
    would claim a time hours away from the real one."""
    load_weasyprint()
    from weasyprint import Attachment

    utc = created.astimezone(UTC).replace(tzinfo=None)
    return Attachment(file_obj=file_obj, name=name, description=description, created=utc,
                      modified=utc, relationship=relationship)


def write_pdf(document: Any, *, paint: Sequence[Squares] = (), **options: Any) -> bytes:
    """``document.write_pdf(**options)``, with ``paint`` painted over its pages
    (:func:`paint_squares`) and the work-arounds for WeasyPrint 70's bugs:

    - the sRGB profile of a PDF/A output intent is opened and never closed: its
      ``ResourceWarning`` is silenced (it would fail the tests, which turn warnings into
      errors);
    - each attachment is listed twice in the catalog's ``/AF`` of a PDF/A-3 file:
      :func:`unique_associated_files` runs as the ``finisher``.

    Relies on: ``write_pdf(finisher=…)`` calling the finisher with the document and the
    ``pydyf.PDF`` before it is written."""
    def finish(document: Any, pdf: Any) -> None:
        unique_associated_files(document, pdf)
        paint_squares(pdf, paint)
        serialize_once(pdf)

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"unclosed file .*sRGB2014\.icc", ResourceWarning)
        data: bytes = document.write_pdf(finisher=finish, **options)
    return data


#: PDF points per CSS pixel (72 pt and 96 px are both an inch).
PT_PER_PX = 0.75
#: The first operator of a WeasyPrint page's content stream: origin at the top left corner,
#: y down, in points (the page's height in points as ``f``).
_PAGE_START = re.compile(rb"1 0 0 -1 0 (?P<height>[0-9.]+) cm")


@dataclass(frozen=True, slots=True)
class Squares:
    """Black rectangles to paint over a laid-out page: ``rects`` ``(x, y, width, height)`` in
    units of a ``size`` × ``size`` grid whose top left corner is at (``x``, ``y``) and whose
    side is ``side`` (CSS px, as the layout's boxes), on page ``page`` (counted from 1)."""

    page: int
    x: float
    y: float
    side: float
    size: int
    rects: Sequence[tuple[int, int, int, int]]


def top_padding(box: Any) -> tuple[float, float, float, float]:
    """The top padding of a laid-out box, the part of its padding box above its content:
    ``(x, y, width, height)`` in CSS px from the page's top left corner.

    Relies on: ``padding_box_x()``, ``padding_box_y()``, ``padding_width()`` and
    ``padding_top`` of WeasyPrint's boxes."""
    return box.padding_box_x(), box.padding_box_y(), box.padding_width(), box.padding_top


def paint_squares(pdf: Any, squares: Sequence[Squares]) -> None:
    """Part of the ``write_pdf`` finisher: paint each of ``squares`` at the end of its page's
    content, over everything else, as one path filled black (``0 0 0 rg``, the DeviceRGB
    WeasyPrint writes black in); in a tagged PDF marked as an artifact, so the structure tree
    is as WeasyPrint made it.

    Relies on: ``pydyf.PDF.pages['Kids']`` listing each page as ``number, 0, 'R'`` with the
    page dictionary at ``pdf.objects[number]``; a page's ``Contents`` being the reference
    (``b'N 0 R'``) of its ``pydyf.Stream`` in ``pdf.objects``, whose ``stream`` list of
    operators is serialized (and compressed) only when the PDF is written; that list starting
    with ``1 0 0 -1 0 H cm`` and keeping every later ``q`` matched by a ``Q`` (so what is
    appended is drawn in points from the top left corner, y down); and a tagged PDF's catalog
    having ``StructTreeRoot``. Why: WeasyPrint draws an SVG path command by command in Python
    (about 4 ms for a QR code's 119 runs), where these few operators cost nothing; a stream
    that does not start as expected raises ``RuntimeError`` rather than paint in the wrong
    place."""
    if not squares:
        return
    tagged = "StructTreeRoot" in pdf.catalog
    kids = pdf.pages["Kids"]
    for square in squares:
        page = pdf.objects[kids[3 * (square.page - 1)]]
        stream = pdf.objects[int(page["Contents"].split()[0])]
        operators = stream.stream
        if not operators or not isinstance(operators[0], bytes) or not _PAGE_START.fullmatch(
                operators[0]):
            raise RuntimeError("WeasyPrint's page content does not start as it did "
                               f"(found {operators[:1]!r}): the QR code cannot be placed")
        unit = square.side / square.size * PT_PER_PX
        place = (f"q {unit:.6f} 0 0 {unit:.6f} {square.x * PT_PER_PX:.6f} "
                 f"{square.y * PT_PER_PX:.6f} cm 0 0 0 rg")
        path = " ".join(f"{x} {y} {w} {h} re" for x, y, w, h in square.rects)
        drawing = [place.encode("ascii"), path.encode("ascii"), b"f Q"]
        operators.extend([b"/Artifact BMC", *drawing, b"EMC"] if tagged else drawing)


def serialize_once(pdf: Any) -> None:
    """The last part of the ``write_pdf`` finisher: each object of ``pdf`` replaced by its
    serialized bytes (:func:`_serialized_class`), so that writing the PDF serializes, and
    compresses, each object once instead of twice.

    Relies on: pydyf 0.13's ``PDF.write`` serializing every object through its ``data``
    property twice when the file has an identifier (as PDF/A requires): once to write it and
    once for the MD5 of all objects that becomes the identifier's second half; a ``Stream``'s
    ``data`` compressing its content anew each time; objects referring to one another by
    number (``b'N 0 R'``), never by the Python object, so an object in ``pdf.objects`` can be
    replaced by another with the same number; and ``write`` reading of an object only
    ``number``, ``generation``, ``free``, ``offset`` (which it sets), ``compressible`` and
    ``data``. Nothing may change an object after this. Why: the second pass cost about 4 ms
    a letter, more in a tagged letter with its 340 structure elements; the bytes written are
    the same (tests/test_weasy.py compares them)."""
    serialized = _serialized_class()
    pdf.objects[:] = [obj if obj.free == "f" else serialized(obj) for obj in pdf.objects]


@lru_cache(maxsize=1)
def _serialized_class() -> type:
    """A ``pydyf.Object`` holding another's number, state and serialized bytes."""
    import pydyf

    class Serialized(pydyf.Object):  # type: ignore[misc]
        def __init__(self, original: Any) -> None:
            super().__init__()
            self.number, self.generation = original.number, original.generation
            self.free, self.offset = original.free, original.offset
            self._compressible = original.compressible
            self._data = original.data

        @property
        def data(self) -> bytes:
            return self._data  # type: ignore[no-any-return]

        @property
        def compressible(self) -> bool:
            return self._compressible  # type: ignore[no-any-return]

    return Serialized


def unique_associated_files(document: Any, pdf: Any) -> None:
    """A ``write_pdf`` finisher: list each attachment once in the catalog's ``/AF``.

    Relies on: ``pdf.catalog`` (a ``pydyf.Dictionary``) whose ``AF`` entry is a
    ``pydyf.Array`` (a list) of references, which WeasyPrint 70 fills once from the embedded
    files' name tree and once from the file specifications (``pdf.pdfa``). Why: PDF/A-3
    expects each associated file once."""
    listed = pdf.catalog.get("AF")
    if listed:
        unique = list(dict.fromkeys(listed))
        listed.clear()
        listed.extend(unique)
