"""Configuration problems in an author's words, all at once, and the excerpt shown under a
finding.

Takes a :class:`~dunning.errors.ConfigError` that stopped the preview or a check and the
project; gives :class:`~dunning.rules.Finding` objects: a YAML file that does not parse is read
again to say what is wrong in plain words (indentation, a colon in a value, a tab, an unclosed
quote or bracket) at its line, and ``config/brands.yaml`` is validated brand by brand so that
every missing or unknown field of every brand is listed, not only the first. The error's own
facts (``path``, ``line``, ``key``) are used as they are; nothing here reads its message.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .config import Brand
from .errors import ConfigError, reason
from .output import read_regular_text
from .rules import Finding, error_finding, relative_to
from .settings import Settings
from .yamlconf import SafeDataLoader, did_you_mean, yaml_line

#: What PyYAML's problems mean for someone editing the file, by the start of the problem.
YAML_PROBLEMS: tuple[tuple[str, str, str], ...] = (
    ("expected <block end>", "this line is indented differently from the lines around it",
     "YAML reads the structure from the spaces at the start of each line: line this key up "
     "with the other keys at its level (spaces only, no tabs)."),
    ("did not find expected key", "this line is indented differently from the lines around it",
     "Line this key up with the other keys at its level (spaces only, no tabs)."),
    ("did not find expected '-'", "this list item is indented differently from the others",
     "Line the '-' up with the other items of the list."),
    ("mapping values are not allowed", "a colon (:) inside a value",
     'Put the whole value in double quotes: key: "text: with a colon".'),
    ("found character '\\t'", "a tab character",
     "Indent with spaces only: replace the tab by spaces."),
    ("could not find expected ':'", "a line without the colon after its key",
     "Write each setting as `key: value`."),
    ("found unexpected end of stream", "a quote is opened and never closed",
     "Close the quote (\" or ') at the end of the value."),
    ("expected ',' or ']'", "a [ list is never closed", "Close it with ]."),
    ("expected ',' or '}'", "a { mapping is never closed", "Close it with }."),
    ("aliases", "an alias (*name)", "Write the value out in full: aliases are not allowed."),
)


def _indented_deeper(path: Path, index: int) -> bool:
    """Whether line ``index`` (0-based) is indented deeper than the line above it while that
    one holds a value (so it cannot open a block): a stray space, not a colon in a value."""
    lines = read_regular_text(path).splitlines()
    above = next((t for t in reversed(lines[:index]) if t.strip()
                  and not t.lstrip().startswith("#")), "")
    line = lines[index] if index < len(lines) else ""

    def indent(text: str) -> int:
        return len(text) - len(text.lstrip(" "))

    return indent(line) > indent(above) and not above.rstrip().endswith(":")


def yaml_findings(path: Path, settings: Settings) -> list[Finding]:
    """What keeps ``path`` from being read as YAML, in plain words, at its line."""
    rel = relative_to(settings.root)
    try:
        text = read_regular_text(path)
        yaml.load(text, Loader=SafeDataLoader)
    except (OSError, UnicodeDecodeError) as exc:
        return [Finding("error", "config", f"the file cannot be read: {reason(exc)}",
                        file=rel(path))]
    except yaml.YAMLError as exc:
        problem = str(getattr(exc, "problem", None) or exc)
        mark = getattr(exc, "problem_mark", None)
        what, fix = next(((w, f) for start, w, f in YAML_PROBLEMS if problem.startswith(start)),
                         (f"YAML cannot read this line ({problem})",
                          "Compare it with the lines around it (docs/authoring.md)."))
        if mark is not None and problem.startswith("mapping values") \
                and _indented_deeper(path, mark.line):
            what, fix = YAML_PROBLEMS[0][1:]
        return [Finding("error", "config", what, file=rel(path),
                        line=mark.line + 1 if mark is not None else None, advice=fix)]
    return []


def _plain_field_error(key: str, error: Mapping[str, Any]) -> tuple[str, str]:
    loc = ".".join(str(p) for p in error["loc"])
    if error["type"] == "missing":
        return (f"brand {key!r} has no {loc!r}, which every brand needs",
                f"Add `{error['loc'][-1]}:` to the brand (see the other brands in the file, "
                "and docs/authoring.md, \"Adding a brand\").")
    if error["type"] == "extra_forbidden":
        field = str(error["loc"][-1])
        return (f"brand {key!r}: {loc!r} is not a brand field"
                f"{did_you_mean(field, Brand.model_fields)}",
                f"Brands have: {', '.join(sorted(Brand.model_fields))}.")
    value = error.get("input")
    got = f" (it is {value!r})" if isinstance(value, (str, int)) and len(str(value)) < 60 else ""
    return (f"brand {key!r}: {loc!r}: {error['msg']}{got}",
            "Compare it with the same field of another brand.")


def brand_findings(settings: Settings) -> list[Finding]:
    """Every missing, unknown or invalid field of every brand in ``config/brands.yaml``."""
    path = settings.brands_file
    found = yaml_findings(path, settings)
    if found:
        return found
    text = read_regular_text(path)
    data = yaml.load(text, Loader=SafeDataLoader)
    brands = data.get("brands") if isinstance(data, Mapping) else None
    if not isinstance(brands, Mapping):
        return []
    rel = relative_to(settings.root)
    findings = []
    for key, body in brands.items():
        if not isinstance(body, Mapping):
            continue
        try:
            Brand.model_validate({"key": str(key), **body})
        except ValidationError as exc:
            # an unknown key first: it is usually the misspelling of a missing one
            for error in sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden"):
                message, advice = _plain_field_error(str(key), error)
                steps = ["brands", str(key), *(str(p) for p in error["loc"])]
                findings.append(Finding("error", "config", message, file=rel(path),
                                        line=yaml_line(path, steps), advice=advice))
    return findings


def config_findings(exc: ConfigError, settings: Settings) -> list[Finding]:
    """A config error that stopped everything, with every other problem of its file, in an
    author's words; the error as it is when nothing more can be said."""
    if exc.path:
        path = Path(exc.path)
        found = (brand_findings(settings) if path.resolve() == settings.brands_file.resolve()
                 else yaml_findings(path, settings))
        if found:
            return found
    return [error_finding(exc, settings)]


def excerpt(settings: Settings, file: str | None, line: int | None, around: int = 3,
            width: int = 0) -> list[tuple[int, str]]:
    """The numbered lines around ``line`` of ``file`` (relative to the templates folder or the
    project), all of them; with ``width``, long lines are wrapped (the continuation keeps the
    line's number)."""
    if not file or not line:
        return []
    for base in (settings.templates_dir, settings.root):
        path = base / file
        if path.is_file():
            break
    else:
        path = Path(file)
        if not path.is_file():
            return []
    try:
        lines = read_regular_text(path).splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    first, last = max(1, line - around), min(len(lines), line + around)
    shown = []
    for number in range(first, last + 1):
        text = lines[number - 1]
        parts = textwrap.wrap(text, width, drop_whitespace=False,
                              replace_whitespace=False) if width and text else [text]
        shown += [(number, part) for part in parts or [""]]
    return shown
