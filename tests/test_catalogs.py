"""The message catalogs against the templates: every string the templates (and the code) use
is translated in every supported locale, nothing is fuzzy or stale, and every translation
keeps its placeholders. Each check lists every problem it finds, file by file.

The messages are extracted here with Babel's API and ``babel.cfg``, exactly as ``make
extract`` does, so the check never trusts a ``messages.pot`` that may be out of date.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from dunning.settings import SUPPORTED_LOCALES

from .helpers import ROOT

LOCALES_DIR = ROOT / "locales"
#: %(name)s placeholders; %% is a literal percent sign.
_PERCENT = re.compile(r"%(?:\((\w+)\))?([#0\- +]*\d*(?:\.\d+)?[sdifr%])")
_BRACES = re.compile(r"\{(\w+)\}")


def extracted_messages() -> dict[str, set[str]]:
    """msgid → the files that use it, from the templates and the code (``babel.cfg``)."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    found: dict[str, set[str]] = {}
    for filename, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map
    ):
        if not filename.startswith(("templates/", "src/")):
            continue
        msgids = message if isinstance(message, tuple) else (message,)
        for msgid in msgids:
            if msgid:
                found.setdefault(msgid, set()).add(filename)
    return found


def placeholders(text: str) -> tuple[set[str], set[str], list[str]]:
    """(%(name)s names, {name} names, bad % directives) of a message.

    >>> placeholders("%(days)s days, 5%% off, page {page}")
    ({'days'}, {'page'}, [])
    >>> placeholders("%(days)z days, 100 % sure")[2]
    ['%(days)z', '% s']
    """
    named: set[str] = set()
    bad: list[str] = []
    position = 0
    while True:
        start = text.find("%", position)
        if start < 0:
            break
        match = _PERCENT.match(text, start)
        if match is None:
            bad.append(text[start:start + 8])
            position = start + 1
            continue
        if match.group(2) != "%":
            if match.group(1) is None:
                bad.append(match.group(0))  # positional: cannot be filled by name
            else:
                named.add(match.group(1))
        position = match.end()
    return named, set(_BRACES.findall(text)), bad


def _catalog(locale: str, locales_dir: Path = LOCALES_DIR) -> Catalog:
    path = locales_dir / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        return read_po(handle, locale=locale)


def _translations(catalog: Catalog) -> list[Message]:
    return [message for message in catalog if message.id]


@pytest.fixture(scope="module")
def used() -> dict[str, set[str]]:
    messages = extracted_messages()
    assert len(messages) > 50, "the extraction found almost nothing: check babel.cfg"
    return messages


def catalog_problems(
    locale: str, used: dict[str, set[str]], locales_dir: Path = LOCALES_DIR
) -> list[str]:
    """Every problem of one locale's catalog, as readable lines."""
    path = f"{locales_dir.name}/{locale}/LC_MESSAGES/messages.po"
    if not (locales_dir / locale / "LC_MESSAGES" / "messages.po").is_file():
        return [f"{path}: missing (make new-locale LOCALE={locale})"]
    catalog = _catalog(locale, locales_dir)
    problems = []
    held = {message.id: message for message in _translations(catalog)}
    for msgid in sorted(set(used) - set(held)):
        where = ", ".join(sorted(used[msgid]))
        problems.append(f"{path}: missing {msgid!r} (used in {where}; run make catalogs)")
    for msgid in sorted(set(held) - set(used)):
        problems.append(f"{path}: stale {msgid!r}: no template uses it any more")
    for msgid in catalog.obsolete:
        problems.append(f"{path}: obsolete entry (#~) {msgid!r}: delete it")
    for msgid, message in held.items():
        if message.fuzzy:
            problems.append(f"{path}: fuzzy {msgid!r}: review the translation, then drop "
                            "the fuzzy flag")
        if isinstance(msgid, tuple) or isinstance(message.string, tuple):
            problems.append(f"{path}: plural entry {msgid!r}: the templates use none")
            continue
        if not message.string.strip():
            problems.append(f"{path}: untranslated {msgid!r}")
            continue
        named_id, braces_id, _ = placeholders(msgid)
        named_str, braces_str, bad = placeholders(message.string)
        if named_id != named_str:
            problems.append(
                f"{path}: {msgid!r}: placeholders %(...)s differ: msgid has "
                f"{sorted(named_id)}, msgstr has {sorted(named_str)}")
        if braces_id != braces_str:
            problems.append(
                f"{path}: {msgid!r}: placeholders {{...}} differ: msgid has "
                f"{sorted(braces_id)}, msgstr has {sorted(braces_str)}")
        if bad:
            problems.append(f"{path}: {msgid!r}: msgstr has a bad % directive {bad} "
                            "(write a literal percent sign as %%)")
    return problems


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_catalog_is_complete_current_and_consistent(
    locale: str, used: dict[str, set[str]]
) -> None:
    problems = catalog_problems(locale, used)
    assert not problems, f"{len(problems)} catalog problem(s):\n" + "\n".join(problems)


