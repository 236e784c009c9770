"""The collection policy (YAML): stage by days past due, suppression, options per stage.

The file has ``defaults`` (a complete policy), optional ``products`` overrides (by the
record's ``product`` field, for any brand) and optional ``brands`` overrides, which may hold
their own ``products``. For a record of brand *b* and product *p* the layers are merged key by
key in this order: defaults ← products.*p* ← brands.*b* ← brands.*b*.products.*p*.
Validated on load; unknown keys fail with "did you mean …?".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .errors import PolicyError
from .yamlconf import config_error, did_you_mean, load_yaml_file, validate_model

Stage = Literal["reminder", "formal", "final"]
STAGES: tuple[Stage, ...] = ("reminder", "formal", "final")
Option = Literal["pay_in_full", "settlement", "installments", "extension"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StageBand(_Frozen):
    """Days past due covered by a stage; ``max_dpd`` empty means open-ended."""

    min_dpd: int = Field(ge=1)
    max_dpd: int | None = None


class InstallmentSpec(_Frozen):
    months: int = Field(ge=2, le=60)
    monthly_rate: Decimal = Field(ge=0, le=Decimal("0.05"))
    method: Literal["equal_installment", "equal_principal"] = "equal_installment"


class ExtensionSpec(_Frozen):
    """Defer payment up to ``max_days``; the cost is the penalty accruing over those days,
    at ``daily_rate`` if given, else at the letter's applied penalty rate."""

    max_days: int = Field(ge=1, le=180)
    daily_rate: Decimal | None = Field(default=None, ge=0)


class BrandPolicy(_Frozen):
    """The policy that applies to one brand (the defaults merged with its overrides)."""

    stages: dict[Stage, StageBand]
    min_notice_interval_days: int = Field(default=7, ge=0)
    max_annual_rate: Decimal = Field(default=Decimal("0.24"), gt=0, le=1)
    options: dict[Stage, list[Option]]
    settlement_days: int = Field(default=15, ge=1, le=365)
    pay_by_days: int = Field(default=10, ge=1, le=365)
    installments: list[InstallmentSpec] = []
    extension: ExtensionSpec | None = None
    credit_report_notice_days: int = Field(default=15, ge=1)
    dispute_days: int = Field(default=15, ge=1)
    min_installment_payment: Decimal = Field(default=Decimal(0), ge=0)
    schedule: Literal["none", "table", "annex"] = "none"

    @model_validator(mode="after")
    def _bands_cover_all_days(self) -> BrandPolicy:
        missing = [s for s in STAGES if s not in self.stages]
        if missing:
            raise ValueError(
                f"stages {', '.join(missing)} missing; all of {', '.join(STAGES)} needed"
            )
        expected = 1
        for name in STAGES:
            band = self.stages[name]
            if band.min_dpd != expected:
                raise ValueError(
                    f"stage {name} starts at {band.min_dpd} days, expected {expected} "
                    "(stages must follow each other without gaps or overlaps)"
                )
            if band.max_dpd is None:
                if name != STAGES[-1]:
                    raise ValueError(f"stage {name} has no max_dpd; only {STAGES[-1]} may be open")
                break
            if band.max_dpd < band.min_dpd:
                raise ValueError(f"stage {name}: max_dpd {band.max_dpd} < min_dpd {band.min_dpd}")
            expected = band.max_dpd + 1
        if self.stages[STAGES[-1]].max_dpd is not None:
            raise ValueError(f"stage {STAGES[-1]} must be open-ended (no max_dpd)")
        for stage, options in self.options.items():
            if "installments" in options and not self.installments:
                raise ValueError(f"options.{stage} offers installments but no plans are defined")
            if "extension" in options and self.extension is None:
                raise ValueError(f"options.{stage} offers an extension but none is defined")
        return self

    @property
    def max_daily_rate(self) -> Decimal:
        """The cap as a daily rate (exact Decimal division, not rounded)."""
        return self.max_annual_rate / 365

    def stage_for(self, dpd: int) -> Stage | None:
        """The stage for ``dpd`` days past due, or None when not overdue."""
        if dpd < 1:
            return None
        for name in STAGES:
            band = self.stages[name]
            if band.max_dpd is None or dpd <= band.max_dpd:
                return name
        return None  # unreachable: the last band is open-ended

    def options_for(self, stage: Stage) -> list[Option]:
        return list(self.options.get(stage, []))


class _PolicyFile(_Frozen):
    defaults: dict[str, Any]
    products: dict[str, dict[str, Any]] | None = None
    brands: dict[str, dict[str, Any]] | None = None


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


