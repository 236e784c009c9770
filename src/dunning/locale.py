"""Locale-aware formatting for letters: money, dates, rates, amount in words; gettext catalogs.

Every function takes a ``locale`` and normalizes it first, as Babel's functions do. Templates
reach these through :func:`filters_for`, one dict of filters bound to the letter's locale.
Dates, numbers, percentages and currency signs are CLDR's, through Babel; the amount in words
follows the conventions in docs/locales.md. :func:`translations` gives a letter locale's
catalog chained to its fallbacks (``settings.LOCALE_FALLBACKS``); a message found in none of
them is an English letter's source text, and an error for any other letter.
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
from babel.numbers import (
    format_currency,
    format_decimal,
    get_currency_name,
    get_currency_precision,
)
from babel.support import NullTranslations, Translations

from .errors import ConfigError
from .identity import mask_id, mask_phone
from .settings import fallback_chain
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


#: The currency's name before Chinese capitals, per script (Babel's name otherwise).
#: Taiwan writes 新臺幣 (臺, as on its notes and in its laws), Hong Kong cheques 港幣.
ZH_CURRENCY_WORDS: dict[str, dict[str, str]] = {
    "Hans": {"CNY": "人民币", "HKD": "港币", "TWD": "新台币", "USD": "美元", "GBP": "英镑"},
    "Hant": {"CNY": "人民幣", "HKD": "港幣", "TWD": "新臺幣", "USD": "美元", "GBP": "英鎊"},
}
#: The word after the capitals of a whole amount (no jiao, no fen), by territory: 整, but 正
#: in Hong Kong, as its cheques write it.
ZH_WHOLE_WORD: dict[str, str] = {"HK": "正"}
#: English currency names (one, many) where Babel's display name is not the local usage.
EN_CURRENCY_WORDS: dict[tuple[str, str], tuple[str, str]] = {
    ("GB", "GBP"): ("pound sterling", "pounds sterling"),
}


def amount_in_words(amount: Decimal, currency: str, locale: str | Locale) -> str:
    """The amount in words, per the letter's locale (conventions: docs/locales.md).

    Chinese: the currency's name, then financial capitals in the locale's script with
    元/角/分, and 整 (Hong Kong: 正) after a whole amount. English: cheque wording, the
    currency's name after the integer words and the minor unit as a fraction; en_GB with the
    British "and".

    >>> amount_in_words(Decimal("12522.00"), "CNY", "zh_CN")
    '人民币壹万贰仟伍佰贰拾贰元整'
    >>> amount_in_words(Decimal("12522.00"), "TWD", "zh_TW")
    '新臺幣壹萬貳仟伍佰貳拾貳元整'
    >>> amount_in_words(Decimal("12522.30"), "HKD", "zh_HK")
    '港幣壹萬貳仟伍佰貳拾貳元參角'
    >>> amount_in_words(Decimal("12522"), "HKD", "zh_HK")
    '港幣壹萬貳仟伍佰貳拾貳元正'
    >>> amount_in_words(Decimal("2118.41"), "USD", "en_US")
    'two thousand one hundred eighteen US dollars and 41/100'
    >>> amount_in_words(Decimal("2118.41"), "GBP", "en_GB")
    'two thousand one hundred and eighteen pounds sterling and 41/100'
    >>> amount_in_words(Decimal("1.00"), "HKD", "en_GB")
    'one Hong Kong dollar and 00/100'
    """
    loc = parse_locale(locale)
    digits = get_currency_precision(currency)
    territory = loc.territory or ""
    if loc.language == "zh":
        traditional = loc.script == "Hant"
        names = ZH_CURRENCY_WORDS["Hant" if traditional else "Hans"]
        prefix = names.get(currency) or get_currency_name(currency, locale=loc)
        whole = ZH_WHOLE_WORD.get(territory, "整")
        return prefix + zh_capitals(amount, traditional=traditional, whole=whole,
                                    decimals=digits)
    if loc.language != "en":
        raise ConfigError(f"no amount-in-words convention for locale {loc}")
    one, many = EN_CURRENCY_WORDS.get((territory, currency), (
        get_currency_name(currency, count=1, locale=loc),
        get_currency_name(currency, count=2, locale=loc)))
    name = one if amount.to_integral_value(rounding="ROUND_FLOOR") == 1 else many
    return en_words(amount, currency_major=name, minor_digits=digits,
                    british=territory == "GB")


# --------------------------------------------------------------------------- catalogs


def catalog_files(locales_dir: Path, locale: str) -> tuple[Path, Path]:
    po = locales_dir / locale / "LC_MESSAGES" / f"{CATALOG_DOMAIN}.po"
    return po, po.with_suffix(".mo")


class MissingTranslationError(ValueError):
    """A letter needs a message that no catalog of its locale's fallback chain holds."""


class _NoText(NullTranslations):
    """The end of a non-English chain: refuse, rather than print the English source text
    in a Chinese letter."""

    def __init__(self, locale: str, chain: tuple[str, ...]) -> None:
        super().__init__()
        self.locale, self.chain = locale, chain

    def _refuse(self, message: str) -> str:
        raise MissingTranslationError(
            f"no {self.locale} text for {message[:60]!r} in the catalogs of "
            f"{', '.join(self.chain)}: translate it (make catalogs) rather than mix languages"
        )

    def gettext(self, message: str) -> str:
        return self._refuse(message)

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        return self._refuse(msgid1 if n == 1 else msgid2)

    def pgettext(self, context: str, message: str) -> str:
        return self._refuse(message)

    def npgettext(self, context: str, msgid1: str, msgid2: str, n: int) -> str:
        return self._refuse(msgid1 if n == 1 else msgid2)


def _load_catalog(locales_dir: Path, locale: str) -> Translations | None:
    """One locale's compiled catalog, or None when it has none. A ``.mo`` older than its
    ``.po`` (or missing) is compiled from the ``.po`` in memory."""
    po, mo = catalog_files(locales_dir, locale)
    if mo.is_file() and (not po.is_file() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as handle:
            return Translations(fp=handle, domain=CATALOG_DOMAIN)
    if not po.is_file():
        return None
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer, domain=CATALOG_DOMAIN)


@lru_cache(maxsize=16)
def translations(locales_dir: Path, locale: str) -> Translations:
    """The catalog for ``locale``, chained to those of its fallbacks that exist.

    The locale's own catalog is required (ConfigError without it). A message that no catalog
    of the chain holds comes out as the English source text in an English letter; in any
    other letter it raises :class:`MissingTranslationError`: languages are never mixed.
    """
    chain = fallback_chain(locale)
    own = _load_catalog(locales_dir, locale)
    if own is None:
        raise ConfigError(f"no message catalog for locale {locale}",
                          path=str(catalog_files(locales_dir, locale)[0]))
    for key in chain[1:]:
        fallback = _load_catalog(locales_dir, key)
        if fallback is not None:
            own.add_fallback(fallback)
    if parse_locale(locale).language != "en":
        own.add_fallback(_NoText(locale, chain))
    return own


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
