"""The brands file: each lender's (or product's) letterhead, contacts, texts per locale,
assets, envelope window and encryption, validated into frozen :class:`Brand` models.

Files are read with :mod:`dunning.yamlconf` (safe YAML, unknown keys refused with a "did you
mean …?", errors with file, line and key).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from .errors import ConfigError
from .settings import SUPPORTED_LOCALES, fallback_chain
from .yamlconf import config_error, did_you_mean, load_yaml_file, validate_model

# --------------------------------------------------------------------------- brands

def _localized_value(value: Any) -> Any:
    ok = isinstance(value, str) or (
        isinstance(value, Mapping) and value
        and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    )
    if not ok:
        raise ValueError(
            "expected text, or a mapping of locale to text like {zh_CN: ..., en: ...} "
            "(quote values that contain commas or colons)"
        )
    return value


Localized = Annotated[str | dict[str, str], BeforeValidator(_localized_value)]


def localized(value: str | dict[str, str], locale: str) -> str:
    """Pick the text of a brand value for ``locale``: the locale itself, then its fallback
    chain (:func:`dunning.settings.fallback_chain`), never a key of another script.

    >>> localized({"zh_CN": "明泰", "en": "Mingtai"}, "en_US")
    'Mingtai'
    >>> localized({"zh_CN": "明泰", "zh_Hant": "明泰（繁）"}, "zh_HK")
    '明泰（繁）'
    >>> localized("12378", "zh_CN")
    '12378'
    """
    if isinstance(value, str):
        return value
    chain = fallback_chain(locale)
    for key in chain:
        if key in value:
            return value[key]
    raise ConfigError(
        f"no text for locale {locale} (looked for {', '.join(chain)}); "
        f"has {', '.join(sorted(value))}"
    )


def text_keys() -> frozenset[str]:
    """The keys a per-locale brand text may use: supported locales and their fallbacks."""
    return frozenset(key for locale in SUPPORTED_LOCALES for key in fallback_chain(locale))


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


#: A time of day as HH:MM (00:00–23:59), for opening hours and the allowed contact window.
HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"


class Hours(_Frozen):
    """Service hours: ``days`` as text, ``open``/``close`` as HH:MM local time."""

    days: Localized
    open: str = Field(pattern=HHMM)
    close: str = Field(pattern=HHMM)


class IdMask(_Frozen):
    """How many characters of an ID number stay visible at each end."""

    keep_start: int = Field(default=3, ge=0, le=6)
    keep_end: int = Field(default=4, ge=0, le=4)


#: An environment variable's name, for secrets that never live in a file of the repository.
ENV_NAME = r"^[A-Z][A-Z0-9_]*$"


class Signing(_Frozen):
    """How the brand's letters are sealed with its digital signature (:mod:`dunning.sign`):
    ``pkcs12`` is the PKCS#12 file (``.p12``/``.pfx``) holding the signing key and its
    certificate chain, absolute or relative to the brands file's folder (keep it outside
    the repository); ``password_env`` the environment variable holding its password;
    ``trust_anchor`` the certificate (PEM or DER) of the CA that ``dunning verify``
    requires the signer's certificate to chain to, relative like ``pkcs12``."""

    pkcs12: str = Field(min_length=1)
    password_env: str = Field(pattern=ENV_NAME)
    trust_anchor: str = Field(min_length=1)


class Verification(_Frozen):
    """The verification code printed on each letter (:mod:`dunning.vcode`): the letter
    reference and a keyed MAC, whose per-brand secret is read from the environment variable
    ``secret_env`` (never from a file)."""

    secret_env: str = Field(pattern=ENV_NAME)


class Encryption(_Frozen):
    """How letters delivered electronically are encrypted (:mod:`dunning.protect`):
    ``password`` is the policy that gives each letter's password (``none``: not encrypted;
    ``id_last6``: the last six characters of the borrower's ID number). The owner password
    is read from the environment variable ``owner_password_env``, never from a file; unset,
    each letter gets a random one."""

    password: Literal["none", "id_last6"] = "none"
    owner_password_env: str = Field(default="DUNNING_PDF_OWNER_PASSWORD",
                                    pattern=ENV_NAME)


#: The letter's page margins (``@page`` in templates/assets/letter.css), which the window's
#: position on the sheet is converted against; tests/test_print.py checks they agree.
PAGE_MARGIN_TOP_MM = Decimal(18)
PAGE_MARGIN_LEFT_MM = Decimal(20)
#: Where the letterhead ends (the top margin plus its 20 mm): a window must start below it.
LETTERHEAD_BOTTOM_MM = Decimal(38)
#: Where an A4 sheet is first folded for a DL envelope (DIN 5008 form B): the window must
#: lie above it, in the panel that faces the envelope's window.
FOLD_MM = Decimal(105)


class Window(_Frozen):
    """The envelope window the addressee block must show through, in millimetres from the
    sheet's top-left corner. Default: a DL window envelope, DIN 5008 form B (20 mm from the
    left, 45 mm from the top, 85 × 45 mm). The window shows the sender's return line and the
    addressee, nothing else; the letter's title starts below it."""

    left: Decimal = Field(default=Decimal(20), ge=5, le=120)
    top: Decimal = Field(default=Decimal(45), ge=LETTERHEAD_BOTTOM_MM + 2, le=70)
    width: Decimal = Field(default=Decimal(85), ge=60, le=120)
    height: Decimal = Field(default=Decimal(45), ge=35, le=60)

    @model_validator(mode="after")
    def _on_the_sheet(self) -> Window:
        if self.left + self.width > 205:
            raise ValueError(f"left + width is {self.left + self.width} mm: the window "
                             "must end at most 205 mm from the left edge of an A4 sheet")
        if self.top + self.height > FOLD_MM:
            raise ValueError(f"top + height is {self.top + self.height} mm: the window must "
                             f"end above the DL fold at {FOLD_MM} mm")
        return self


