"""Jinja2: a sandboxed, autoescaping environment per locale, and record → letter HTML.

Takes a validated record with its figures (``money``) and stage (``policy``); gives the HTML
that ``pdf`` turns into a PDF. Record values reach templates only as data, through a context
that holds the masked ID and phone, never the full ones. Undefined variables are errors.
"""

from __future__ import annotations

import dataclasses
import math
import re
import traceback
import unicodedata
from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.loaders import split_template_path
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup
from pydantic import BaseModel

from .config import PAGE_MARGIN_LEFT_MM, PAGE_MARGIN_TOP_MM, Brand, Window, localized
from .errors import ConfigError, TemplateError, TemplateKind
from .identity import mask_id, mask_phone
from .locale import filters_for, parse_locale, translations
from .money import Itemization, Options
from .plan import letter_reference
from .policy import BrandPolicy, Stage
from .records import Record


def css_string(value: Any) -> Markup:
    """Quote text as a CSS string, safe inside ``<style>``: quotes, backslashes, ``<`` and
    control characters become CSS escapes.

    >>> print(css_string('a"b</style>'))
    "a\\22 b\\3c /style\\3e "
    """
    text = value.unescape() if isinstance(value, Markup) else str(value)
    out = []
    for ch in text:
        if ch in '"\\<>' or ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\{ord(ch):x} ")
        else:
            out.append(ch)
    return Markup('"' + "".join(out) + '"')


def css_page_counter(value: Any) -> Markup:
    """Turn a translated "Page {page} of {pages}" into CSS ``content`` with page counters.

    >>> str(css_page_counter("第 {page} 页，共 {pages} 页"))
    '"第 " counter(page) " 页，共 " counter(pages) " 页"'
    """
    text = value.unescape() if isinstance(value, Markup) else str(value)
    parts = re.split(r"(\{pages?\})", text)
    out = []
    for part in parts:
        if part == "{page}":
            out.append("counter(page)")
        elif part == "{pages}":
            out.append("counter(pages)")
        elif part:
            out.append(str(css_string(part)))
    return Markup(" ".join(out))


def nobr(value: Any) -> Markup:
    """Keep a number (phone, account, contract) on one line: a line never breaks at its
    hyphens or spaces. The value is escaped.

    >>> print(nobr("400-820-1234"))
    <span class="nobr">400-820-1234</span>
    >>> print(nobr("<b>"))
    <span class="nobr">&lt;b&gt;</span>
    """
    return Markup('<span class="nobr">{}</span>').format(value)


#: The longest string or list a template may build with ``*``.
MAX_TEMPLATE_REPEAT = 100_000
#: The largest result (in bits) a template may compute with ``**``.
MAX_TEMPLATE_POWER_BITS = 4096


def _is_context_object(obj: Any) -> bool:
    """Whether ``obj`` is one of dunning's own objects (a pydantic model, a dataclass or
    anything defined in the package), whose methods templates may not call."""
    module = type(obj).__module__.split(".")[0]
    return isinstance(obj, BaseModel) or dataclasses.is_dataclass(obj) or module in (
        "dunning", "pydantic")


class _Sandbox(ImmutableSandboxedEnvironment):
    """The template sandbox. Jinja's rules (no attribute starting with an underscore, no
    mutation of data, no Python internals), plus:

    - dunning's own objects in the context (brand, policy, items, options) show their data
      only: a template cannot call their methods (a pydantic model's ``parse_file`` would
      read any file the process can read);
    - ``*`` and ``**`` are bounded, so that ``'x' * 10**10`` fails instead of exhausting
      memory.
    """

    intercepted_binops = frozenset({"*", "**"})

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if not super().is_safe_attribute(obj, attr, value):
            return False
        return not (callable(value) and _is_context_object(obj))

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int) \
                        and len(seq) * times > MAX_TEMPLATE_REPEAT:
                    raise SecurityError(
                        f"a template may not build a value longer than {MAX_TEMPLATE_REPEAT}")
        elif operator == "**" and isinstance(left, int) and isinstance(right, int) \
                and abs(left) > 1 and right * abs(left).bit_length() > MAX_TEMPLATE_POWER_BITS:
            raise SecurityError(
                f"a template may not compute a power above {MAX_TEMPLATE_POWER_BITS} bits")
        return super().call_binop(context, operator, left, right)


