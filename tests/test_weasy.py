"""dunning.weasy: every WeasyPrint internal dunning relies on, tested against the installed
WeasyPrint. A test here that fails after an upgrade names the internal that changed: adapt
dunning.weasy (and its comment) before moving the pin in pyproject.toml."""

from __future__ import annotations

import ctypes.util
import gc
import io
import logging
import re
import subprocess
import sys
import warnings
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pikepdf
import pytest

from dunning import weasy

from .helpers import ROOT

weasy.load_weasyprint()

import weasyprint  # noqa: E402  (after the quick library lookup)
from weasyprint import CSS, HTML  # noqa: E402

#: A stylesheet with one problem per line (line 1 is only tolerated).
BAD_CSS = "p { colour: red }\np { color: nope }\n@foo;\np { color red; }\n"


class _RefusedError(ValueError):
    pass


def _refuse_all(url: str, root: Any) -> tuple[str, bytes, str]:
    raise _RefusedError(url)


def _pdf(document: Any, **options: Any) -> pikepdf.Pdf:
    return pikepdf.open(io.BytesIO(document.write_pdf(**options)))


# --------------------------------------------------------------------------- the version


def test_weasyprint_is_the_major_version_pinned() -> None:
    pin = re.search(r'"weasyprint>=(\d+),<(\d+)"', (ROOT / "pyproject.toml").read_text("utf-8"))
    assert pin is not None
    major = int(weasyprint.__version__.split(".")[0])
    assert int(pin.group(1)) <= major < int(pin.group(2))


# --------------------------------------------------------------------------- loading


def test_ctypes_has_the_ld_so_cache_reader_the_quick_lookup_uses() -> None:
    from_cache = ctypes.util._findSoname_ldconfig  # type: ignore[attr-defined]
    found = from_cache("pango-1.0")
    assert found is not None
    assert found.startswith("libpango-1.0.so")
    assert from_cache("libpango-1.0-0") is None  # a Windows name: not in the cache


def test_weasyprint_asks_find_library_for_the_names_dlopen_rejects() -> None:
    """What :func:`weasy.quick_library_lookup` short-cuts: importing WeasyPrint (in a fresh
    interpreter) asks ``ctypes.util.find_library`` for names of other platforms."""
    code = ("import ctypes.util\n"
            "asked = []\n"
            "original = ctypes.util.find_library\n"
            "def recording(name):\n"
            "    asked.append(name)\n"
            "    return original(name)\n"
            "ctypes.util.find_library = recording\n"
            "import weasyprint\n"
            "print(' '.join(asked))\n")
    asked = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True).stdout.split()
    assert "libpango-1.0-0" in asked
    assert "libharfbuzz-subset-0" in asked


