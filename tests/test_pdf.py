"""dunning.pdf: how WeasyPrint's C libraries are found, the custom properties inlined in the
stylesheets (dunning.cssvars), and the kind of each RenderError a letter can fail with."""

from __future__ import annotations

import ctypes.util
import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dunning import pdf
from dunning.errors import RenderError
from dunning.letter import Dunning
from dunning.pdf import PdfRenderer
from dunning.weasy import quick_library_lookup

from .helpers import ROOT, SAMPLES_AS_OF, pdf_words, sample_record


def test_quick_library_lookup_finds_what_the_ld_so_cache_has_and_nothing_else() -> None:
    original = ctypes.util.find_library
    for name in ("pango-1.0", "harfbuzz-subset", "fontconfig"):
        expected = original(name)
        assert expected is not None
        assert expected.startswith(f"lib{name}.so")
        with quick_library_lookup():
            assert ctypes.util.find_library is not original
            assert ctypes.util.find_library(name) == expected
            # Names WeasyPrint lists for Windows and macOS: not in the cache, not searched.
            assert ctypes.util.find_library(f"lib{name}-0") is None
        assert ctypes.util.find_library is original


def test_quick_library_lookup_stands_aside_when_ld_library_path_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = ctypes.util.find_library
    monkeypatch.setenv("LD_LIBRARY_PATH", "/opt/elsewhere")
    with quick_library_lookup():
        assert ctypes.util.find_library is original


