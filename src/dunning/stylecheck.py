"""The letter's stylesheets, checked one file at a time: what WeasyPrint ignores in each (with
the file and line, each problem once) and braces that are never closed.

Takes the stylesheets a letter links (``templates/assets/letter.css`` and the brand's); gives
:class:`~dunning.rules.Finding` objects an author can act on. The preview and ``dunning check``
use them when WeasyPrint refuses a letter's styles: WeasyPrint parses the stylesheets together
and reports line and column without the file, once per letter.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from .errors import reason
from .output import read_regular_text
from .rules import Finding, relative_to
from .settings import Settings

_COMMENT_OR_STRING = re.compile(r"/\*.*?\*/|\"(?:[^\"\\\n]|\\.)*\"|'(?:[^'\\\n]|\\.)*'", re.S)


def unclosed_braces(text: str) -> list[int]:
    """The lines of ``{`` that are never closed (comments and strings ignored).

    >>> unclosed_braces("a { color: red; }\\nb {\\n  margin: 0;\\n")
    [2]
    >>> unclosed_braces("a { content: '{'; } /* { */")
    []
    """
    blank = _COMMENT_OR_STRING.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)
    opened: list[int] = []
    line = 1
    for ch in blank:
        if ch == "\n":
            line += 1
        elif ch == "{":
            opened.append(line)
        elif ch == "}" and opened:
            opened.pop()
    return opened


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _weasyprint_says(text: str) -> list[tuple[int | None, str]]:
    """(line, what) for each warning WeasyPrint gives when it parses ``text`` alone."""
    from weasyprint import CSS

    handler = _Records()
    logger = logging.getLogger("weasyprint")
    logger.addHandler(handler)
    try:
        CSS(string=text)
    except Exception as exc:
        return [(None, f"WeasyPrint cannot read it: {exc}")]
    finally:
        logger.removeHandler(handler)
    found = []
    for record in handler.records:
        args = record.args if isinstance(record.args, tuple) else ()
        line = next((a for a in args if isinstance(a, int)), None)
        found.append((line, record.getMessage()))
    return found


def _plain(message: str) -> str:
    """WeasyPrint's warning with its position taken out (the finding has file and line)."""
    text = re.sub(r" at \d+:\d+", "", message).rstrip(".")
    if text.endswith(", no value"):
        return f"{text.removesuffix(', no value')} has no value, so it is ignored"
    return f"{text}: the letter is printed without it"


def stylesheet_findings(paths: list[Path], settings: Settings) -> list[Finding]:
    """Every problem of each stylesheet in ``paths``, once, with its file and line."""
    rel = relative_to(settings.root)
    findings: list[Finding] = []
    for path in paths:
        try:
            text = read_regular_text(path)
        except (OSError, UnicodeDecodeError) as exc:
            findings.append(Finding("error", "stylesheet", f"the stylesheet cannot be read: "
                                    f"{reason(exc)}", file=rel(path)))
            continue
        seen: set[tuple[int | None, str]] = set()
        for line, message in _weasyprint_says(text):
            if (line, message) in seen:
                continue
            seen.add((line, message))
            findings.append(Finding(
                "warning" if "unknown property" in message else "error", "stylesheet",
                _plain(message), file=rel(path), line=line,
                advice="Give the property a value (e.g. color: #1f3a68;) or delete the line; "
                "each declaration is `name: value;`."))
        for line in unclosed_braces(text):
            findings.append(Finding(
                "error", "stylesheet",
                "this { is never closed, so the rules after it are read as part of this one",
                file=rel(path), line=line,
                advice="Add the } that ends this rule, after its last declaration."))
    return findings


def letter_stylesheets(settings: Settings, brand_stylesheet: str | None) -> list[Path]:
    """The stylesheets a letter of a brand links: letter.css and the brand's own, each that
    is there (a link to a device too: :func:`stylesheet_findings` says why it cannot be
    read)."""
    paths = [settings.assets_dir / "letter.css"]
    if brand_stylesheet:
        paths.append(settings.assets_dir / brand_stylesheet)
    return [p for p in paths if p.exists() or p.is_symlink()]
