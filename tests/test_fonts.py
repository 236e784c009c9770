"""Prepared fonts: built from the installed faces, put in front of them in every font stack, and
never at the cost of a glyph (a rare character prints from the full face behind the subset)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from dunning.batch import RunSummary
from dunning.fonts import INDEX, PREFIX, PreparedFonts, build, load_index, project_text, stale
from dunning.settings import DEFAULT_FONTS

from .helpers import ROOT, pdf_text

FONTS_DIR = ROOT / "templates" / "assets" / "fonts"


def _embedded_fonts(data: bytes) -> set[str]:
    """Family part of each embedded font's name (after the subset tag), e.g. 'dunning-Noto-
    Serif-CJK-SC'."""
    names = set()
    for page in PdfReader(io.BytesIO(data)).pages:
        for font in page["/Resources"]["/Font"].values():
            names.add(str(font.get_object()["/BaseFont"]).split("+", 1)[1])
    return names


def _embedded_cff(data: bytes) -> dict[str, Any]:
    """Each embedded CFF-based face of a PDF, by its name, as a fontTools TTFont."""
    from fontTools.ttLib import TTFont

    faces = {}
    for page in PdfReader(io.BytesIO(data)).pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            if "/DescendantFonts" not in font:
                continue
            descriptor = font["/DescendantFonts"][0].get_object()["/FontDescriptor"].get_object()
            if "/FontFile3" in descriptor:
                program = descriptor["/FontFile3"].get_object().get_data()
                faces[str(font["/BaseFont"])] = TTFont(io.BytesIO(program))
    return faces


def _identity(count: int) -> list[str]:
    """The glyph names fontTools gives a CID-keyed font whose glyph n has CID n."""
    return [".notdef"] + [f"cid{gid:05d}" for gid in range(1, count)]


def _letter(out: Path, account_id: str) -> bytes:
    for line in (out / "manifest.jsonl").read_text("utf-8").splitlines():
        entry = json.loads(line)
        if entry["account_id"] == account_id:
            return (out / entry["path"]).read_bytes()
    raise AssertionError(f"{account_id} not in the manifest")


def test_every_configured_family_is_prepared() -> None:
    families = {family for stack in DEFAULT_FONTS.values() for family in stack}
    assert not stale(FONTS_DIR, families), "run `make fonts` (scripts/setup.sh builds them)"
    faces = load_index(FONTS_DIR)
    assert {face.family for face in faces} == families
    assert {face.weight for face in faces} == {400, 700}
    for face in faces:
        assert face.glyphs < 20000, face  # the full CJK faces hold 65,535


def test_letters_use_the_prepared_faces(sample_run: tuple[RunSummary, Path]) -> None:
    """Every face of a letter of common characters is a prepared one, the text of the mingtai
    seal (an SVG image that names its own font) included: a full system face would be read
    (about 19 MB) and subset for every letter."""
    _, out = sample_run
    for account_id in ("JQ-000004", "MT-000004"):  # formal letters; MT-000004 has the seal
        fonts = _embedded_fonts(_letter(out, account_id))
        assert fonts, "no fonts embedded"
        assert all(name.startswith(PREFIX.replace(" ", "-")) for name in fonts), fonts


def test_a_rare_character_prints_from_the_full_face(sample_run: tuple[RunSummary, Path]) -> None:
    """堃 is not in GB 2312, so not in the SC subsets: the full Noto CJK face behind the subset
    in the stack draws it (not a box), and only for that character."""
    _, out = sample_run
    data = _letter(out, "MT-000020")  # the borrower's name has 堃
    assert "堃" in pdf_text(data)
    fonts = _embedded_fonts(data)
    assert any(name.startswith("Noto-") for name in fonts), fonts
    assert any(name.startswith("dunning-") for name in fonts), fonts


def test_stacks_name_the_subset_before_its_family() -> None:
    prepared = PreparedFonts(FONTS_DIR, ["Noto Serif CJK SC", "Noto Sans CJK SC"])
    css = 'h1 { font: bold 17pt "Noto Sans CJK SC", sans-serif; } p { font-family: var(--x); }'
    assert prepared.prefer(css) == (
        'h1 { font: bold 17pt "dunning Noto Sans CJK SC", "Noto Sans CJK SC", sans-serif; } '
        "p { font-family: var(--x); }")
    faces = prepared.font_face_css()
    assert faces.count("@font-face") == 4
    assert 'font-family: "dunning Noto Serif CJK SC"; font-weight: 700;' in faces


def test_build_prepares_each_face_once(tmp_path: Path) -> None:
    """A Latin family builds in a second: a regular and a bold subset with the project's text,
    an index, and nothing rebuilt the second time."""
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "note.html").write_text("Ŧhe ½ letter", "utf-8")
    faces = build(tmp_path, {"en_US": ("Noto Sans",)}, jobs=1)
    assert [(face.family, face.weight) for face in faces] == [("Noto Sans", 400),
                                                              ("Noto Sans", 700)]
    fonts_dir = tmp_path / "templates" / "assets" / "fonts"
    assert load_index(fonts_dir) == faces
    assert sorted(p.name for p in fonts_dir.iterdir()) == [
        INDEX, "noto-sans-400.otf", "noto-sans-700.otf"]
    stamp = (fonts_dir / "noto-sans-400.otf").stat().st_mtime_ns
    assert build(tmp_path, {"en_US": ("Noto Sans",)}, jobs=1) == faces
    assert (fonts_dir / "noto-sans-400.otf").stat().st_mtime_ns == stamp
    assert stale(fonts_dir, ["Noto Sans"]) == []
    assert stale(fonts_dir, ["Noto Sans", "Noto Serif"]) == ["no prepared faces for Noto Serif"]