@dataclass(frozen=True)
class Policy:
    """Policies per brand and product; ``for_brand`` falls back to the defaults."""

    defaults: BrandPolicy
    brands: Mapping[str, BrandPolicy]
    path: Path
    products: Mapping[tuple[str | None, str], BrandPolicy] = field(default_factory=dict)

    def for_brand(self, brand: str, product: str | None = None) -> BrandPolicy:
        """The policy for ``brand`` (and ``product``, when the file has overrides for it)."""
        if product:
            found = self.products.get((brand, product)) or (
                None if brand in self.brands else self.products.get((None, product)))
            if found is not None:
                return found
        return self.brands.get(brand, self.defaults)


def load_policy(path: Path, brand_keys: list[str] | None = None) -> Policy:
    """Read and validate the policy file. ``brand_keys`` (if given) catches overrides for
    brands that do not exist."""
    raw = load_yaml_file(path)
    validate_model(_PolicyFile, raw, path=str(path), error=PolicyError)
    defaults = validate_model(
        BrandPolicy, raw["defaults"], path=str(path), where="defaults", error=PolicyError
    )
    layer_products: dict[str, Any] = raw.get("products") or {}

    def build(layers: list[tuple[str, Mapping[str, Any]]]) -> BrandPolicy:
        merged: dict[str, Any] = {}
        for _, layer in layers:
            merged = _merge(merged, layer)
        return validate_model(BrandPolicy, merged, path=str(path), where=layers[-1][0],
                              error=PolicyError)

    base = [("defaults", raw["defaults"])]
    products: dict[tuple[str | None, str], BrandPolicy] = {}
    for name, override in layer_products.items():
        products[(None, name)] = build([*base, (f"products.{name}", override)])
    brands: dict[str, BrandPolicy] = {}
    for key, override in (raw.get("brands") or {}).items():
        if brand_keys is not None and key not in brand_keys:
            raise config_error(
                PolicyError, f"no brand {key!r} in the brands file{did_you_mean(key, brand_keys)}",
                path=str(path), key=f"brands.{key}",
            )
        own_products = dict(override.get("products") or {}) if isinstance(override, Mapping) \
            else {}
        body = {k: v for k, v in override.items() if k != "products"} \
            if isinstance(override, Mapping) else override
        brands[key] = build([*base, (f"brands.{key}", body)])
        for name in {*layer_products, *own_products}:
            layers = [*base]
            if name in layer_products:
                layers.append((f"products.{name}", layer_products[name]))
            layers.append((f"brands.{key}", body))
            if name in own_products:
                layers.append((f"brands.{key}.products.{name}", own_products[name]))
            products[(key, name)] = build(layers)
    return Policy(defaults=defaults, brands=brands, path=path, products=products)


# --------------------------------------------------------------------------- suppression

SuppressionCode = Literal[
    "not_overdue", "deceased", "bankrupt", "disputed", "cease_contact", "nothing_owed",
    "recent_notice",
]


@dataclass(frozen=True, slots=True)
class Suppression:
    code: SuppressionCode
    detail: str

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}"


def suppression_for(
    *,
    dpd: int,
    total: Decimal,
    flags: Mapping[str, bool],
    last_notice: date | None,
    as_of: date,
    policy: BrandPolicy,
) -> Suppression | None:
    """Why no letter may be sent, or None. The first matching rule wins, in this order:
    not overdue, deceased, bankrupt, disputed, cease-contact, nothing owed, recent notice."""
    if dpd < 1:
        return Suppression("not_overdue", f"{dpd} days past due; letters start at 1")
    if flags.get("deceased"):
        return Suppression("deceased", "borrower deceased; the estate is handled separately")
    if flags.get("bankrupt"):
        return Suppression("bankrupt", "borrower in bankruptcy proceedings")
    if flags.get("disputed"):
        return Suppression("disputed", "debt disputed; collection paused until verified")
    if flags.get("cease_contact"):
        return Suppression("cease_contact", "cease-contact request or legal representation")
    if total <= 0:
        return Suppression("nothing_owed", "payments since the due date cover the debt")
    if last_notice is not None:
        days = (as_of - last_notice).days
        if days < 0:
            return Suppression(
                "recent_notice", f"a letter was already sent on {last_notice}, after the as-of date"
            )
        if days < policy.min_notice_interval_days:
            return Suppression(
                "recent_notice",
                f"last letter {days} days ago; minimum interval "
                f"{policy.min_notice_interval_days} days",
            )
    return None
