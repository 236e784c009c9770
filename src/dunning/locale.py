"""Locale-aware formatting for letters: money, dates, rates, amount in words; gettext catalogs.

Every function takes a ``locale`` and normalizes it first, as Babel's functions do. Templates
reach these through :func:`filters_for`, one dict of filters bound to the letter's locale.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_date as _format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal, get_currency_precision
from babel.support import Translations

from .errors import ConfigError
from .identity import mask_id, mask_phone
from .words import en_words, zh_capitals

CATALOG_DOMAIN = "messages"


def parse_locale(locale: str | Locale) -> Locale:
    """``zh_CN`` / ``zh-CN`` / Locale → Locale; unknown ones raise ConfigError.

    >>> str(parse_locale("zh-CN"))
    'zh_Hans_CN'
    """
    if isinstance(locale, Locale):
        return locale
    try:
        return Locale.parse(locale.replace("-", "_"))
    except (UnknownLocaleError, ValueError) as exc:
        raise ConfigError(f"unknown locale {locale!r}") from exc


def format_money(amount: Decimal, currency: str, locale: str | Locale) -> str:
    """Amount with currency sign, grouped, with the currency's decimals.

    >>> format_money(Decimal("12522"), "CNY", "zh_CN")
    '¥12,522.00'
    """
    if not isinstance(amount, Decimal):
        raise TypeError(f"money must be Decimal, not {type(amount).__name__}")
    return format_currency(amount, currency, locale=parse_locale(locale),
                           currency_digits=True)


def format_amount(amount: Decimal, currency: str, locale: str | Locale) -> str:
    """Grouped number with the currency's decimals, no sign (for table cells).

    >>> format_amount(Decimal("-1500"), "CNY", "zh_CN")
    '-1,500.00'
    """
    digits = get_currency_precision(currency)
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(amount, format=pattern, locale=parse_locale(locale))


def format_day(value: date, locale: str | Locale) -> str:
    """A date in the locale's long form.

    >>> format_day(date(2026, 11, 20), "zh_CN")
    '2026年11月20日'
    """
    return _format_date(value, format="long", locale=parse_locale(locale))


def format_rate(rate: Decimal, locale: str | Locale, decimals: int = 4) -> str:
    """A rate as a percentage, up to ``decimals`` decimals, trailing zeros dropped.

    >>> format_rate(Decimal("0.0005"), "zh_CN"), format_rate(Decimal("0.24") / 365, "zh_CN")
    ('0.05%', '0.0658%')
    """
    pattern = "#,##0." + "#" * decimals + "%"
    return format_decimal(rate * 100, format=pattern.rstrip("%"),
                          locale=parse_locale(locale)) + "%"


def amount_in_words(amount: Decimal, currency: str, locale: str | Locale) -> str:
    """The amount in words: financial capitals for Chinese, cheque wording for English.

    >>> amount_in_words(Decimal("12522.00"), "CNY", "zh_CN")
    '人民币壹万贰仟伍佰贰拾贰元整'
    """
    loc = parse_locale(locale)
    if loc.language == "zh":
        traditional = loc.script == "Hant" or (loc.territory in ("TW", "HK", "MO"))
        prefix = {"CNY": "人民币"}.get(currency, f"{currency} ")
        return prefix + zh_capitals(amount, traditional=traditional)
    return en_words(amount, minor_digits=get_currency_precision(currency)) + f" {currency}"


# --------------------------------------------------------------------------- catalogs


def catalog_files(locales_dir: Path, locale: str) -> tuple[Path, Path]:
    po = locales_dir / locale / "LC_MESSAGES" / f"{CATALOG_DOMAIN}.po"
    return po, po.with_suffix(".mo")


@lru_cache(maxsize=16)
def translations(locales_dir: Path, locale: str) -> Translations:
    """The compiled catalog for ``locale``. Never silently falls back to the source
    language: a locale without a catalog is a ConfigError. A ``.mo`` older than its ``.po``
    (or missing) is compiled from the ``.po`` in memory."""
    po, mo = catalog_files(locales_dir, locale)
    if mo.is_file() and (not po.is_file() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as handle:
            return Translations(fp=handle, domain=CATALOG_DOMAIN)
    if not po.is_file():
        raise ConfigError(f"no message catalog for locale {locale}", path=str(po))
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer, domain=CATALOG_DOMAIN)


def filters_for(locale: str) -> dict[str, Callable[..., Any]]:
    """The template filters, bound to ``locale`` (the letter's, never the operator's)."""
    loc = parse_locale(locale)
    return {
        "money": lambda amount, currency: format_money(amount, currency, loc),
        "amount": lambda amount, currency: format_amount(amount, currency, loc),
        "day": lambda value: format_day(value, loc),
        "rate": lambda rate, decimals=4: format_rate(rate, loc, decimals),
        "in_words": lambda amount, currency: amount_in_words(amount, currency, loc),
        "mask_id": mask_id,
        "mask_phone": mask_phone,
    }