def test_harfbuzz_subset_is_the_switch_weasyprint_subsets_by(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``text.ffi.harfbuzz_subset`` is what ``pdf.fonts`` tests: without it, WeasyPrint logs
    that it falls back to fontTools."""
    import weasyprint.pdf.fonts
    from weasyprint.text import ffi

    assert ffi.harfbuzz_subset is not None
    assert weasyprint.pdf.fonts.harfbuzz_subset is ffi.harfbuzz_subset
    assert ffi.harfbuzz.hb_version_atleast(4, 1, 0)
    assert weasy.harfbuzz_subset_available()
    html = HTML(string="<p style='font-family: \"Noto Sans\"'>dunning</p>")
    with weasy.collect_warnings() as fast:
        html.write_pdf()
    assert fast == []
    monkeypatch.setattr(weasyprint.pdf.fonts, "harfbuzz_subset", None)
    with weasy.collect_warnings() as slow:
        html.write_pdf()
    assert any("fontTools instead of HarfBuzz-Subset" in r.message for r in slow), slow


def test_pango_version_is_the_pango_weasyprint_loaded() -> None:
    from weasyprint.text.ffi import pango

    assert weasy.pango_version() == int(pango.pango_version()) > 14400


def test_a_font_configuration_is_what_render_takes() -> None:
    from weasyprint.text.fonts import FontConfiguration

    config = weasy.font_configuration()
    assert isinstance(config, FontConfiguration)
    HTML(string="<p>x</p>").render(font_config=config)


# --------------------------------------------------------------------------- what it logs


def test_stylesheet_problems_are_logged_with_their_line() -> None:
    with weasy.collect_warnings() as found:
        CSS(string=BAD_CSS)
    assert [r.line for r in found] == [1, 2, 3, 4], found
    assert all(r.stylesheet for r in found)
    assert [weasy.is_tolerated(r.message) for r in found] == [True, False, False, False]
    assert found[0].message == "Ignored `colour: red ` at 1:5, unknown property."


def test_a_page_style_problem_is_a_stylesheet_problem_too() -> None:
    with weasy.collect_warnings() as found:
        HTML(string="<style>\np { color: nope }</style><p>x</p>").render()
    assert [(r.stylesheet, r.line) for r in found] == [(True, 2)], found


def test_a_refused_image_is_not_a_stylesheet_problem() -> None:
    fetcher = weasy.fetcher_class(_refuse_all, _RefusedError)(None)
    with weasy.collect_warnings() as found:
        HTML(string="<img src='x.png'>", base_url="file:///nowhere/",
             url_fetcher=fetcher).render()
    assert fetcher.refused == ["file:///nowhere/x.png"]
    assert [(r.stylesheet, r.line) for r in found] == [(False, None)], found
    assert not weasy.is_tolerated(found[0].message)


# --------------------------------------------------------------------------- the page


def test_the_page_keeps_its_tree_and_base_url() -> None:
    page = HTML(string="<html lang=en><link rel=stylesheet href=a.css><p>x</p></html>",
                base_url="file:///assets/")
    root = weasy.page_root(page)
    assert root is page.wrapper_element.etree_element
    assert root.get("lang") == "en"
    assert weasy.page_base_url(page) == "file:///assets/"
    assert [e.tag for e in root.iter() if e.tag == "link"] == ["link"]


def test_rewrap_builds_the_wrapper_as_weasyprint_does_and_forgets_what_it_cached() -> None:
    page = HTML(string="<html lang=en><head></head><body><p>x</p></body></html>")
    before = page.wrapper_element
    assert [c.etree_element.tag for c in before.iter_children()] == ["head", "body"]
    root = weasy.page_root(page)
    root.remove(root.find("body"))
    # the old wrapper cached the root's children: it still sees the body
    assert [c.etree_element.tag for c in before.iter_children()] == ["head", "body"]
    weasy.rewrap(page)
    after = page.wrapper_element
    assert after is not before
    assert after.etree_element is root
    assert type(after) is type(before)
    assert after.transport_content_language == before.transport_content_language is None
    assert after.in_html_document == before.in_html_document
    assert [c.etree_element.tag for c in after.iter_children()] == ["head"]


def test_a_removed_stylesheet_link_is_neither_fetched_nor_applied() -> None:
    fetcher = weasy.fetcher_class(_refuse_all, _RefusedError)(None)
    page = HTML(string="<link rel=stylesheet href=a.css><p>x</p>", base_url="file:///n/",
                url_fetcher=fetcher)
    root = weasy.page_root(page)
    for parent in list(root.iter()):
        for element in list(parent):
            if element.tag == "link":
                parent.remove(element)
    weasy.rewrap(page)
    with weasy.collect_warnings() as found:
        page.render()
    assert fetcher.refused == []
    assert found == []


# --------------------------------------------------------------------------- layout


def _fit_page(style: str, text: str) -> Any:
    return HTML(string=(
        "<style>@page { size: 100mm 100mm; margin: 10mm }</style>"
        f"<div data-fit='the window' style='width: 30mm; height: 8mm; overflow: hidden; "
        f"font-size: 10pt; {style}'>{text}</div><p>after</p>")).render()


@pytest.mark.parametrize("style", ["", "position: absolute; top: 20mm; left: 20mm"])
def test_boxes_with_an_attribute_are_found_also_when_positioned(style: str) -> None:
    document = _fit_page(style, "fits")
    found = list(weasy.boxes_with_attribute(document, "data-fit"))
    assert [(number, name, label) for number, name, label, _ in found] == [
        (1, "data-fit", "the window")]
    box = found[0][3]
    assert box.element.get("data-fit") == "the window"
    below, beyond = weasy.overflow(box)
    assert below <= 0.5
    assert beyond <= 0.5


def test_an_absolute_box_is_found_through_its_placeholder() -> None:
    """What :func:`weasy.boxes_with_attribute` unwraps: ``_page_box.descendants()`` yields an
    ``AbsolutePlaceholder`` whose ``_box`` is the laid-out box."""
    from weasyprint.formatting_structure.boxes import LineBox, ParentBox
    from weasyprint.layout.absolute import AbsolutePlaceholder

    document = _fit_page("position: absolute; top: 20mm; left: 20mm", "fits")
    page_box = document.pages[0]._page_box
    placeholders = [b for b in page_box.descendants() if isinstance(b, AbsolutePlaceholder)]
    assert len(placeholders) == 1
    box = placeholders[0]._box
    assert isinstance(box, ParentBox)
    assert box.element.get("data-fit") == "the window"
    lines = [b for b in box.descendants() if isinstance(b, LineBox)]
    assert lines
    assert box.content_box_y() <= lines[0].position_y
    assert lines[0].margin_height() > 0
    assert lines[0].children[0].margin_width() > 0


@pytest.mark.parametrize(("text", "tall"), [
    ("many words " * 12, True),
    ("Averyveryverylongwordthatcannotbreakanywhere", False),
])
@pytest.mark.parametrize("style", ["", "position: absolute; top: 20mm; left: 20mm"])
def test_overflow_measures_what_reaches_past_the_box(style: str, text: str, tall: bool) -> None:
    document = _fit_page(style, text)
    [(_, _, _, box)] = weasy.boxes_with_attribute(document, "data-fit")
    below, beyond = weasy.overflow(box)
    assert (below > 0.5) is tall
    assert (beyond > 0.5) is not tall


# --------------------------------------------------------------------------- fetching


def test_the_fetcher_serves_what_serve_allows_and_lists_what_it_refuses() -> None:
    def serve(url: str, root: Any) -> tuple[str, bytes, str]:
        if url.endswith("page.css"):
            return url, b"@page { size: 100mm 50mm }", "text/css"
        raise _RefusedError(url)

    fetcher = weasy.fetcher_class(serve, _RefusedError)("root")
    assert isinstance(fetcher, weasyprint.urls.URLFetcher)
    assert fetcher.root == "root"
    with weasy.collect_warnings() as found:
        document = HTML(string="<link rel=stylesheet href=page.css><link rel=stylesheet "
                        "href=other.css><img src=http://example.com/x.png>",
                        base_url="file:///assets/", url_fetcher=fetcher).render()
    assert round(document.pages[0].width * 25.4 / 96) == 100  # served and applied
    assert fetcher.refused == ["file:///assets/other.css", "http://example.com/x.png"]
    assert len(found) == 2  # each refusal logged, not raised


def test_other_errors_of_serve_are_not_refusals() -> None:
    def broken(url: str, root: Any) -> tuple[str, bytes, str]:
        raise OSError("disk")

    fetcher = weasy.fetcher_class(broken, _RefusedError)(None)
    with weasy.collect_warnings() as found:
        HTML(string="<img src=x.png>", base_url="file:///a/", url_fetcher=fetcher).render()
    assert fetcher.refused == []
    assert len(found) == 1


# --------------------------------------------------------------------------- writing


def test_metadata_becomes_the_info_dictionary() -> None:
    document = HTML(string="<title>T</title><p>x</p>").render()
    weasy.set_metadata(document, date="2026-11-20T00:00:00+08:00", subject="REF-1",
                       keywords=["REF-1", "brand:x"])
    with _pdf(document) as pdf:
        assert str(pdf.docinfo["/Subject"]) == "REF-1"
        assert str(pdf.docinfo["/Keywords"]) == "REF-1, brand:x"
        assert str(pdf.docinfo["/CreationDate"]) == "D:20261120000000+08'00"
        assert str(pdf.docinfo["/ModDate"]) == "D:20261120000000+08'00"


def _attachment_dates(data: bytes) -> tuple[str, str]:
    with pikepdf.open(io.BytesIO(data)) as pdf:
        params = pdf.attachments["a.json"].get_file().obj["/Params"]
        return str(params["/CreationDate"]), str(params["/ModDate"])


def test_weasyprint_writes_attachment_dates_as_given_and_calls_them_utc() -> None:
    shanghai = timezone(timedelta(hours=8))
    midnight = datetime(2026, 11, 20, tzinfo=shanghai)
    raw = weasyprint.Attachment(file_obj=io.BytesIO(b"{}"), name="a.json",
                                created=midnight, modified=midnight)
    data = HTML(string="<p>x</p>").write_pdf(attachments=[raw])
    assert _attachment_dates(data) == ("D:20261120000000Z",) * 2  # the zone is dropped
    ours = weasy.attachment(io.BytesIO(b"{}"), name="a.json", description="d",
                            created=midnight, relationship="Source")
    data = HTML(string="<p>x</p>").write_pdf(attachments=[ours])
    assert _attachment_dates(data) == ("D:20261119160000Z",) * 2


def _af_count(data: bytes) -> list[int]:
    with pikepdf.open(io.BytesIO(data)) as pdf:
        spec = pdf.attachments["a.json"].obj
        return [item.objgen == spec.objgen for item in pdf.Root["/AF"]].count(True), \
            len(pdf.Root["/AF"])


def _attachments() -> list[Any]:
    """A fresh attachment (WeasyPrint reads one only once)."""
    return [weasy.attachment(io.BytesIO(b"{}"), name="a.json", description="d",
                             created=datetime(2026, 11, 20, tzinfo=UTC),
                             relationship="Source")]


def test_weasyprint_lists_an_attachment_twice_in_af_and_write_pdf_once() -> None:
    document = HTML(string="<p>x</p>").render()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        raw = document.write_pdf(pdf_variant="pdf/a-3b", attachments=_attachments())
    assert _af_count(raw) == (2, 2)
    fixed = weasy.write_pdf(document, pdf_variant="pdf/a-3b", attachments=_attachments())
    assert _af_count(fixed) == (1, 1)


def test_weasyprint_leaves_the_srgb_profile_open_and_write_pdf_silences_it() -> None:
    document = HTML(string="<p>x</p>").render()
    with warnings.catch_warnings(record=True) as raw:
        warnings.simplefilter("always")
        document.write_pdf(pdf_variant="pdf/a-3b", attachments=_attachments())
        gc.collect()
    assert any(issubclass(w.category, ResourceWarning) and "sRGB2014.icc" in str(w.message)
               for w in raw), raw
    with warnings.catch_warnings(record=True) as ours:
        warnings.simplefilter("always")
        weasy.write_pdf(document, pdf_variant="pdf/a-3b", attachments=_attachments())
        gc.collect()
    assert [w for w in ours if issubclass(w.category, ResourceWarning)] == []


def test_the_finisher_gets_the_pydyf_pdf_before_it_is_written() -> None:
    import pydyf

    seen: list[Any] = []

    def finisher(document: Any, pdf: Any) -> None:
        seen.append(pdf)
        pdf.catalog["Lang"] = pydyf.String("xx")

    data = HTML(string="<p>x</p>").render().write_pdf(finisher=finisher)
    assert isinstance(seen[0], pydyf.PDF)
    with pikepdf.open(io.BytesIO(data)) as pdf:
        assert str(pdf.Root["/Lang"]) == "xx"


def _gray_at(data: bytes, points: list[tuple[int, int]], folder: Path) -> list[int]:
    """The gray level (0 black, 255 white) at each (x, y) point, in CSS px from the top left
    corner of the first page, as poppler renders it at 96 dpi (a CSS px a pixel)."""
    (folder / "page.pdf").write_bytes(data)
    subprocess.run(["pdftoppm", "-gray", "-r", "96", "-f", "1", "-l", "1", "-singlefile",
                    str(folder / "page.pdf"), str(folder / "page")], check=True)
    magic, size, depth, pixels = (folder / "page.pgm").read_bytes().split(b"\n", 3)
    assert (magic, depth) == (b"P5", b"255")
    width = int(size.split()[0])
    return [pixels[y * width + x] for x, y in points]


@pytest.mark.parametrize("variant", [None, "pdf/a-3a"])
def test_painted_squares_land_on_the_box_in_the_page_content(variant: str | None,
                                                            tmp_path: Path) -> None:
    """What :func:`weasy.paint_squares` relies on: a page's content stream starts with the
    y-down point transform and is balanced, so squares appended at its end are drawn where
    the laid-out box is (checked on the page as poppler renders it); tagged, they are an
    artifact and the structure tree is untouched."""
    document = HTML(string=(
        "<html lang='en'><style>@page { size: 200px 200px; margin: 0 }"
        " div { position: absolute; left: 40px; top: 80px; width: 40px; height: 20px;"
        " padding-top: 60px }</style>"
        "<p style='margin: 0'>text</p><div data-mark='here'></div></html>")).render()
    ((number, _, _, box),) = weasy.boxes_with_attribute(document, "data-mark")
    x, y, width, height = weasy.top_padding(box)
    assert (x, y, width, height) == (40, 80, 40, 60)
    # a 4 × 4 grid over the box's 40 px square: the top left and bottom right cells
    square = weasy.Squares(page=number, x=x, y=y, side=min(width, height), size=4,
                           rects=[(0, 0, 1, 1), (3, 3, 1, 1)])
    data = weasy.write_pdf(document, paint=[square], pdf_variant=variant)
    assert _gray_at(data, [(45, 85), (75, 115), (55, 95), (45, 115), (150, 150)], tmp_path) == [
        0, 0, 255, 255, 255]
    with pikepdf.open(io.BytesIO(data)) as pdf:
        ops = [str(op) for _, op in pikepdf.parse_content_stream(pdf.pages[0])]
        roles = [str(node.S) for node in _structure(pdf)] if variant else []
    assert ops[-3:] == (["f", "Q", "EMC"] if variant else ["re", "f", "Q"])
    if variant:
        assert ops[-9:-5] == ["BMC", "q", "cm", "rg"]
        assert roles == ["/Document", "/P", "/Span", "/Div"]


def _structure(pdf: pikepdf.Pdf) -> list[Any]:
    found = []

    def walk(node: Any) -> None:
        if isinstance(node, pikepdf.Dictionary) and "/S" in node:
            found.append(node)
        kids = node.get("/K") if isinstance(node, pikepdf.Dictionary) else None
        for kid in (kids if isinstance(kids, pikepdf.Array) else [kids]):
            if isinstance(kid, pikepdf.Dictionary):
                walk(kid)

    walk(pdf.Root.StructTreeRoot)
    return found


def test_a_page_content_that_starts_otherwise_is_not_painted_on() -> None:
    import pydyf

    document = HTML(string="<p>x</p>").render()

    def finisher(document: Any, pdf: Any) -> None:
        stream = pdf.objects[int(pdf.objects[pdf.pages["Kids"][0]]["Contents"].split()[0])]
        stream.stream.insert(0, b"2 0 0 2 0 0 cm")
        with pytest.raises(RuntimeError, match="does not start as it did"):
            weasy.paint_squares(pdf, [weasy.Squares(1, 0, 0, 10, 1, [(0, 0, 1, 1)])])
        assert isinstance(pdf, pydyf.PDF)

    document.write_pdf(finisher=finisher)


@pytest.mark.parametrize("variant", [None, "pdf/a-3b", "pdf/a-3a"])
def test_serializing_each_object_once_writes_the_same_bytes(
        variant: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    """What :func:`weasy.serialize_once` relies on: pydyf serializes each object twice when
    the file has an identifier, and objects refer to one another by number; replaced by
    their bytes, the file written is byte for byte the one pydyf writes alone."""
    import pydyf

    document = HTML(string=(
        "<html lang='en'><title>t</title><h1>Title</h1><table><tr><th>a</th><td>1</td></tr>"
        "</table><ul><li>one</li><li>two</li></ul><img alt='dot' src='data:image/svg+xml,"
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"4\" height=\"4\"/>'></html>"
    )).render()
    options = {"pdf_variant": variant, "uncompressed_pdf": False}
    calls: list[int] = []
    data_of = pydyf.Dictionary.data.fget

    def counting(self: Any) -> bytes:
        calls.append(id(self))
        return data_of(self)  # type: ignore[no-any-return]

    def plain(document: Any, pdf: Any) -> None:
        weasy.unique_associated_files(document, pdf)

    monkeypatch.setattr(pydyf.Dictionary, "data", property(counting))  # count, not change
    with warnings.catch_warnings():  # WeasyPrint's unclosed sRGB profile (see write_pdf)
        warnings.filterwarnings("ignore", category=ResourceWarning)
        before = document.write_pdf(finisher=plain, attachments=_attachments(), **options)
        gc.collect()
    pydyf_alone = len(calls)
    calls.clear()
    after = weasy.write_pdf(document, attachments=_attachments(), **options)
    assert after == before
    if variant:  # with an identifier pydyf alone serializes every object a second time
        assert len(calls) < pydyf_alone * 0.6
    else:
        assert len(calls) == pydyf_alone


# --------------------------------------------------------------------------- import


def test_importing_dunning_weasy_or_pdf_does_not_import_weasyprint() -> None:
    code = ("import sys\nimport dunning.weasy, dunning.pdf\n"
            "print('weasyprint' in sys.modules, 'cssselect2' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(ROOT)).stdout
    assert out.split() == ["False", "False"]


def test_weasyprint_logs_on_its_own_logger() -> None:
    assert weasyprint.LOGGER is logging.getLogger(weasy.LOGGER_NAME)


def test_weasyprint_keeps_glyph_ids_when_it_subsets_a_face() -> None:
    """What dunning.fonts orders the prepared faces for: the face WeasyPrint embeds keeps the
    glyph ids of the face it was cut from (an empty slot for every glyph id below the highest
    one used), so a face whose letters' glyphs come first embeds small."""
    from fontTools.ttLib import TTFont

    data = HTML(string="<p style='font-family: \"Noto Sans\"'>zz</p>").write_pdf()
    with pikepdf.open(io.BytesIO(data)) as pdf:
        font = next(iter(pdf.pages[0].Resources.Font.values()))
        descriptor = (font.DescendantFonts[0] if font.Subtype == "/Type0" else font) \
            .FontDescriptor
        stream = descriptor.get("/FontFile2") or descriptor.get("/FontFile3")
        face = TTFont(io.BytesIO(stream.read_bytes()))
    full = TTFont(_noto_sans_file())
    z = full.getGlyphID(full.getBestCmap()[ord("z")])
    assert z > 2
    assert len(face.getGlyphOrder()) == z + 1  # .notdef, the empty slots, then z


def _noto_sans_file() -> str:
    out = subprocess.run(["fc-match", "-f", "%{file}", "Noto Sans:weight=80"],
                         capture_output=True, text=True, check=True).stdout
    return out
