"""The wording of a letter as it prints: prohibited content by category, untranslated text, and
where each piece of text came from.

Takes a letter's HTML (after translation) and ``config/wording.yaml``; gives :class:`Hit` objects
(a category's pattern matched a sentence) and :class:`Stray` objects (text in another language or
script than the letter's), and :func:`locate` finds the line an author edits for a piece of text:
the ``msgstr`` of a catalog entry, a template line, or a value in ``config/brands.yaml``.

The categories and their patterns (docs/domain.md §6) are data, per language, so that compliance
extends them without code; :func:`load_wording` validates them (a pattern that is not a valid
regular expression is a ConfigError naming the file, line and key). Every letter is searched
with the patterns of every language: English typed into a Chinese letter is caught as English.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from html.parser import HTMLParser
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from .config import HHMM
from .errors import ConfigError
from .locale import catalog_files, parse_locale
from .output import read_regular_text
from .settings import Settings, fallback_chain
from .yamlconf import load_yaml_file, validate_model

#: The languages patterns are written in: Simplified Chinese (zh_CN letters), Traditional
#: Chinese (zh_TW, zh_HK) and English (en_US, en_GB).
Language = Literal["zh_Hans", "zh_Hant", "en"]
LANGUAGES: tuple[Language, ...] = ("zh_Hans", "zh_Hant", "en")


def language_of(locale: str) -> Language:
    """The pattern language of a letter locale.

    >>> language_of("zh_HK"), language_of("zh_CN"), language_of("en_GB")
    ('zh_Hant', 'zh_Hans', 'en')
    """
    parsed = parse_locale(locale)
    if parsed.language == "zh":
        return "zh_Hant" if parsed.script == "Hant" else "zh_Hans"
    return "en"


def compile_pattern(pattern: str, language: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE if language == "en" else 0)


def _valid_pattern(pattern: str) -> str:
    if not pattern.strip():
        raise ValueError("an empty pattern would match everything")
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{pattern!r} is not a valid pattern: {exc}. Check the brackets "
                         "( ) [ ] and write a literal one as \\( (docs/authoring.md)") from None
    if compiled.search(""):
        raise ValueError(f"{pattern!r} matches empty text, so it would match every sentence")
    return pattern


#: A regular expression (Python syntax), checked when the config is loaded.
Pattern = Annotated[str, AfterValidator(_valid_pattern)]


# --------------------------------------------------------------------------- config


class HoursWindow(BaseModel):
    """Earliest opening and latest closing time (HH:MM, local) a hotline may show."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    earliest: str = Field(default="08:00", pattern=HHMM)
    #: a closing time may be 24:00 (midnight at the end of the day), so not HHMM
    latest: str = Field(default="21:00", pattern=r"^([01]\d|2[0-4]):[0-5]\d$")


