"""Custom properties set per language on the root element, inlined once per language.

letter.css gives each letter language its font stacks as custom properties of
``html:lang(…)`` rules (``--serif``, ``--sans``) and every other rule says ``var(--serif)`` or
``var(--sans)``. WeasyPrint resolves ``var()`` for every element of every letter, parsing a
``font`` shorthand again each time; substituting the values into the stylesheets once per
language saves about 2% of a letter's instructions (``bench/instructions.py``).

The substitution changes nothing that the cascade would give, because it is made only for a
custom property that is declared nowhere but in ``html:lang(X)`` rules of the stylesheets
(without ``!important``, with a value that uses no ``var()`` itself), and never when the page's
own ``<style>`` or ``style`` attributes declare it. Those rules all have the same specificity,
so for a language the last matching declaration in stylesheet order is the value, as the
cascade has it; a property with no declaration for the language is left as ``var()``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import tinycss2

_LANG_RULE = re.compile(r"html:lang\(\s*([A-Za-z0-9-]+)\s*\)")
#: A custom property declaration anywhere in CSS text (conservative: also inside strings).
DECLARED = re.compile(r"(--[A-Za-z0-9_-]+)\s*:")


@dataclass(frozen=True, slots=True)
class Declarations:
    """What one stylesheet declares: ``(language range, name, value)`` of its ``html:lang``
    rules in order, and the custom properties it declares anywhere else."""

    by_lang: tuple[tuple[str, str, str], ...]
    elsewhere: frozenset[str]


def scan(css: str) -> Declarations:
    """The custom property declarations of a stylesheet.

    >>> scan('html:lang(zh-CN) { --serif: "A", serif } p { --x: 1 }')
    Declarations(by_lang=(('zh-cn', '--serif', '"A", serif'),), elsewhere=frozenset({'--x'}))
    """
    by_lang: list[tuple[str, str, str]] = []
    elsewhere: set[str] = set()
    for rule in tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True):
        if rule.type == "qualified-rule":
            lang = _LANG_RULE.fullmatch(" ".join(tinycss2.serialize(rule.prelude).split()))
            for item in tinycss2.parse_declaration_list(rule.content, skip_comments=True,
                                                        skip_whitespace=True):
                if item.type != "declaration" or not item.name.startswith("--"):
                    continue
                value = tinycss2.serialize(item.value).strip()
                if lang and not item.important and "var(" not in value.lower():
                    by_lang.append((lang.group(1).lower(), item.name, value))
                else:
                    elsewhere.add(item.name)
        elif rule.type == "at-rule" and rule.content:
            elsewhere.update(DECLARED.findall(tinycss2.serialize(rule.content)))
    return Declarations(tuple(by_lang), frozenset(elsewhere))


def values_for(sheets: Sequence[Declarations], lang: str,
               blocked: Iterable[str] = ()) -> dict[str, str]:
    """The custom properties that can be inlined for a page in ``lang`` whose stylesheets
    are ``sheets`` (in cascade order), with their values; ``blocked``: names the page's own
    CSS declares.

    >>> letter = scan('html:lang(en) { --sans: "B" } html:lang(en-GB) { --sans: "C" }')
    >>> values_for([letter], "en-GB"), values_for([letter], "en-US"), values_for([letter], "zh")
    ({'--sans': '"C"'}, {'--sans': '"B"'}, {})
    """
    excluded = set(blocked).union(*(sheet.elsewhere for sheet in sheets))
    lang = lang.lower()
    values: dict[str, str] = {}
    for sheet in sheets:
        for range_, name, value in sheet.by_lang:
            if name not in excluded and (lang == range_ or lang.startswith(range_ + "-")):
                values[name] = value
    return values


def inline(css: str, values: dict[str, str]) -> str:
    """``css`` with ``var(--name)`` (with or without a fallback) replaced by the value of
    ``--name`` wherever ``values`` has one; comments and everything else kept.

    >>> inline('h1 { font: bold 9pt var(--sans); color: var(--ink, red) }', {"--sans": '"B"'})
    'h1 { font: bold 9pt "B"; color: var(--ink, red) }'
    """
    if not values or "var(" not in css:
        return css
    nodes = _replace(tinycss2.parse_component_value_list(css), values)
    return str(tinycss2.serialize(nodes))


def _replace(nodes: list[Any], values: dict[str, str]) -> list[Any]:
    replaced: list[Any] = []
    for node in nodes:
        if node.type == "function" and node.lower_name == "var":
            args = [a for a in node.arguments if a.type not in ("whitespace", "comment")]
            if args and args[0].type == "ident" and args[0].value in values:
                replaced.extend(tinycss2.parse_component_value_list(values[args[0].value]))
                continue
        if node.type == "function":
            node.arguments = _replace(node.arguments, values)
        elif node.type in ("{} block", "[] block", "() block"):
            node.content = _replace(node.content, values)
        replaced.append(node)
    return replaced