def test_weasyprint_loads_with_every_library_it_needs() -> None:
    """In a fresh interpreter (this one imported WeasyPrint long ago): the quick lookup finds
    Pango, HarfBuzz and its subsetter, and fontconfig."""
    code = ("from dunning.pdf import harfbuzz_subset_available, load_weasyprint\n"
            "load_weasyprint()\n"
            "from weasyprint.text.ffi import pango, fontconfig\n"
            "print(int(pango.pango_version()) > 14400, harfbuzz_subset_available())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == ["True", "True"]


@pytest.mark.parametrize("account_id", ["MT-000004", "RS-000004", "LM-000005", "JQ-000007"])
def test_inlined_custom_properties_give_the_letter_weasyprint_gives(
    dunning: Dunning, monkeypatch: pytest.MonkeyPatch, account_id: str,
) -> None:
    """letter.css's font stacks (``var(--serif)``, ``var(--sans)`` set per ``html:lang``)
    substituted once per language (dunning.cssvars) make the same bytes as WeasyPrint
    resolving var() itself, letter after letter."""
    plan = dunning.plan(sample_record(dunning, account_id), SAMPLES_AS_OF)
    assert plan.stage is not None
    markup = dunning.html(plan)
    renderer = PdfRenderer(dunning.settings.assets_dir, dunning.settings.fonts)
    inlined = renderer.render(markup, plan.locale)
    assert {values for (_, values) in renderer._sheets} != {()}  # something was inlined
    monkeypatch.setattr(pdf, "values_for", lambda sheets, lang, blocked=(): {})
    assert renderer.render(markup, plan.locale).data == inlined.data


def test_a_page_that_sets_a_custom_property_itself_keeps_it(
    dunning: Dunning, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The page's own CSS ranks above the stylesheets: a template that sets ``--sans`` in a
    ``<style>`` gets its value, not the stylesheet's, so nothing is inlined for it."""
    plan = dunning.plan(sample_record(dunning, "MT-000004"), SAMPLES_AS_OF)
    markup = dunning.html(plan)
    serif_only = markup.replace(
        "</head>", '<style>html { --sans: "Noto Serif CJK SC", serif; }</style></head>', 1)
    assert serif_only != markup
    renderer = PdfRenderer(dunning.settings.assets_dir, dunning.settings.fonts)
    overridden = renderer.render(serif_only, plan.locale).data
    assert pdf_words(overridden) != pdf_words(renderer.render(markup, plan.locale).data)
    monkeypatch.setattr(pdf, "values_for", lambda sheets, lang, blocked=(): {})
    assert renderer.render(serif_only, plan.locale).data == overridden


# --------------------------------------------------------------------------- error kinds


@pytest.fixture(scope="module")
def formal(dunning: Dunning) -> tuple[str, str]:
    """The markup and locale of the sample formal letter MT-000004."""
    plan = dunning.plan(sample_record(dunning, "MT-000004"), SAMPLES_AS_OF)
    return dunning.html(plan), plan.locale


@pytest.fixture(scope="module")
def renderer(dunning: Dunning) -> PdfRenderer:
    return PdfRenderer(dunning.settings.assets_dir, dunning.settings.fonts)


def test_a_missing_glyph_is_of_kind_glyph(
    renderer: PdfRenderer, formal: tuple[str, str],
) -> None:
    markup, locale = formal
    with pytest.raises(RenderError, match=r"^no configured font .* U\+31350;") as info:
        renderer.render(markup.replace("</body>", "<p>\U00031350</p></body>"), locale)
    assert info.value.kind == "glyph"


def test_an_address_too_long_for_the_window_is_of_kind_overflow(dunning: Dunning) -> None:
    record = sample_record(dunning, "JQ-000018")
    lines = ("新疆维吾尔自治区伊犁哈萨克自治州伊宁市解放西路街道阿依墩社区幸福巷",) * 6
    plan = dunning.plan(dataclasses.replace(record, address=lines), SAMPLES_AS_OF)
    with pytest.raises(RenderError, match="does not fit") as info:
        dunning.render(plan)
    assert info.value.kind == "overflow"


def test_a_refused_resource_is_of_kind_resource(
    renderer: PdfRenderer, formal: tuple[str, str],
) -> None:
    markup, locale = formal
    hostile = markup.replace("</body>", '<img src="http://127.0.0.1:9/x.png"></body>')
    with pytest.raises(RenderError, match="outside the templates' assets") as info:
        renderer.render(hostile, locale)
    assert info.value.kind == "resource"


@pytest.fixture
def assets(tmp_path: Path) -> Path:
    """A copy of the templates' assets folder, to break."""
    copy = tmp_path / "home" / "templates" / "assets"
    shutil.copytree(ROOT / "templates" / "assets", copy)
    return copy


def test_a_stylesheet_problem_is_of_kind_stylesheet_with_its_file_and_line(
    dunning: Dunning, formal: tuple[str, str], assets: Path,
) -> None:
    markup, locale = formal
    sheet = assets / "letter.css"
    text = sheet.read_text("utf-8").rstrip("\n") + "\n\n.nowhere { color: nope }\n"
    sheet.write_text(text, "utf-8")
    line = text.count("\n")
    renderer = PdfRenderer(assets, dunning.settings.fonts)
    with pytest.raises(RenderError, match=r"^WeasyPrint reported: Ignored `color: nope ` at "
                       rf"{line}:") as info:
        renderer.render(markup, locale)
    assert (info.value.kind, info.value.file, info.value.line) == (
        "stylesheet", "assets/letter.css", line)


def test_a_page_style_problem_is_of_kind_stylesheet_without_a_file(
    renderer: PdfRenderer, formal: tuple[str, str],
) -> None:
    markup, locale = formal
    styled = markup.replace("</head>", "<style>.nowhere { color: nope }</style></head>", 1)
    with pytest.raises(RenderError, match=r"^WeasyPrint reported: Ignored") as info:
        renderer.render(styled, locale)
    assert (info.value.kind, info.value.file, info.value.line) == ("stylesheet", None, None)


def test_another_weasyprint_report_is_of_kind_weasyprint(
    dunning: Dunning, formal: tuple[str, str], assets: Path,
) -> None:
    markup, locale = formal
    (assets / "broken.png").write_bytes(b"not a png")
    renderer = PdfRenderer(assets, dunning.settings.fonts)
    with pytest.raises(RenderError, match=r"^WeasyPrint reported: Failed to load image") as info:
        renderer.render(markup.replace("</body>", '<img src="broken.png"></body>'), locale)
    assert (info.value.kind, info.value.file, info.value.line) == ("weasyprint", None, None)
