"""Jinja2: a sandboxed, autoescaping environment per locale, and record → letter HTML.

Takes a validated record with its figures (``money``) and stage (``policy``); gives the HTML
that ``pdf`` turns into a PDF. Record values reach templates only as data, through a context
that holds the masked ID and phone, never the full ones. Undefined variables are errors.
"""

from __future__ import annotations

import dataclasses
import math
import re
import sys
import traceback
import unicodedata
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.loaders import split_template_path
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import missing
from markupsafe import Markup
from pydantic import BaseModel

from .config import PAGE_MARGIN_LEFT_MM, PAGE_MARGIN_TOP_MM, Brand, Window, localized
from .errors import ConfigError, TemplateError, TemplateKind
from .identity import mask_id, mask_phone
from .locale import MissingTranslationError, parse_locale, translations
from .locale import filters_for as locale_filters
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
            if candidate.exists() and not candidate.is_file():
                raise jinja2.TemplateNotFound(template, message=(
                    f"{template} is not a regular file (a folder, or a link to a device or "
                    "a pipe): a template is a text file"))
        return super().get_source(environment, template)


#: While :func:`render_html` runs for a check (``problems`` given): where the problems that
#: would stop a batch letter are collected instead, and the letter's context (to name the
#: fields a template may use in an "undefined" message).
_PROBLEMS: ContextVar[list[TemplateError] | None] = ContextVar("_PROBLEMS", default=None)
_CONTEXT: ContextVar[Mapping[str, Any] | None] = ContextVar("_CONTEXT", default=None)


def _field_names(value: Any) -> list[str]:
    if isinstance(value, Mapping):
        return sorted(str(k) for k in value)
    if isinstance(value, BaseModel):
        return sorted(type(value).model_fields)
    if dataclasses.is_dataclass(value):
        return [f.name for f in dataclasses.fields(value)]
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a named tuple (Installment)
        return list(value._fields)
    return []


def _owner(obj: Any, context: Mapping[str, Any]) -> str | None:
    """The name a template uses for ``obj``: a variable of the letter, or a field of one."""
    for key, value in context.items():
        if value is obj:
            return str(key)
    for key, value in context.items():
        if isinstance(value, Mapping):
            for sub, item in value.items():
                if item is obj:
                    return f"{key}.{sub}"
    return None


def undefined_message(obj: Any, name: Any, context: Mapping[str, Any]) -> str | None:
    """What an author needs to hear when a template uses a name the letter does not have.

    >>> undefined_message(missing, "nickname", {"borrower": {}, "brand": {}})
    "there is no variable 'nickname' in a letter; a letter's variables are: borrower, brand"
    >>> borrower = {"name": "…", "masked_id": "…"}
    >>> undefined_message(borrower, "nickname", {"borrower": borrower})
    "borrower has no field 'nickname'; borrower has: masked_id, name"
    """
    if obj is missing:
        return (f"there is no variable {name!r} in a letter; a letter's variables are: "
                f"{', '.join(sorted(k for k in context if k != 'title'))}")
    fields = _field_names(obj)
    if not fields:
        return None
    owner = _owner(obj, context)
    if owner == "brand" and getattr(obj, "key", None):
        return (f"brand {obj.key!r} has no field {name!r}; brands have: "
                f"{', '.join(fields)} (config/brands.yaml)")
    if owner:
        return f"{owner} has no field {name!r}; {owner} has: {', '.join(fields)}"
    return f"{name!r} is not a field of this value; it has: {', '.join(fields)}"


def _where_in_template() -> tuple[str | None, int | None]:
    """The template and line being rendered, from the innermost template frame."""
    frame = sys._getframe(1)
    while frame is not None:
        template = frame.f_globals.get("__jinja_template__")
        if template is not None:
            return template.name, template.get_corresponding_lineno(frame.f_lineno)
        frame = frame.f_back  # type: ignore[assignment]
    return None, None


class _Undefined(jinja2.StrictUndefined):
    """Undefined names are errors (StrictUndefined), with a message in an author's words; in a
    check (``render_html(problems=...)``) each use is recorded instead and prints as nothing,
    so that the rest of the letter is still checked."""

    __slots__ = ()

    def _message(self) -> str:
        if self._undefined_hint is None:
            plain = undefined_message(self._undefined_obj, self._undefined_name,
                                      _CONTEXT.get() or {})
            if plain:
                return plain
        return self._undefined_message

    def _fail_with_undefined_error(self, *args: Any, **kwargs: Any) -> Any:
        problems = _PROBLEMS.get()
        if problems is None or self._undefined_exception is not jinja2.UndefinedError:
            raise self._undefined_exception(self._message())
        template, line = _where_in_template()
        problems.append(TemplateError(self._message(), template=template, line=line,
                                      kind="undefined"))
        return None

    def __str__(self) -> str:  # type: ignore[override]
        self._fail_with_undefined_error()
        return ""

    def __iter__(self) -> Any:
        self._fail_with_undefined_error()
        return iter(())

    def __bool__(self) -> bool:  # type: ignore[override]
        self._fail_with_undefined_error()
        return False

    def __len__(self) -> int:  # type: ignore[override]
        self._fail_with_undefined_error()
        return 0

    def __getattr__(self, name: str) -> Any:
        if name[:2] == "__" and name[-2:] == "__":
            raise AttributeError(name)
        self._fail_with_undefined_error()
        return self