class DisputeBody(_Frozen):
    """Where a borrower may take a complaint the lender did not settle (an ombudsman or
    dispute-resolution centre): its name and phone number."""

    name: Localized
    hotline: str


class RepaymentAccount(_Frozen):
    bank: Localized
    account_name: Localized
    account_number: str


class Brand(_Frozen):
    """A lender (or product) letterhead: who writes, how to reach them, how the letter looks.

    Text fields are plain text or per-locale mappings (:func:`localized`); every one must
    have a text for every supported locale. ``default_locale`` applies to records without a
    ``locale`` (unset: the configured default). The rights section names ``regulator`` and
    its ``regulator_hotline`` (through ``regulator_channel``, e.g. the financial consumer
    hotline, when set) and, when set, the ``dispute_body`` that handles unresolved complaints.
    ``window``: where the envelope window is (:class:`Window`; default DL, DIN 5008 form B).
    ``signing`` (:class:`Signing`) and ``verification`` (:class:`Verification`), both
    optional: the digital seal and the printed verification code (docs/trust.md).
    """

    key: str
    legal_name: Localized
    short_name: Localized
    default_locale: str | None = None
    currency: str = "CNY"
    hotline: str
    hotline_hours: Hours
    complaint_hotline: str
    website: str
    app_path: Localized
    email: str
    mailing_address: Localized
    postal_code: str = ""
    regulator: Localized
    regulator_hotline: str = "12378"
    regulator_channel: Localized | None = None
    dispute_body: DisputeBody | None = None
    credit_bureau: Localized
    department: Localized
    repayment_account: RepaymentAccount
    logo: str
    seal: str | None = None
    stylesheet: str
    id_mask: IdMask = IdMask()
    encryption: Encryption = Encryption()
    window: Window = Window()
    signing: Signing | None = None
    verification: Verification | None = None

    @field_validator("currency")
    @classmethod
    def _currency_code(cls, value: str) -> str:
        if len(value) != 3 or not value.isalpha() or not value.isupper():
            raise ValueError("currency must be an ISO 4217 code like CNY")
        return value


class _BrandsFile(_Frozen):
    brands: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Brands:
    """All configured brands by key."""

    by_key: Mapping[str, Brand]
    path: Path

    def __contains__(self, key: object) -> bool:
        return key in self.by_key

    def __getitem__(self, key: str) -> Brand:
        return self.by_key[key]

    def keys(self) -> list[str]:
        return list(self.by_key)


_ASSET_FIELDS = ("logo", "seal", "stylesheet")


def check_texts(model: BaseModel, locales: Iterable[str], *, path: str, where: str) -> None:
    """Every per-locale text of ``model`` (at any depth) has a text for each of ``locales``
    and uses only known locale keys; else ConfigError naming the key path."""
    known = text_keys()
    for name in type(model).model_fields:
        value, here = getattr(model, name), f"{where}.{name}"
        if isinstance(value, BaseModel):
            check_texts(value, locales, path=path, where=here)
        elif isinstance(value, Mapping):
            for key in value:
                if key not in known:
                    raise config_error(
                        ConfigError, f"unknown locale key {key!r}{did_you_mean(key, known)} "
                        f"(accepted: {', '.join(sorted(known))})", path=path, key=here,
                    )
            for locale in locales:
                try:
                    localized(dict(value), locale)
                except ConfigError as exc:
                    raise config_error(ConfigError, exc.message, path=path, key=here) from exc


def _resolved_signing(signing: Signing, path: Path, where: str) -> Signing:
    """``signing`` with its files as absolute paths (relative ones are taken from the brands
    file's folder); ConfigError when one is not a file."""
    files: dict[str, str] = {}
    for name in ("pkcs12", "trust_anchor"):
        target = (path.parent / getattr(signing, name)).resolve()
        if not target.is_file():
            raise config_error(ConfigError, f"{getattr(signing, name)!r} is not a file",
                               path=str(path), key=f"{where}.{name}")
        files[name] = str(target)
    return signing.model_copy(update=files)


def load_brands(path: Path, assets_dir: Path) -> Brands:
    """Read and validate the brands file; asset paths must exist under ``assets_dir``."""
    raw = load_yaml_file(path)
    validate_model(_BrandsFile, raw, path=str(path))
    brands: dict[str, Brand] = {}
    root = assets_dir.resolve()
    for key, body in raw["brands"].items():
        if not isinstance(body, Mapping):
            raise config_error(ConfigError, "expected a mapping", path=str(path),
                               key=f"brands.{key}")
        brand = validate_model(
            Brand, {"key": str(key), **body}, path=str(path), where=f"brands.{key}"
        )
        for name in _ASSET_FIELDS:
            rel = getattr(brand, name)
            if rel is None:
                continue
            target = (root / rel).resolve()
            if not target.is_relative_to(root) or not target.is_file():
                raise config_error(
                    ConfigError, f"{rel!r} is not a file under {assets_dir}",
                    path=str(path), key=f"brands.{key}.{name}",
                )
        check_texts(brand, SUPPORTED_LOCALES, path=str(path), where=f"brands.{key}")
        if brand.signing is not None:
            brand = brand.model_copy(update={"signing": _resolved_signing(
                brand.signing, path, f"brands.{key}.signing")})
        brands[str(key)] = brand
    if not brands:
        raise config_error(ConfigError, "no brands configured", path=str(path), key="brands")
    return Brands(by_key=brands, path=path)