def test_the_template_file_is_current(used: dict[str, set[str]]) -> None:
    with (LOCALES_DIR / "messages.pot").open("rb") as handle:
        pot = {message.id for message in read_po(handle) if message.id}
    missing, stale = sorted(set(used) - pot), sorted(pot - set(used))
    assert not missing, f"locales/messages.pot lacks {missing}: run make catalogs"
    assert not stale, f"locales/messages.pot has unused {stale}: run make catalogs"


def test_every_catalog_on_disk_is_a_supported_locale() -> None:
    on_disk = {p.parent.parent.name for p in LOCALES_DIR.glob("*/LC_MESSAGES/messages.po")}
    assert on_disk == set(SUPPORTED_LOCALES)


def test_the_check_finds_each_kind_of_problem(tmp_path: Path, used: dict[str, set[str]]) -> None:
    """A catalog with one of each defect is reported, defect by defect."""
    source = (LOCALES_DIR / "zh_TW" / "LC_MESSAGES" / "messages.po").read_text("utf-8")
    broken = source.replace('msgid "Borrower"\nmsgstr "借款人"\n', "")  # missing
    broken = broken.replace('msgid "Basis"\nmsgstr "計算依據"',
                            '#, fuzzy\nmsgid "Basis"\nmsgstr "計算依據"')
    broken = broken.replace('msgid "Item"\nmsgstr "項目"', 'msgid "Item"\nmsgstr ""')
    broken = broken.replace('msgstr "%(days)s 日"', 'msgstr "%(day)s 日"')
    broken = broken.replace('msgstr "第 {page} 頁，共 {pages} 頁"', 'msgstr "第 {page} 頁"')
    broken = broken.replace('msgstr "期數（月）"', 'msgstr "期數 % 月"')
    broken += '\nmsgid "Gone"\nmsgstr "已刪除"\n\n#~ msgid "Old"\n#~ msgstr "舊"\n'
    target = tmp_path / "zh_TW" / "LC_MESSAGES" / "messages.po"
    target.parent.mkdir(parents=True)
    target.write_text(broken, "utf-8")
    problems = "\n".join(catalog_problems("zh_TW", used, tmp_path))
    for expected in ("missing 'Borrower'", "fuzzy 'Basis'", "untranslated 'Item'",
                     "msgid has ['days'], msgstr has ['day']",
                     "msgid has ['page', 'pages'], msgstr has ['page']",
                     "bad % directive", "stale 'Gone'", "obsolete entry (#~) 'Old'"):
        assert expected in problems, (expected, problems)


#: Wording that no letter may carry, in any locale (docs/domain.md §6): threats of arrest or
#: prison, claims of police or court authority, summons-like wording, contacting relatives.
FORBIDDEN = (
    "传票", "傳票", "法院执行", "法院執行", "公安", "警察", "拘留", "坐牢", "监狱", "監獄",
    "通讯录", "通訊錄", "家人", "单位", "arrest", "prison", "jail", "police", "summons",
    "criminal", "your family", "your employer",
)


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_no_catalog_carries_forbidden_wording(locale: str) -> None:
    found = [
        (message.id, word) for message in _translations(_catalog(locale))
        for word in FORBIDDEN if word.lower() in str(message.string).lower()
    ]
    assert not found, found