class PlaceholderError(ValueError):
    """A translation names a placeholder its sentence does not have (or a bad ``%``)."""


def _gettext(locale: str, translations_: Any) -> Callable[..., Any]:
    """The templates' ``_()``: the catalog's text with its placeholders filled, as Jinja's
    new-style gettext does, with problems in an author's words. In a check, a sentence no
    catalog translates is recorded and printed in English so that the letter is still checked."""

    @jinja2.pass_context
    def gettext(context: Any, message: str, **variables: Any) -> Any:
        try:
            text = translations_.gettext(message)
        except MissingTranslationError as exc:
            problems = _PROBLEMS.get()
            if problems is None:
                raise
            template, line = _where_in_template()
            problems.append(TemplateError(str(exc), template=template, line=line))
            text = message
        text = Markup(text) if context.eval_ctx.autoescape else text
        try:
            return text % variables
        except KeyError as exc:
            has = ", ".join(f"%({v})s" for v in sorted(variables)) or "none"
            raise PlaceholderError(
                f"the {locale} translation of “{message[:60]}” uses the placeholder "
                f"%({exc.args[0]})s, which this sentence does not have (its placeholders: "
                f"{has}); correct the translation (msgstr) in the {locale} catalog"
            ) from None
        except (ValueError, TypeError) as exc:
            raise PlaceholderError(
                f"the {locale} translation of “{message[:60]}” has a stray % sign ({exc}); "
                "write a literal percent sign as %% in the translation (msgstr)") from None

    return gettext


def filters_for(locale: str) -> dict[str, Callable[..., Any]]:
    """Every filter a template may use, bound to ``locale`` (the letter's, never the
    operator's): the formatting of :mod:`dunning.locale` and the HTML/CSS helpers here. The
    one place filters are defined (docs/authoring.md lists them with examples)."""
    return {**locale_filters(locale), "css_string": css_string,
            "css_page_counter": css_page_counter, "nobr": nobr}


@lru_cache(maxsize=16)
def environment(templates_dir: Path, locales_dir: Path, locale: str) -> jinja2.Environment:
    """The sandboxed environment for one letter locale, with its catalog and filters."""
    env = _Sandbox(
        loader=_ConfinedLoader(str(templates_dir)),
        autoescape=True,
        undefined=_Undefined,
        extensions=["jinja2.ext.i18n"],
        auto_reload=False,
        trim_blocks=False,
    )
    catalog = translations(locales_dir, locale)
    env.install_gettext_translations(catalog, newstyle=True)  # type: ignore[attr-defined]
    env.globals["gettext"] = _gettext(locale, catalog)
    env.filters.update(filters_for(locale))
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


def verification(reference: str, brand: Brand) -> dict[str, Any] | None:
    """The letter's verification code and where its QR code goes (an attribute for the
    element that prints the code, in whose top padding the renderer paints the QR code),
    when its brand prints one (:mod:`dunning.vcode`)."""
    from .vcode import code_for, qr_attribute

    code = code_for(reference, brand)
    return None if code is None else {"code": code, "qr": Markup(qr_attribute(code))}


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
            "verification": verification(letter_reference(record.contract_no, as_of), brand),
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


def syntax_message(message: str) -> str:
    """A Jinja syntax error's message in an author's words."""
    return (f"the template does not follow Jinja's syntax here: {message} (every {{{{ needs "
            "its }}, every {% if %} / {% for %} its {% endif %} / {% endfor %})")


def render_html(
    context: dict[str, Any], *, templates_dir: Path, locales_dir: Path, template: str,
    problems: list[TemplateError] | None = None,
) -> str:
    """Render the letter template with ``context``; template problems raise TemplateError
    naming the template file and line, in an author's words.

    With ``problems`` (a check, never a batch letter), undefined names and untranslated
    sentences are appended to it instead of stopping the letter, so that one letter shows
    all its problems and its wording is still checked."""
    env = environment(templates_dir, locales_dir, context["letter"]["locale"])
    collecting = _PROBLEMS.set(problems)
    showing = _CONTEXT.set(context)
    try:
        title = env.get_template("letter/titles.html").render(stage=context["letter"]["stage"])
        return env.get_template(template).render({**context, "title": title.strip()})
    except jinja2.TemplateError as exc:
        name, line = _template_location(exc, templates_dir)
        message = _redact(exc.message or type(exc).__name__, context)
        kind: TemplateKind = ("undefined" if isinstance(exc, jinja2.UndefinedError) else
                              "syntax" if isinstance(exc, jinja2.TemplateSyntaxError) else
                              "template")
        if kind == "syntax":
            message = syntax_message(message)
        raise TemplateError(message, template=name, line=line, kind=kind) from exc
    except (MissingTranslationError, PlaceholderError) as exc:
        name, line = _template_location(exc, templates_dir)
        raise TemplateError(_redact(str(exc), context), template=name, line=line) from exc
    except (TypeError, ValueError, AttributeError, KeyError, ArithmeticError) as exc:
        name, line = _template_location(exc, templates_dir)
        message = _redact(f"{type(exc).__name__}: {exc}", context)
        raise TemplateError(message, template=name, line=line) from exc
    finally:
        _PROBLEMS.reset(collecting)
        _CONTEXT.reset(showing)


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
