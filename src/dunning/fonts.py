"""Prepared fonts: small subsets of the system faces that ``settings.DEFAULT_FONTS`` names, put
in front of those faces, so that letters subset fast and come out small without losing a glyph.

Takes the families of ``Settings.fonts`` (locale → families, declared there and nowhere else);
:func:`build` (``make fonts``, run by ``scripts/setup.sh``) writes, for each family's regular
and bold face, a subset of the installed face into ``templates/assets/fonts/`` with an index,
``fonts.json``. A subset keeps the characters letters use: Latin, punctuation and symbols, the
common hanzi of the family's region (GB 2312 for SC faces, Big5 for TC and HK faces) and every
character of the templates, catalogs and config, with the OpenType layout of the region's
language only (so a face of a few thousand glyphs instead of 65,535; HarfBuzz then subsets it
for each letter in a fraction of the time).

Two things about the glyphs' numbers matter once a face is embedded in a letter:

- **Order.** WeasyPrint keeps glyph ids when it subsets a face for a letter, so the embedded face
  holds an empty entry for every glyph id below the highest one the letter uses (about 30 KiB
  per CJK face when that is near the end of the face). A prepared face therefore puts first the
  glyphs of what every letter prints (ASCII, common symbols, then the characters of the templates,
  catalogs, config and amounts in words, the most frequent first, with the glyphs the layout
  substitutes for them), then the hanzi by how much Chinese uses them (wordfreq's list, for
  names and addresses), then the rest in the region's legacy charset's order.
- **CIDs.** Noto CJK is a CID-keyed CFF font in which glyph *n* has CID *n*. WeasyPrint writes
  glyph ids into the letter, and a PDF reader that goes by the font's charset (Acrobat, Apple
  Preview; poppler and Chromium do not) reads them as CIDs. A subset keeps each glyph's old CID
  unless told otherwise, so every prepared face is renumbered to glyph *n* = CID *n* again:
  without that, those readers would draw other glyphs than the ones laid out.

At render time :class:`PreparedFonts` gives the renderer an ``@font-face`` stylesheet naming
each subset ``dunning <family>`` and rewrites the stylesheets so that every ``"<family>"`` in a
font stack becomes ``"dunning <family>", "<family>"``: the subset serves what it holds, the full
installed family everything else, so a rare name character (堃, 𠮷) still prints from Noto CJK
itself. The glyph coverage check therefore stays the union of the full families.

Without prepared fonts letters still render, from the full faces (bigger and slower);
``dunning doctor`` says so, and so does a warning when a renderer starts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from .errors import ConfigError

log = logging.getLogger(__name__)

INDEX = "fonts.json"
PREFIX = "dunning "
#: Bumped when what a prepared face holds changes, so that old ones are rebuilt.
#: 2: glyphs ordered for small embedded subsets, glyph n = CID n.
FORMAT = 2
#: fontconfig weights of the faces prepared, with their CSS weight.
WEIGHTS = {80: 400, 200: 700}
#: OpenType language of the region a CJK family's name ends with, and its legacy charset
#: whose hanzi the subset keeps.
REGIONS = {
    " SC": ("ZHS ", "gb2312"), " TC": ("ZHT ", "big5"), " HK": ("ZHH ", "big5"),
    " JP": ("JAN ", "euc_jp"), " KR": ("KOR ", "euc_kr"),
}
#: Always kept: Latin, punctuation, currency, letterlike and math symbols, arrows, shapes,
#: CJK punctuation and full-width forms.
BASE_RANGES = (
    (0x20, 0x7E), (0xA0, 0x24F), (0x2000, 0x206F), (0x20A0, 0x20CF), (0x2100, 0x22FF),
    (0x2460, 0x24FF), (0x2500, 0x25FF), (0x3000, 0x303F), (0xFF00, 0xFFEF),
)


@dataclass(frozen=True)
class PreparedFace:
    """One prepared face: ``file`` (under the fonts folder) is a subset of ``source``."""

    family: str
    weight: int
    file: str
    source: str
    index: int
    source_size: int
    characters: int
    glyphs: int
    #: Digest of the characters asked for (changes when the templates' text does).
    charset: str

    @property
    def name(self) -> str:
        """The family name the subset is declared under."""
        return PREFIX + self.family


# --------------------------------------------------------------------------- using them


class PreparedFonts:
    """The prepared faces found in ``fonts_dir`` that are usable for ``families``."""

    def __init__(self, fonts_dir: Path, families: Iterable[str]) -> None:
        self.fonts_dir = fonts_dir
        wanted = set(families)
        self.faces = [face for face in load_index(fonts_dir)
                      if face.family in wanted and (fonts_dir / face.file).is_file()]
        self.missing = sorted(wanted - {face.family for face in self.faces})
        families_re = "|".join(re.escape(f) for f in sorted(
            {face.family for face in self.faces}, key=len, reverse=True))
        self._stack = re.compile(rf"""(["'])({families_re})\1""") if families_re else None

    def font_face_css(self, families: Iterable[str] | None = None) -> str:
        """``@font-face`` rules for the prepared faces of ``families`` (default: all), with URLs
        relative to the assets folder."""
        wanted = None if families is None else set(families)
        return "".join(
            f'@font-face {{ font-family: "{face.name}"; font-weight: {face.weight}; '
            f'src: url("{self.fonts_dir.name}/{face.file}"); }}\n'
            for face in self.faces if wanted is None or face.family in wanted)

    def prefer(self, css: str) -> str:
        """``css`` with each quoted prepared family preceded by its subset.

        >>> fonts = PreparedFonts(Path("/nowhere"), [])
        >>> fonts._stack = re.compile(r'''(["'])(Noto Serif CJK SC)\\1''')
        >>> fonts.prefer('html { font-family: "Noto Serif CJK SC", serif; }')
        'html { font-family: "dunning Noto Serif CJK SC", "Noto Serif CJK SC", serif; }'
        """
        if self._stack is None:
            return css
        return self._stack.sub(lambda m: f'"{PREFIX}{m.group(2)}", "{m.group(2)}"', css)


def load_index(fonts_dir: Path) -> list[PreparedFace]:
    """The faces listed in ``fonts.json``, or none (missing, unreadable or an old format)."""
    try:
        data = json.loads((fonts_dir / INDEX).read_text("utf-8"))
        if data.get("format") != FORMAT:
            return []
        return [PreparedFace(**face) for face in data["faces"]]
    except (OSError, ValueError, TypeError, KeyError):
        return []


def stale(fonts_dir: Path, families: Iterable[str]) -> list[str]:
    """What is missing or out of date among the prepared fonts, in words (empty: all good)."""
    problems = []
    prepared = PreparedFonts(fonts_dir, families)
    if prepared.missing:
        problems.append("no prepared faces for " + ", ".join(prepared.missing))
    for face in prepared.faces:
        try:
            if Path(face.source).stat().st_size != face.source_size:
                problems.append(f"{face.file} was built from another version of {face.source}")
        except OSError:
            problems.append(f"{face.file}: its source {face.source} is gone")
    return problems


# --------------------------------------------------------------------------- building them


def installed_faces(family: str) -> list[tuple[str, int, int]]:
    """(file, index in the collection, CSS weight) of the upright regular and bold faces of
    ``family`` that fontconfig knows."""
    if shutil.which("fc-list") is None:
        raise ConfigError("fc-list (fontconfig) not found; install the fontconfig package")
    out = subprocess.run(
        ["fc-list", "-f", "%{file}\t%{index}\t%{weight}\t%{slant}\t%{family}\n", family],
        capture_output=True, text=True, check=False,
    ).stdout
    faces: dict[int, tuple[str, int, int]] = {}
    for row in sorted(out.splitlines()):
        path, index, weight, slant, families = row.split("\t")
        if family not in [f.strip() for f in families.split(",")] or slant != "0":
            continue
        css_weight = WEIGHTS.get(int(weight))
        if css_weight and css_weight not in faces:
            faces[css_weight] = (path, int(index), css_weight)
    return [faces[w] for w in sorted(faces)]


def _region(family: str) -> tuple[str, str] | None:
    return next((r for suffix, r in REGIONS.items() if family.endswith(suffix)), None)


def _legacy_charset(codec: str) -> list[int]:
    """The characters of a double-byte legacy charset in its byte order (for GB 2312 and Big5
    that is the common hanzi first)."""
    found: list[int] = []
    for high in range(0x81, 0xFF):
        for low in range(0x40, 0xFF):
            try:
                found += [ord(ch) for ch in bytes((high, low)).decode(codec)]
            except UnicodeDecodeError:
                continue
    return found


def characters(family: str, text: str) -> set[int]:
    """The code points a prepared face of ``family`` keeps (if the face has them)."""
    keep = {cp for start, end in BASE_RANGES for cp in range(start, end + 1)}
    keep |= {ord(ch) for ch in text if ord(ch) >= 0x20}
    region = _region(family)
    if region:
        keep.update(_legacy_charset(region[1]))
    return keep


#: Printed by nearly every letter whatever its text: first in a prepared face.
COMMON_RANGES = ((0x20, 0x7E), (0xA0, 0xFF), (0x2010, 0x203A), (0x20A0, 0x20BF), (0x3000, 0x3011),
                 (0xFF01, 0xFF5E))


@lru_cache(maxsize=1)
def hanzi_by_frequency() -> tuple[int, ...]:
    """Chinese characters, the most used first, as they first appear in wordfreq's Chinese
    word list (frequency-ordered words from subtitles, Wikipedia, news and the web). Names and
    addresses, which no template holds, mostly use the first two or three thousand."""
    import wordfreq

    seen: dict[int, None] = {}
    for bucket in wordfreq.get_frequency_list("zh", wordlist="best"):
        for word in bucket:
            seen.update((ord(ch), None) for ch in word if ord(ch) >= 0x2E80)
    return tuple(seen)


def priority(family: str, text: str) -> list[int]:
    """Code points in the order a prepared face of ``family`` numbers their glyphs: common
    symbols, the project's text (most frequent first), then for a CJK face the hanzi by how
    much Chinese uses them and the rest of the region's legacy charset in its order."""
    counts: dict[int, int] = {}
    for ch in text:
        if ord(ch) >= 0x20:
            counts[ord(ch)] = counts.get(ord(ch), 0) + 1
    ordered = [cp for start, end in COMMON_RANGES for cp in range(start, end + 1)]
    ordered += sorted(counts, key=lambda cp: (-counts[cp], cp))
    region = _region(family)
    if region:
        ordered += hanzi_by_frequency()
        ordered += _legacy_charset(region[1])
    return list(dict.fromkeys(ordered))


def project_text(root: Path) -> str:
    """Every character a letter's fixed text may use: templates, catalogs, config and the
    numerals of amounts in words."""
    parts = []
    for pattern in ("templates/**/*.html", "locales/*/LC_MESSAGES/*.po", "config/*.yaml",
                    "src/dunning/words.py"):
        parts += [p.read_text("utf-8", errors="replace") for p in sorted(root.glob(pattern))]
    return "".join(parts)


def _slug(family: str, weight: int) -> str:
    return re.sub(r"[^a-z0-9]+", "-", family.lower()).strip("-") + f"-{weight}.otf"


def _digest(keep: set[int]) -> str:
    return hashlib.sha256(",".join(map(str, sorted(keep))).encode()).hexdigest()[:16]


def _substitutes(font: Any) -> dict[str, list[str]]:
    """glyph → the glyphs the font's GSUB may print instead of it or of a sequence it begins:
    single and multiple substitutions (e.g. the region's ``locl`` forms), alternates and
    ligatures (ﬁ)."""
    found: dict[str, list[str]] = {}
    if "GSUB" not in font:
        return found
    for lookup in font["GSUB"].table.LookupList.Lookup:
        for sub in lookup.SubTable:
            sub = getattr(sub, "ExtSubTable", sub)
            for source, target in (getattr(sub, "mapping", None) or {}).items():
                found.setdefault(source, []).extend([target] if isinstance(target, str)
                                                    else target)
            for source, targets in (getattr(sub, "alternates", None) or {}).items():
                found.setdefault(source, []).extend(targets)
            for first, ligatures in (getattr(sub, "ligatures", None) or {}).items():
                found.setdefault(first, []).extend(lig.LigGlyph for lig in ligatures)
    return found


def _glyph_order(font: Any, codepoints: list[int]) -> list[str]:
    """The font's glyphs, those of ``codepoints`` first in that order, each followed by the
    glyphs substituted for it; then the others in their order."""
    cmap = font.getBestCmap()
    substitutes = _substitutes(font)
    order: dict[str, None] = {".notdef": None}
    for cp in codepoints:
        glyph = cmap.get(cp)
        if glyph is not None and glyph not in order:
            order[glyph] = None
            order.update((g, None) for g in substitutes.get(glyph, ()) if g not in order)
    order.update((g, None) for g in font.getGlyphOrder() if g not in order)
    return list(order)


def _reorder(font: Any, order: list[str]) -> None:
    """Renumber the glyphs of ``font`` (CFF-based) to ``order``."""
    from fontTools.ttLib.reorderGlyphs import reorderGlyphs

    top = font["CFF "].cff.topDictIndex[0]
    old = font.getGlyphOrder()
    fd_select = getattr(top, "FDSelect", None)
    fd_of = {name: fd_select[gid] for gid, name in enumerate(old)} if fd_select else {}
    reorderGlyphs(font, order)
    if fd_select is not None:  # reorderGlyphs leaves a CID font's FDSelect as it was
        fd_select.gidArray = [fd_of[name] for name in order]


def _number_cids_as_glyphs(path: Path) -> None:
    """Rewrite a CID-keyed CFF face so that glyph n has CID n (see the module docstring)."""
    from fontTools.ttLib import TTFont

    font = TTFont(path)  # lazy: tables other than CFF are copied as they are (by glyph id)
    top = font["CFF "].cff.topDictIndex[0]
    if not hasattr(top, "ROS"):
        return  # name-keyed: readers take the code as the glyph id
    old = font.getGlyphOrder()
    new = [".notdef"] + [f"cid{gid:05d}" for gid in range(1, len(old))]
    if old == new:
        return
    charstrings = top.CharStrings
    charstrings.charStrings = {new[gid]: charstrings.charStrings[name]
                               for gid, name in enumerate(old)}
    top.charset = new
    font.setGlyphOrder(new)
    tmp = path.with_suffix(".cid.tmp")
    font.save(tmp)
    os.replace(tmp, path)


def _build_face(family: str, source: str, index: int, weight: int, keep: set[int],
                order: list[int], target: Path) -> PreparedFace:
    from fontTools import subset
    from fontTools.ttLib import TTFont

    font = TTFont(source, fontNumber=index, lazy=False)
    region = _region(family)
    for tag in ("GSUB", "GPOS"):  # keep the layout of the region's language (and defaults)
        if region and tag in font:
            for script in font[tag].table.ScriptList.ScriptRecord:
                records = [r for r in script.Script.LangSysRecord if r.LangSysTag == region[0]]
                script.Script.LangSysRecord = records
                script.Script.LangSysCount = len(records)
    options = subset.Options()
    options.drop_tables += ["vhea", "vmtx", "VORG"]  # letters are set horizontally
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.notdef_outline = True
    options.hinting = False
    options.desubroutinize = True  # WeasyPrint desubroutinizes every letter's subset anyway
    subsetter = subset.Subsetter(options)
    available = set(font.getBestCmap())
    subsetter.populate(unicodes=keep & available)
    subsetter.subset(font)
    if "CFF " in font:
        _reorder(font, _glyph_order(font, order))
    tmp = target.with_suffix(".tmp")
    font.save(tmp)
    if "CFF " in font:
        _number_cids_as_glyphs(tmp)
    os.replace(tmp, target)
    return PreparedFace(
        family=family, weight=weight, file=target.name, source=source, index=index,
        source_size=Path(source).stat().st_size, characters=len(keep & available),
        glyphs=len(font.getGlyphOrder()), charset=_digest(keep),
    )


def build(root: Path, fonts: dict[str, tuple[str, ...]], *, jobs: int | None = None,
          force: bool = False) -> list[PreparedFace]:
    """Prepare every face of every family in ``fonts`` into ``root/templates/assets/fonts``;
    faces already prepared from the same source are kept unless ``force``."""
    out = root / "templates" / "assets" / "fonts"
    out.mkdir(parents=True, exist_ok=True)
    text = project_text(root)
    known = {(f.family, f.weight): f for f in load_index(out)}
    families = sorted({family for stack in fonts.values() for family in stack})
    faces: list[PreparedFace] = []
    todo = []
    for family in families:
        found = installed_faces(family)
        if not found:
            raise ConfigError(f"font {family!r} is not installed (Debian: fonts-noto-cjk, "
                              "fonts-noto-core; run `make setup`)")
        keep = characters(family, text)
        for source, index, weight in found:
            old = known.get((family, weight))
            if not force and old and (old.source, old.index, old.charset) == (
                    source, index, _digest(keep)) and \
                    old.source_size == Path(source).stat().st_size and (out / old.file).is_file():
                faces.append(old)
            else:
                todo.append((family, source, index, weight, keep, priority(family, text),
                             out / _slug(family, weight)))
    with ProcessPoolExecutor(max_workers=jobs or os.cpu_count() or 1) as pool:
        for face in pool.map(_build_face, *zip(*todo, strict=True)) if todo else ():
            log.info("prepared %s %d: %d characters, %d glyphs", face.family, face.weight,
                     face.characters, face.glyphs)
            faces.append(face)
    faces.sort(key=lambda f: (f.family, f.weight))
    listing = {"format": FORMAT, "faces": [asdict(face) for face in faces]}
    tmp = out / (INDEX + ".tmp")
    tmp.write_text(json.dumps(listing, indent=2, ensure_ascii=False) + "\n", "utf-8")
    os.replace(tmp, out / INDEX)
    listed = {face.file for face in faces} | {INDEX}
    for stray in out.glob("*.otf"):
        if stray.name not in listed:
            stray.unlink()
    return faces


def main(argv: list[str] | None = None) -> int:
    """``python -m dunning.fonts [--force]``: prepare the fonts of the project found here
    (silent when every face is already prepared and up to date)."""
    from .settings import Settings

    args = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.WARNING, format="fonts: %(message)s")
    log.setLevel(logging.INFO)
    settings = Settings.discover()
    before = load_index(settings.assets_dir / "fonts")
    faces = build(settings.root, settings.fonts, force="--force" in args)
    if faces != before:
        size = sum((settings.assets_dir / "fonts" / f.file).stat().st_size for f in faces)
        log.info("%d faces ready in %s (%.1f MiB)", len(faces), settings.assets_dir / "fonts",
                 size / 2**20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
