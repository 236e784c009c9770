"""dunning.pdf: how WeasyPrint's C libraries are found, and the custom properties inlined
in the stylesheets (dunning.cssvars)."""

from __future__ import annotations

import ctypes.util
import subprocess
import sys

import pytest

from dunning import pdf
from dunning.letter import Dunning
from dunning.pdf import PdfRenderer
from dunning.weasy import quick_library_lookup

from .helpers import SAMPLES_AS_OF, pdf_words, sample_record


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
