"""Accessible letters (PDF/A-3a): a real letter per locale, its tagged structure read back with
pikepdf (roles, /Lang, alternative text, the title shown) and its reading order compared with
poppler's pdftotext."""

from __future__ import annotations

import html
import io
import re
import subprocess

import pikepdf
import pytest

from dunning.archive import PDF_VARIANT, archive_problems, structure_roles, tagging_problems
from dunning.letter import Dunning, Letter
from dunning.records import Record, read_records
from dunning.settings import SUPPORTED_LOCALES

from .helpers import SAMPLE_FILES, SAMPLES_AS_OF, squash

#: ``<html lang>`` of each locale, which the PDF's /Lang must carry.
LANG = {"zh_CN": "zh-CN", "zh_TW": "zh-TW", "zh_HK": "zh-HK", "en_US": "en-US",
        "en_GB": "en-GB"}


@pytest.fixture(scope="module")
def letters(dunning: Dunning) -> dict[str, Letter]:
    """The first sample letter of each locale (mingtai's first: it prints a seal)."""
    found: dict[str, Letter] = {}
    records = [r for r in read_records(SAMPLE_FILES, dunning.record_rules())
               if isinstance(r, Record)]
    records.sort(key=lambda r: r.brand != "mingtai")
    for record in records:
        plan = dunning.plan(record, SAMPLES_AS_OF)
        if plan.stage is not None and plan.locale not in found:
            found[plan.locale] = dunning.render(plan)
    assert set(found) == set(SUPPORTED_LOCALES)
    return found


def test_archive_letters_are_pdf_a_3a(letters: dict[str, Letter]) -> None:
    assert PDF_VARIANT == "pdf/a-3a"
    for locale, letter in letters.items():
        assert archive_problems(letter.pdf.data) == [], locale
        with pikepdf.open(io.BytesIO(letter.pdf.data)) as pdf:
            meta = pdf.open_metadata()
            assert (meta["pdfaid:part"], meta["pdfaid:conformance"]) == ("3", "A")


def test_language_and_title_per_letter(letters: dict[str, Letter]) -> None:
    for locale, letter in letters.items():
        with pikepdf.open(io.BytesIO(letter.pdf.data)) as pdf:
            assert str(pdf.Root.Lang) == LANG[locale]
            assert bool(pdf.Root.ViewerPreferences.DisplayDocTitle)
            assert bool(pdf.Root.MarkInfo.Marked)
            title = str(pdf.docinfo["/Title"])
            assert title
            assert pdf.open_metadata()["dc:title"] == title


def test_headings_tables_lists_and_figures_are_tagged(letters: dict[str, Letter]) -> None:
    for locale, letter in letters.items():
        markup = letter.html
        with pikepdf.open(io.BytesIO(letter.pdf.data)) as pdf:
            roles = structure_roles(pdf)
        names = [role for _, role, _ in roles]
        for role, tags in (("/H1", "h1"), ("/H2", "h2"), ("/Table", "table"), ("/TH", "th")):
            assert names.count(role) == len(re.findall(rf"<(?:{tags})[\s>]", markup)), (
                locale, role)
        # A list that a page break splits is tagged as one /L per page (WeasyPrint).
        assert names.count("/L") >= len(re.findall(r"<(?:ul|ol)[\s>]", markup)) > 0
        assert names.count("/LI") >= len(re.findall(r"<li[\s>]", markup))
        figures = {str(node.Alt) for _, role, node in roles if role == "/Figure"}
        alts = {html.unescape(a) for a in re.findall(r'<img[^>]* alt="([^"]*)"', markup)}
        assert figures == alts, locale
        assert all(alt.strip() for alt in alts), "every image has alternative text"


def test_a_figure_without_alternative_text_is_found(letters: dict[str, Letter]) -> None:
    with pikepdf.open(io.BytesIO(letters["zh_CN"].pdf.data)) as pdf:
        assert tagging_problems(pdf) == []
        for _, role, node in structure_roles(pdf):
            if role == "/Figure":
                del node["/Alt"]
        del pdf.Root["/Lang"]
        problems = tagging_problems(pdf)
    assert "no /Lang" in problems
    assert any(p.startswith("an image without alternative text") for p in problems)


def test_reading_order_is_the_visual_order(letters: dict[str, Letter]) -> None:
    """The structure follows the HTML's order (WeasyPrint tags in document order), and
    pdftotext, which reads the page as laid out, finds the headings in that same order."""
    for locale, letter in letters.items():
        headings = [squash(html.unescape(re.sub(r"<[^>]+>", "", text)))
                    for text in re.findall(r"<h[12][^>]*>(.*?)</h[12]>", letter.html, re.S)]
        assert len(headings) >= 4, locale
        text = squash(subprocess.run(["pdftotext", "-enc", "UTF-8", "-", "-"],
                                     input=letter.pdf.data, capture_output=True,
                                     check=True).stdout.decode("utf-8"))
        positions = [text.find(heading) for heading in headings]
        assert -1 not in positions, (locale, headings, positions)
        assert positions == sorted(positions), (locale, headings)