class ContactHours(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    default: HoursWindow = HoursWindow()
    brands: dict[str, HoursWindow] = {}


class Category(BaseModel):
    """One kind of prohibited content: its name, what to do instead, its patterns."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1)
    advice: str = Field(min_length=1)
    patterns: dict[Language, list[Pattern]]

    @field_validator("patterns")
    @classmethod
    def _valid(cls, value: dict[Language, list[str]]) -> dict[Language, list[str]]:
        missing = [lang for lang in LANGUAGES if not value.get(lang)]
        if missing:
            raise ValueError(f"no patterns for {', '.join(missing)} (every category needs "
                             f"patterns for each of {', '.join(LANGUAGES)})")
        return value


class WordingRules(BaseModel):
    """``config/wording.yaml``: the categories of prohibited content with their patterns per
    language, negations and conditions, allowed phrases, and the contact-hours window."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    categories: dict[str, Category] = Field(min_length=1)
    negations: dict[Language, Pattern] = {}
    conditions: dict[Language, Pattern] = {}
    allowed: dict[Language, list[Pattern]] = {}
    contact_hours: ContactHours = ContactHours()

    @cached_property
    def compiled(self) -> list[tuple[str, Language, str, re.Pattern[str]]]:
        """(category key, language, pattern text, compiled) for every pattern."""
        return [(key, lang, pattern, compile_pattern(pattern, lang))
                for key, category in self.categories.items()
                for lang, patterns in category.patterns.items() for pattern in patterns]

    def hours_for(self, brand: str) -> HoursWindow:
        return self.contact_hours.brands.get(brand, self.contact_hours.default)


def wording_file(settings: Settings) -> Path:
    return settings.config_dir / "wording.yaml"


def load_wording(settings: Settings) -> WordingRules:
    """Read and validate ``config/wording.yaml`` (ConfigError naming file, line and key)."""
    path = wording_file(settings)
    if not path.is_file():
        raise ConfigError("missing: the wording rules (categories of prohibited content, "
                          "contact hours) are required", path=str(path))
    return validate_model(WordingRules, load_yaml_file(path), path=str(path))


# --------------------------------------------------------------------------- matching


@dataclass(frozen=True, slots=True)
class Hit:
    """A category's pattern matched ``matched`` in ``sentence``."""

    category: str
    language: Language
    pattern: str
    matched: str
    sentence: str


_SENTENCE = re.compile(r"(?<=[。！？；!?;])|(?<=[.])\s+|\n+")


def sentences(text: str) -> list[str]:
    """A block of text split into sentences (Chinese and English punctuation).

    >>> sentences("逾期。请还款！Pay now. Thank you")
    ['逾期。', '请还款！', 'Pay now.', 'Thank you']
    """
    return [s.strip() for s in _SENTENCE.split(text) if s and s.strip()]


def _negated(prefix: str, language: Language, rules: WordingRules) -> bool:
    negation = rules.negations.get(language)
    if not negation or not compile_pattern(negation, language).search(prefix):
        return False
    condition = rules.conditions.get(language)
    return not (condition and compile_pattern(condition, language).search(prefix))


def scan(text: str, rules: WordingRules) -> list[Hit]:
    """Every category that a sentence of ``text`` matches (once per category and sentence),
    allowed phrases removed first, negated matches left out.

    >>> rules = load_wording(Settings.at(Path(__file__).parents[2]))
    >>> [h.category for h in scan("We will tell your boss. We may report to the credit "
    ...                           "reference system.", rules)]
    ['third_parties']
    >>> scan("We will never contact your employer.", rules)
    []
    """
    for language, phrases in rules.allowed.items():
        for phrase in phrases:
            text = compile_pattern(phrase, language).sub(" ", text)
    hits = []
    for sentence in sentences(text):
        seen = set()
        for key, language, pattern, compiled in rules.compiled:
            if key in seen:
                continue
            for match in compiled.finditer(sentence):
                if not _negated(sentence[:match.start()], language, rules):
                    hits.append(Hit(key, language, pattern, match.group(0), sentence))
                    seen.add(key)
                    break
    return hits


# --------------------------------------------------------------------------- text blocks


_BLOCK = {"p", "li", "td", "th", "div", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "caption",
          "section", "header", "footer", "ul", "ol", "table", "br", "body", "title"}
_SKIP = {"style", "script", "head"}


class _Blocks(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[list[str]] = [[]]
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skip += 1
        if tag in _BLOCK:
            self.blocks.append([])

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skip = max(0, self._skip - 1)
        if tag in _BLOCK:
            self.blocks.append([])

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.blocks[-1].append(data)


def text_blocks(markup: str) -> list[str]:
    """The visible text of a letter, one string per block (paragraph, list item, cell).

    >>> text_blocks("<style>p{}</style><p>One <b>two</b></p><ul><li>three</li></ul>")
    ['One two', 'three']
    """
    parser = _Blocks()
    parser.feed(markup)
    parser.close()
    return [text for text in (" ".join("".join(b).split()) for b in parser.blocks) if text]


# --------------------------------------------------------------------------- untranslated


#: Characters written differently in Simplified and Traditional Chinese (Simplified, then
#: Traditional), among the commonest in letters: one of the other script in a Chinese letter
#: is untranslated text (a zh_CN sentence pasted into a zh_HK catalog, or the reverse).
SCRIPT_PAIRS = ("们們 这這 说說 会會 国國 还還 债債 务務 为為 与與 应應 发發 时時 额額 费費 计計 "
                "请請 联聯 单單 证證 录錄 经經 过過 对對 将將 进進 该該 账賬 银銀 间間 问問 题題 "
                "关關 实實 现現 见見 书書 给給 话話 条條 项項 号號 贷貸 罚罰 复複 诉訴 讼訟 权權 "
                "义義 询詢 议議 处處 络絡 邮郵 电電 网網 页頁 总總 数數 据據 约約 认認 确確 样樣 "
                "当當 让讓 币幣 亿億 贰貳 陆陸 员員 点點 种種 长長 机機 构構 开開 门門 东東 车車 "
                "状狀 态態 动動 厅廳 区區 县縣 宁寧 龙龍 业業 节節 产產 简簡 体體 汇匯 转轉")
_ONLY_SIMPLIFIED = frozenset(pair[0] for pair in SCRIPT_PAIRS.split())
_ONLY_TRADITIONAL = frozenset(pair[1] for pair in SCRIPT_PAIRS.split())

_URL = re.compile(r"(?:https?://|www\.)\S+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+|\b[\w-]+\.(?:com|cn|hk|tw|"
                  r"org|net|gov|example|uk)(?:\.[a-z]{2})?\b", re.IGNORECASE)
_CODE = re.compile(r"\S*\d\S*")  # anything with a digit: amounts, dates, numbers, references
_LATIN_RUN = re.compile(r"[A-Za-z][A-Za-z'’]*(?:[ ,;:\-–]+[A-Za-z][A-Za-z'’]*){2,}")


@dataclass(frozen=True, slots=True)
class Stray:
    """Text of another language or script than the letter's: ``text``, in ``block``."""

    what: Literal["latin", "script"]
    text: str
    block: str


def strays(blocks: Iterable[str], locale: str, own: Iterable[str] = ()) -> list[Stray]:
    """Untranslated text in a Chinese letter: runs of three or more Latin words, and characters
    of the other Chinese script. Names, brands and other values in ``own`` are left out, as
    are URLs, e-mail addresses and anything with a digit (codes, amounts, dates). English
    letters may hold Chinese names and addresses: nothing is stray there.

    >>> [s.text for s in strays(["您好 we will have you arrested 谢谢"], "zh_CN")]
    ['we will have you arrested']
    >>> [s.text for s in strays(["閣下的欠款", "我们的"], "zh_HK")]
    ['们']
    >>> strays(["请访问 www.mingtai.example 或致电 400-820-1234", "明泰 App"], "zh_CN")
    []
    """
    language = language_of(locale)
    if language == "en":
        return []
    other = _ONLY_TRADITIONAL if language == "zh_Hans" else _ONLY_SIMPLIFIED
    owned = sorted({o for o in own if o and len(o) > 1}, key=len, reverse=True)
    found: list[Stray] = []
    for block in blocks:
        text = block
        for value in owned:
            text = text.replace(value, " ")
        text = _CODE.sub(" ", _URL.sub(" ", text))
        found += [Stray("latin", m.group(0).strip(" ,;:-–"), block)
                  for m in _LATIN_RUN.finditer(text)]
        chars = "".join(dict.fromkeys(ch for ch in text if ch in other))
        if chars:
            found.append(Stray("script", chars, block))
    return found


# --------------------------------------------------------------------------- sources


@dataclass(frozen=True, slots=True)
class Source:
    """Where a piece of a letter's text comes from: ``file`` and ``line``, and ``what`` kind
    of place that is (a catalog entry, a template, a brand's value in the config)."""

    file: str
    line: int
    what: Literal["catalog", "template", "config"]


def _po_strings(path: Path) -> Iterator[tuple[int, str]]:
    """(line of its ``msgstr``, the translated text) for every entry of a ``.po`` file."""
    try:
        lines = read_regular_text(path).splitlines()
    except (OSError, UnicodeDecodeError):
        return
    start, parts = 0, list[str]()
    for number, text in enumerate([*lines, ""], 1):
        if text.startswith("msgstr"):
            start, parts = number, [text.partition(" ")[2]]
        elif text.startswith('"') and start:
            parts.append(text)
        elif start:
            joined = "".join(p.strip()[1:-1] for p in parts)
            yield start, joined.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
            start, parts = 0, []


def _squash(text: str) -> str:
    return "".join(text.split())


def locate(fragment: str, settings: Settings, locale: str,
           pattern: re.Pattern[str] | None = None) -> Source | None:
    """The catalog entry (``msgstr`` line, in the locale's fallback chain), template line or
    ``config/brands.yaml`` line that holds ``fragment`` (or a match of ``pattern``), in that
    order; None when none does (the text comes from a record or a computation)."""
    root = settings.root.resolve()

    def rel(path: Path) -> str:
        try:
            return path.resolve().relative_to(root).as_posix()
        except ValueError:
            return str(path)

    wanted = _squash(fragment)

    def holds(text: str) -> bool:
        text = html.unescape(text)
        return bool(pattern.search(text)) if pattern else bool(wanted) and wanted in _squash(text)

    for key in fallback_chain(locale):
        po = catalog_files(settings.locales_dir, key)[0]
        for line, text in _po_strings(po):
            if holds(text):
                return Source(rel(po), line, "catalog")
    for path in sorted(settings.templates_dir.rglob("*.html")):
        try:
            lines = read_regular_text(path).splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        for number, text in enumerate(lines, 1):
            if holds(_GETTEXT.sub(" ", text)):
                return Source(path.relative_to(settings.templates_dir).as_posix(), number,
                              "template")
    try:
        lines = read_regular_text(settings.brands_file).splitlines()
    except (OSError, UnicodeDecodeError):
        lines = []
    for number, text in enumerate(lines, 1):
        if holds(text.partition(":")[2] if not text.lstrip().startswith("-") else text):
            return Source(rel(settings.brands_file), number, "config")
    return None


#: A template's ``_("...")`` calls and Jinja comments: their English source text is not what
#: a Chinese letter prints (the catalog's msgstr is), so it is not searched as printed text.
_GETTEXT = re.compile(r"_\(\s*\"(?:[^\"\\]|\\.)*\"|_\(\s*'(?:[^'\\]|\\.)*'|\{#.*?#\}")