def test_without_prepared_fonts_stacks_stay_as_written(tmp_path: Path) -> None:
    prepared = PreparedFonts(tmp_path, ["Noto Serif CJK SC"])
    assert prepared.faces == []
    assert prepared.missing == ["Noto Serif CJK SC"]
    css = 'html { font-family: "Noto Serif CJK SC", serif; }'
    assert prepared.prefer(css) == css
    assert prepared.font_face_css() == ""


@pytest.mark.parametrize(("family", "common"), [
    ("Noto Serif CJK SC", "逾期还款通知函人民币壹贰叁肆伍陆柒捌玖拾佰仟万亿元角分整"),
    ("Noto Sans CJK TC", "逾期還款通知函新臺幣壹貳參肆伍陸柒捌玖拾佰仟萬億元角分整"),
])
def test_cjk_subsets_keep_the_common_hanzi_not_the_rare(family: str, common: str) -> None:
    from fontTools.ttLib import TTFont

    [face] = [f for f in load_index(FONTS_DIR) if f.family == family and f.weight == 400]
    with TTFont(FONTS_DIR / face.file, lazy=True) as font:
        cmap = font.getBestCmap()
    assert [ch for ch in common if ord(ch) not in cmap] == []
    assert [ch for ch in "𠮷㵘" if ord(ch) in cmap] == []  # (龘 is in Big5)


def test_prepared_cjk_faces_number_each_glyph_as_its_cid() -> None:
    """Noto CJK is CID-keyed. WeasyPrint writes glyph ids into the letter; Acrobat and Apple
    Preview read them as CIDs and look each up in the face's charset (poppler and Chromium
    take them as glyph ids, so a wrong charset would not show in our own renderings). A
    subset that kept the original CIDs would have those readers draw other characters."""
    from fontTools.ttLib import TTFont

    checked = 0
    for face in load_index(FONTS_DIR):
        with TTFont(FONTS_DIR / face.file, lazy=True) as font:
            if "CFF " not in font:
                continue
            assert hasattr(font["CFF "].cff.topDictIndex[0], "ROS"), face.file
            order = font.getGlyphOrder()
            assert order == _identity(len(order)), face.file
            checked += 1
    assert checked == 12  # SC, TC and HK, serif and sans, regular and bold


@pytest.mark.parametrize("account_id", ["MT-000004", "JQ-000004", "RS-000004", "MT-000020"])
def test_embedded_faces_keep_glyph_id_equal_to_cid(sample_run: tuple[RunSummary, Path],
                                                   account_id: str) -> None:
    """In the letters themselves (zh_CN, zh_HK, zh_TW, and MT-000020 whose 堃 prints from the
    full system face): every embedded CID-keyed face maps glyph n to CID n, so a reader that
    goes by CID picks the glyph that was laid out."""
    _, out = sample_run
    faces = _embedded_cff(_letter(out, account_id))
    assert faces, "no CFF face embedded"
    for name, font in faces.items():
        order = font.getGlyphOrder()
        assert order == _identity(len(order)), name


@pytest.mark.parametrize(("family", "locale"), [("Noto Serif CJK SC", "zh_CN"),
                                                ("Noto Sans CJK TC", "zh_TW"),
                                                ("Noto Sans CJK HK", "zh_HK")])
def test_glyphs_of_the_fixed_text_come_first(family: str, locale: str) -> None:
    """WeasyPrint keeps glyph ids, so an embedded face has an entry for every id below the
    highest one a letter uses: the catalog's hanzi sit before every hanzi of the face that
    no template, catalog or config holds."""
    from fontTools.ttLib import TTFont

    [face] = [f for f in load_index(FONTS_DIR) if f.family == family and f.weight == 700]
    with TTFont(FONTS_DIR / face.file, lazy=True) as font:
        gid = {name: number for number, name in enumerate(font.getGlyphOrder())}
        cmap = {cp: gid[name] for cp, name in font.getBestCmap().items()}
    catalog = (ROOT / "locales" / locale / "LC_MESSAGES" / "messages.po").read_text("utf-8")
    fixed = {ord(ch) for ch in project_text(ROOT)}
    hanzi = {cp for cp in cmap if 0x4E00 <= cp <= 0x9FFF}
    used = [cmap[ord(ch)] for ch in catalog if ord(ch) in hanzi]
    others = [cmap[cp] for cp in hanzi - fixed]
    assert used
    assert others
    assert max(used) < min(others)


def test_the_sample_formal_letter_embeds_few_glyph_slots(sample_run: tuple[RunSummary, Path],
                                                         ) -> None:
    """The size of a letter is mostly its fonts; with glyph ids kept, a face costs about 3.5
    bytes for every id below its highest one used. The borrower's name and address (叶梦思,
    云南省昆明市…) are common hanzi, so every face stays in the first few thousand ids
    (a face ordered as the system font is would reach 8,000)."""
    _, out = sample_run
    faces = _embedded_cff(_letter(out, "MT-000004"))
    assert len(faces) == 4
    for name, font in faces.items():
        assert len(font.getGlyphOrder()) < 3500, name