class _ConfinedLoader(jinja2.FileSystemLoader):
    """Jinja's FileSystemLoader (which refuses ``..`` and treats ``/etc/passwd`` as
    ``etc/passwd`` under the folder), also refusing a template that is a symbolic link out of
    the templates folder, before anything is read."""

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Any]:
        pieces = split_template_path(template)
        for searchpath in self.searchpath:
            candidate = Path(searchpath, *pieces)
            if candidate.is_file() and not candidate.resolve().is_relative_to(
                    Path(searchpath).resolve()):
                raise jinja2.TemplateNotFound(template)
        return super().get_source(environment, template)


@lru_cache(maxsize=16)
def environment(templates_dir: Path, locales_dir: Path, locale: str) -> jinja2.Environment:
    """The sandboxed environment for one letter locale, with its catalog and filters."""
    env = _Sandbox(
        loader=_ConfinedLoader(str(templates_dir)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        auto_reload=False,
        trim_blocks=False,
    )
    env.install_gettext_translations(translations(locales_dir, locale), newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(filters_for(locale))
    env.filters["css_string"] = css_string
    env.filters["css_page_counter"] = css_page_counter
    env.filters["nobr"] = nobr
    return env


def _template_location(exc: BaseException, templates_dir: Path) -> tuple[str | None, int | None]:
    """The template file and line where ``exc`` happened (Jinja rewrites tracebacks so that
    template frames carry the template's file name and line)."""
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return exc.name or exc.filename, exc.lineno
    root = str(templates_dir)
    found: tuple[str | None, int | None] = (None, None)
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        filename = frame.f_code.co_filename
        if filename.startswith(root):
            found = (str(Path(filename).relative_to(templates_dir)), lineno)
    return found


#: Space between the bottom of the envelope window and the letter's title.
WINDOW_CLEARANCE_MM = Decimal(4)


def _mm(value: Decimal) -> str:
    """A length in millimetres as CSS.

    >>> _mm(Decimal("27")), _mm(Decimal("2.50")), _mm(Decimal("-3"))
    ('27mm', '2.5mm', '-3mm')
    """
    return f"{value.normalize():f}mm"


def window_box(window: Window) -> dict[str, str]:
    """The addressee block's box as CSS lengths: ``top`` and ``left`` from the page's content
    box (the sheet's edge less the page margins), ``width``, ``height``, and ``head``, the
    height of the first page's head (letterhead and window), below which the title starts,
    :data:`WINDOW_CLEARANCE_MM` under the window so that it never shows through it."""
    top = window.top - PAGE_MARGIN_TOP_MM
    return {
        "top": _mm(top), "left": _mm(window.left - PAGE_MARGIN_LEFT_MM),
        "width": _mm(window.width), "height": _mm(window.height),
        "head": _mm(top + window.height + WINDOW_CLEARANCE_MM),
    }


#: Font size (pt) of the addressee block, and the smaller one for long addresses and names.
ADDRESSEE_PT, ADDRESSEE_COMPACT_PT = Decimal("9.5"), Decimal(8)
#: Lines the addressee's name, address and postal code may take at the normal size.
ADDRESSEE_MAX_LINES = 6
#: Horizontal padding of the addressee block in letter.css (4 mm each side).
ADDRESSEE_PADDING_MM = Decimal(8)


def addressee_lines(texts: list[str], width_mm: Decimal, size_pt: Decimal) -> int:
    """About how many lines ``texts`` take in a box ``width_mm`` wide at ``size_pt``: wide
    (CJK) characters are one em, others about half of one. An estimate, to choose the
    compact size; :func:`dunning.pdf.overflowing` checks the real layout.

    >>> addressee_lines(["新疆维吾尔自治区伊犁哈萨克自治州伊宁市解放西路街道阿依墩社区", "1 Road"],
    ...                 Decimal(77), Decimal("9.5"))
    3
    """
    ems_per_line = width_mm / (size_pt * Decimal("0.3528"))
    lines = 0
    for text in texts:
        ems = sum(Decimal(1) if unicodedata.east_asian_width(ch) in "WF" else Decimal("0.55")
                  for ch in text)
        lines += max(1, math.ceil(ems / ems_per_line))
    return lines


def addressee_compact(record: Record, window: Window) -> bool:
    """Whether the addressee block needs the smaller size to fit the envelope window."""
    texts = [record.name + "（亲启）", *record.address]
    if record.postal_code:
        texts.append(record.postal_code)
    return addressee_lines(texts, window.width - ADDRESSEE_PADDING_MM,
                           ADDRESSEE_PT) > ADDRESSEE_MAX_LINES


def letter_context(
    *,
    record: Record,
    brand: Brand,
    policy: BrandPolicy,
    stage: Stage,
    locale: str,
    items: Itemization,
    options: Options,
    as_of: date,
) -> dict[str, Any]:
    """The template context. Personal numbers arrive masked; nothing else of the record is
    reachable than what is listed here."""

    def text(value: Any) -> str:
        if value is None:
            return ""
        try:
            return localized(value, locale)
        except ConfigError as exc:
            raise ConfigError(f"brand {brand.key}: {exc}") from exc

    parsed = parse_locale(locale)
    language, territory = parsed.language, parsed.territory
    return {
        "letter": {
            "reference": letter_reference(record.contract_no, as_of),
            "as_of": as_of,
            "stage": stage,
            "locale": locale,
            "language": language,
            "lang": f"{language}-{territory}" if territory else language,
            "window": window_box(brand.window),
            "addressee_compact": addressee_compact(record, brand.window),
        },
        "brand": brand,
        "brand_text": {
            "legal_name": text(brand.legal_name),
            "short_name": text(brand.short_name),
            "app_path": text(brand.app_path),
            "mailing_address": text(brand.mailing_address),
            "regulator": text(brand.regulator),
            "regulator_channel": text(brand.regulator_channel),
            "dispute_body": text(brand.dispute_body.name if brand.dispute_body else None),
            "department": text(brand.department),
            "credit_bureau": text(brand.credit_bureau),
            "hours_days": text(brand.hotline_hours.days),
            "bank": text(brand.repayment_account.bank),
            "account_name": text(brand.repayment_account.account_name),
        },
        "borrower": {
            "name": record.name,
            "masked_id": mask_id(record.id_number, brand.id_mask.keep_start,
                                 brand.id_mask.keep_end),
            "id_type": record.id_type,
            "masked_phone": mask_phone(record.phone) if record.phone else "",
            "contract_no": record.contract_no,
            "address": record.address,
            "postal_code": record.postal_code,
            "loan_amount": record.loan_amount,
            "loan_date": record.loan_date,
            "due_date": record.due_date,
        },
        "items": items,
        "options": options,
        "policy": policy,
        "dates": {
            "credit_report": as_of + timedelta(days=policy.credit_report_notice_days),
            "dispute_by": as_of + timedelta(days=policy.dispute_days),
        },
    }


def render_html(
    context: dict[str, Any], *, templates_dir: Path, locales_dir: Path, template: str
) -> str:
    """Render the letter template with ``context``; template problems raise TemplateError
    naming the template file and line."""
    env = environment(templates_dir, locales_dir, context["letter"]["locale"])
    try:
        title = env.get_template("letter/titles.html").render(stage=context["letter"]["stage"])
        return env.get_template(template).render({**context, "title": title.strip()})
    except jinja2.TemplateError as exc:
        name, line = _template_location(exc, templates_dir)
        message = _redact(exc.message or type(exc).__name__, context)
        kind: TemplateKind = ("undefined" if isinstance(exc, jinja2.UndefinedError) else
                              "syntax" if isinstance(exc, jinja2.TemplateSyntaxError) else
                              "template")
        raise TemplateError(message, template=name, line=line, kind=kind) from exc
    except (TypeError, ValueError, AttributeError, KeyError, ArithmeticError) as exc:
        name, line = _template_location(exc, templates_dir)
        message = _redact(f"{type(exc).__name__}: {exc}", context)
        raise TemplateError(message, template=name, line=line) from exc


def _redact(message: str, context: Mapping[str, Any]) -> str:
    """``message`` with the borrower's name and address lines replaced by ``<name>`` and
    ``<address>``: Jinja and Python quote values in some messages (a missing key, a bad
    literal), and an error message goes to the log and the manifest.

    >>> _redact("'dict object' has no attribute '王小明'", {"borrower": {"name": "王小明"}})
    "'dict object' has no attribute '<name>'"
    """
    borrower = context.get("borrower") or {}
    values = [(str(borrower.get("name") or ""), "<name>")]
    values += [(str(line), "<address>") for line in borrower.get("address") or ()]
    for value, label in sorted(values, key=lambda pair: -len(pair[0])):
        if len(value) >= 2:
            message = message.replace(value, label)
    return message
