"""One typed, frozen settings object shared by the library and the CLI.

``Settings.discover()`` finds the project folder (templates/, config/, locales/) and reads the
optional ``config/settings.yaml``; every field has a documented default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, StrictBool, StrictInt, StrictStr

from .errors import ConfigError, InputError
from .yamlconf import config_error, load_yaml_file, validate_model

#: Letters a worker process renders before a fresh process replaces it (bounds its memory).
RECYCLE_AFTER = 1000
#: Seconds one letter may take before it fails (a normal letter takes well under a second;
#: the slow font path about 12 s).
LETTER_TIMEOUT = 120.0

#: The as-of dates a letter may speak from: its own dates run a year and more past the as-of
#: date (installment schedules, deadlines), and Python's calendar ends in 9999.
AS_OF_RANGE = (date(2000, 1, 1), date(2999, 12, 31))


def check_as_of(as_of: date) -> date:
    """``as_of`` when letters can be dated from it, else InputError saying the range."""
    first, last = AS_OF_RANGE
    if not first <= as_of <= last:
        raise InputError(f"as-of date {as_of.isoformat()} is outside the dates letters can "
                         f"speak from ({first.isoformat()} to {last.isoformat()})")
    return as_of


#: The currencies letters are made in unless ``settings.yaml`` says otherwise (``currencies:``
#: code → minor units), each with its minor units: the decimals an amount may have, the
#: rounding of every itemized line, and how the amount is written in words (0: whole units;
#: 2: 角/分, "NN/100"; 3: 角/分/厘, "NNN/1000"). A record in another currency is rejected.
DEFAULT_CURRENCIES: dict[str, int] = {"CNY": 2, "HKD": 2, "TWD": 2, "USD": 2, "GBP": 2,
                                      "JPY": 0}
#: The minor units a letter can print.
MINOR_UNITS = (0, 2, 3)


def currency_problem(code: str, units: int) -> str | None:
    """Why ``code`` with ``units`` decimals cannot be a currency of letters, or None.

    >>> currency_problem("BHD", 3) is None
    True
    >>> currency_problem("XAU", 2)
    'XAU is not a currency of payment (ISO 4217 X-codes are metals, funds and tests)'
    >>> currency_problem("KWD", 2)
    'KWD has 3 decimals in ISO 4217, not 2'
    """
    from babel.numbers import get_currency_precision, is_currency

    if not (len(code) == 3 and code.isascii() and code.isalpha() and code.isupper()):
        return f"{code!r} is not an ISO 4217 code like CNY"
    if code.startswith("X"):
        return (f"{code} is not a currency of payment (ISO 4217 X-codes are metals, funds "
                "and tests)")
    if not is_currency(code):
        return f"{code} is not an ISO 4217 currency"
    if units not in MINOR_UNITS:
        return f"{code}: {units} decimals; letters print amounts with 0, 2 or 3"
    if get_currency_precision(code) != units:
        return (f"{code} has {get_currency_precision(code)} decimals in ISO 4217, not "
                f"{units}")
    return None


#: Locales with a catalog, fonts and formats. A record asking for another locale is rejected.
SUPPORTED_LOCALES: tuple[str, ...] = ("zh_CN", "zh_TW", "zh_HK", "en_US", "en_GB")

#: Where a letter's text comes from when its own locale has none, after the locale itself and
#: in this order: first for gettext catalogs (``locales/<key>/``), then for brand texts in
#: ``config/brands.yaml`` (``{zh_Hant: ..., en: ...}``). A chain never crosses a script or a
#: language: zh_HK borrows Taiwan's Traditional wording, never zh_CN's Simplified; a bare
#: ``zh`` key is Simplified (as CLDR's likely subtags say) and serves zh_CN only. Past the end
#: of the chain an English letter uses the templates' English source text and a Chinese one
#: fails. See docs/locales.md.
LOCALE_FALLBACKS: dict[str, tuple[str, ...]] = {
    "zh_CN": ("zh_Hans", "zh"),
    "zh_TW": ("zh_Hant",),
    "zh_HK": ("zh_TW", "zh_Hant"),
    "en_US": ("en",),
    "en_GB": ("en",),
}

#: Fonts per locale: every family the locale's font stacks in ``templates/assets/letter.css``
#: (``html:lang(...)`` rules) name, body face first. Glyph coverage is checked against their
#: union, so a character that none covers fails the letter instead of printing an empty box.
#: Chinese letters use the glyph forms of their region (SC, TC, HK); English letters a Latin
#: face, then Noto CJK SC for names and addresses written in Chinese.
DEFAULT_FONTS: dict[str, tuple[str, ...]] = {
    "zh_CN": ("Noto Serif CJK SC", "Noto Sans CJK SC"),
    "zh_TW": ("Noto Serif CJK TC", "Noto Sans CJK TC"),
    "zh_HK": ("Noto Serif CJK HK", "Noto Sans CJK HK"),
    "en_US": ("Noto Serif", "Noto Sans", "Noto Serif CJK SC", "Noto Sans CJK SC"),
    "en_GB": ("Noto Serif", "Noto Sans", "Noto Serif CJK SC", "Noto Sans CJK SC"),
}


def fallback_chain(locale: str) -> tuple[str, ...]:
    """The locale, then the keys its text may come from (:data:`LOCALE_FALLBACKS`).

    >>> fallback_chain("zh_HK")
    ('zh_HK', 'zh_TW', 'zh_Hant')
    >>> fallback_chain("fr_FR")
    ('fr_FR', 'fr')
    """
    language = locale.split("_")[0]
    return (locale, *LOCALE_FALLBACKS.get(locale, (language,) if language != locale else ()))


class _SettingsFile(BaseModel):
    """The keys ``config/settings.yaml`` may set, strictly typed."""

    model_config = ConfigDict(extra="forbid", strict=True)
    timezone: StrictStr = "Asia/Shanghai"
    default_locale: StrictStr = "zh_CN"
    letter_template: StrictStr = "letter/letter.html"
    allow_slow_subsetting: StrictBool = False
    pdf_archive: StrictBool = True
    currencies: dict[StrictStr, StrictInt] | None = None


@dataclass(frozen=True)
class Settings:
    """Where things are and the run-wide defaults.

    ``root``: the project folder; ``templates_dir``, ``config_dir`` and ``locales_dir`` default
    to ``templates/``, ``config/`` and ``locales/`` under it. ``timezone`` decides what "today"
    is when no as-of date is given. ``default_locale`` applies when neither the record nor its
    brand names one. ``letter_template`` is the entry template under ``templates_dir``.
    ``allow_slow_subsetting``: render even when HarfBuzz subsetting is missing (about 60x slower
    for CJK letters); off by default so that the slow path is never taken by accident.
    ``pdf_archive``: letters are PDF/A-3a with their record data attached as
    ``letter-data.json`` and dates fixed from the as-of date, so the same input gives the same
    bytes (:mod:`dunning.archive`); off, they are plain PDF without attachment or dates.
    """

    root: Path
    templates_dir: Path
    config_dir: Path
    locales_dir: Path
    timezone: str = "Asia/Shanghai"
    default_locale: str = "zh_CN"
    letter_template: str = "letter/letter.html"
    fonts: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_FONTS))
    allow_slow_subsetting: bool = False
    pdf_archive: bool = True
    currencies: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_CURRENCIES))

    @property
    def brands_file(self) -> Path:
        return self.config_dir / "brands.yaml"

    @property
    def policy_file(self) -> Path:
        return self.config_dir / "policy.yaml"

    @property
    def output_dir(self) -> Path:
        """``output/`` of the project: the per-date run folders and their shared ledger."""
        return self.root / "output"

    def run_folder(self, as_of: date) -> Path:
        """The default folder of the run for ``as_of``: ``output/<YYYY-MM-DD>/``."""
        return self.output_dir / as_of.isoformat()

    def ledger_folder(self, out_dir: Path | None = None) -> Path:
        """Where the default (SQLite) ledger is: in the output folder a run was given, else
        in ``output/``, shared by the default per-date folders. A folder given that is one of
        those (``--out output/2026-11-20``) is the default too: every command then finds the
        same ledger, however the run's folder was spelled."""
        if out_dir is None or self._is_run_folder(out_dir):
            return self.output_dir
        return out_dir

    def _is_run_folder(self, folder: Path) -> bool:
        """Whether ``folder`` is a default run folder, ``output/<YYYY-MM-DD>``."""
        try:
            date.fromisoformat(folder.name)
            return (len(folder.name) == 10
                    and folder.parent.resolve() == self.output_dir.resolve())
        except (ValueError, OSError):
            return False

    @property
    def assets_dir(self) -> Path:
        """The only folder WeasyPrint may read from while rendering."""
        return self.templates_dir / "assets"

    @property
    def tz(self) -> ZoneInfo:
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(
                f"unknown time zone {self.timezone!r}; expected an IANA name like Asia/Shanghai",
                key="timezone",
            ) from exc

    def today(self) -> date:
        """Today in the configured time zone (not the machine's): the default as-of date."""
        return datetime.now(self.tz).date()

    def with_changes(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    @classmethod
    def at(cls, root: Path | str) -> Settings:
        """Settings for the project folder ``root``, with ``config/settings.yaml`` applied."""
        root = Path(root).resolve()
        settings = cls(
            root=root,
            templates_dir=root / "templates",
            config_dir=root / "config",
            locales_dir=root / "locales",
        )
        overrides_file = settings.config_dir / "settings.yaml"
        if overrides_file.exists():
            data = load_yaml_file(overrides_file) or {}
            checked = validate_model(_SettingsFile, data, path=str(overrides_file))
            settings = replace(settings, **checked.model_dump(exclude_unset=True))
        for code, units in settings.currencies.items():
            problem = currency_problem(code, units)
            if problem:
                raise config_error(ConfigError, problem, path=str(overrides_file),
                                   key=f"currencies.{code}")
        try:
            settings.tz  # noqa: B018 - validate the time zone early
        except ConfigError as exc:
            raise config_error(ConfigError, exc.message, path=str(overrides_file),
                               key=exc.key) from exc
        return settings

    @classmethod
    def find(cls, home: Path | str | None = None) -> Settings:
        """The settings of the project folder ``home`` when given, else :meth:`discover`."""
        return cls.at(home) if home else cls.discover()

    @classmethod
    def discover(cls, start: Path | str | None = None) -> Settings:
        """Find the project folder: ``$DUNNING_HOME``, else the nearest folder upward from
        ``start`` (default: the current folder) that holds ``templates/`` and ``config/``,
        else the source checkout this package is installed from."""
        env = os.environ.get("DUNNING_HOME")
        if env:
            return cls.at(env)
        here = Path(start or Path.cwd()).resolve()
        for folder in (here, *here.parents):
            if (folder / "templates").is_dir() and (folder / "config").is_dir():
                return cls.at(folder)
        checkout = Path(__file__).resolve().parents[2]
        if (checkout / "templates").is_dir():
            return cls.at(checkout)
        raise ConfigError(
            "cannot find the project folder (one with templates/ and config/); "
            "run from inside it or set DUNNING_HOME"
        )
