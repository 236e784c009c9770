"""Tests for dunning.policy: stages by days past due, brand overrides, suppression, and the
validation of policy files."""

from __future__ import annotations

import copy
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from dunning.errors import ConfigError, PolicyError
from dunning.policy import (
    STAGES,
    BrandPolicy,
    Policy,
    Suppression,
    load_policy,
    suppression_for,
)

from .helpers import ROOT

POLICY_FILE = ROOT / "config" / "policy.yaml"
BRAND_KEYS = ["mingtai", "jinqiao", "lungmun", "risheng"]
AS_OF = date(2026, 11, 20)

#: A small complete policy; rates are strings so that safe_dump writes them quoted.
MINIMAL: dict[str, Any] = {
    "defaults": {
        "stages": {
            "reminder": {"min_dpd": 1, "max_dpd": 30},
            "formal": {"min_dpd": 31, "max_dpd": 90},
            "final": {"min_dpd": 91},
        },
        "options": {
            "reminder": ["pay_in_full"],
            "formal": ["pay_in_full", "settlement", "installments"],
            "final": ["pay_in_full", "settlement"],
        },
        "installments": [{"months": 3, "monthly_rate": "0.005"}],
    },
}


def write_policy(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def changed(**defaults: Any) -> dict[str, Any]:
    """MINIMAL with some keys of ``defaults`` replaced (None removes the key)."""
    data = copy.deepcopy(MINIMAL)
    for key, value in defaults.items():
        if value is None:
            del data["defaults"][key]
        else:
            data["defaults"][key] = value
    return data


def stages(
    reminder: dict[str, int], formal: dict[str, int], final: dict[str, int]
) -> dict[str, Any]:
    return {"reminder": reminder, "formal": formal, "final": final}


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(POLICY_FILE, BRAND_KEYS)


@pytest.fixture(scope="module")
def default(policy: Policy) -> BrandPolicy:
    return policy.defaults


# --- the project's policy file ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("dpd", "stage"),
    [(-30, None), (-1, None), (0, None), (1, "reminder"), (2, "reminder"), (30, "reminder"),
     (31, "formal"), (90, "formal"), (91, "final"), (365, "final"), (10000, "final")],
)
def test_stage_for_default_bands(default: BrandPolicy, dpd: int, stage: str | None) -> None:
    assert default.stage_for(dpd) == stage


@pytest.mark.parametrize("brand", BRAND_KEYS)
def test_every_brand_gets_the_default_stages(policy: Policy, brand: str) -> None:
    brand_policy = policy.for_brand(brand)
    assert [brand_policy.stage_for(d) for d in (0, 1, 30, 31, 90, 91)] == [
        None, "reminder", "reminder", "formal", "formal", "final",
    ]


def test_default_policy_values(default: BrandPolicy) -> None:
    assert default.max_annual_rate == Decimal("0.24")
    assert type(default.max_annual_rate) is Decimal
    assert default.max_daily_rate == Decimal("0.24") / 365
    assert default.min_notice_interval_days == 7
    assert default.options_for("reminder") == ["pay_in_full"]
    assert default.options_for("formal") == ["pay_in_full", "settlement", "installments",
                                             "extension"]
    assert [plan.months for plan in default.installments] == [3, 6, 12]
    assert all(type(plan.monthly_rate) is Decimal for plan in default.installments)


def test_jinqiao_override_merges_over_defaults(policy: Policy, default: BrandPolicy) -> None:
    jinqiao = policy.for_brand("jinqiao")
    assert jinqiao.max_annual_rate == Decimal("0.20")
    assert type(jinqiao.max_annual_rate) is Decimal
    assert jinqiao.stages == default.stages
    assert jinqiao.settlement_days == 20
    assert jinqiao.min_notice_interval_days == default.min_notice_interval_days
    # options merge key by key: the reminder list is replaced, the others are the defaults'
    assert jinqiao.options_for("reminder") == ["pay_in_full", "extension"]
    assert jinqiao.options_for("formal") == default.options_for("formal")
    assert jinqiao.options_for("final") == default.options_for("final")
    # a list is replaced whole, not merged item by item
    assert [(p.months, p.monthly_rate, p.method) for p in jinqiao.installments] == [
        (6, Decimal("0.0075"), "equal_installment"),
        (12, Decimal("0.009"), "equal_principal"),
    ]
    assert jinqiao.extension == default.extension


def test_brand_without_override_gets_the_defaults(policy: Policy, default: BrandPolicy) -> None:
    assert policy.for_brand("mingtai") is default
    assert policy.for_brand("no-such-brand") is default


def test_options_for_returns_a_copy(default: BrandPolicy) -> None:
    options = default.options_for("reminder")
    options.append("settlement")
    assert default.options_for("reminder") == ["pay_in_full"]


# --- suppression -----------------------------------------------------------------------------


def suppress(policy: BrandPolicy, **changes: Any) -> Suppression | None:
    """suppression_for an ordinary overdue account, with ``changes`` applied."""
    args: dict[str, Any] = {
        "dpd": 10, "total": Decimal("1000.00"), "flags": {}, "last_notice": None,
        "as_of": AS_OF, "policy": policy,
    }
    return suppression_for(**{**args, **changes})


ORDER = ["not_overdue", "deceased", "bankrupt", "disputed", "cease_contact", "nothing_owed",
         "recent_notice"]


def conditions(code: str) -> dict[str, Any]:
    """The arguments that trigger suppression ``code`` on its own."""
    return {
        "not_overdue": {"dpd": 0},
        "deceased": {"flags": {"deceased": True}},
        "bankrupt": {"flags": {"bankrupt": True}},
        "disputed": {"flags": {"disputed": True}},
        "cease_contact": {"flags": {"cease_contact": True}},
        "nothing_owed": {"total": Decimal("0.00")},
        "recent_notice": {"last_notice": AS_OF - timedelta(days=3)},
    }[code]


def test_ordinary_overdue_account_is_not_suppressed(default: BrandPolicy) -> None:
    assert suppress(default) is None
    assert suppress(default, flags=dict.fromkeys(("deceased", "bankrupt"), False)) is None


@pytest.mark.parametrize("code", ORDER)
def test_each_reason_on_its_own(default: BrandPolicy, code: str) -> None:
    found = suppress(default, **conditions(code))
    assert found is not None
    assert found.code == code
    assert found.detail
    assert str(found) == f"{code}: {found.detail}"


@pytest.mark.parametrize("first", range(len(ORDER)), ids=ORDER)
def test_first_matching_reason_wins(default: BrandPolicy, first: int) -> None:
    """Every reason from ``first`` on applies at once; the earliest one is reported."""
    args: dict[str, Any] = {"flags": {}}
    for code in ORDER[first:]:
        for key, value in conditions(code).items():
            if key == "flags":
                args["flags"] = {**args["flags"], **value}
            else:
                args[key] = value
    found = suppress(default, **args)
    assert found is not None
    assert found.code == ORDER[first]


@pytest.mark.parametrize("dpd", [0, -1, -30])
def test_not_overdue(default: BrandPolicy, dpd: int) -> None:
    found = suppress(default, dpd=dpd, flags={"deceased": True})
    assert found is not None
    assert found.code == "not_overdue"
    assert str(dpd) in found.detail


@pytest.mark.parametrize("total", ["0", "0.00", "-0.01", "-184.79"])
def test_nothing_owed(default: BrandPolicy, total: str) -> None:
    found = suppress(default, total=Decimal(total))
    assert found is not None
    assert found.code == "nothing_owed"


def test_a_cent_owed_is_still_owed(default: BrandPolicy) -> None:
    assert suppress(default, total=Decimal("0.01")) is None


@pytest.mark.parametrize(
    ("days_ago", "code"),
    [(0, "recent_notice"), (1, "recent_notice"), (6, "recent_notice"), (7, None), (50, None)],
)
def test_recent_notice_interval(default: BrandPolicy, days_ago: int, code: str | None) -> None:
    found = suppress(default, last_notice=AS_OF - timedelta(days=days_ago))
    assert (found.code if found else None) == code
    if found:
        assert f"{days_ago} days ago" in found.detail
        assert "minimum interval 7 days" in found.detail


def test_recent_notice_uses_the_policy_interval(default: BrandPolicy) -> None:
    strict = default.model_copy(update={"min_notice_interval_days": 14})
    lax = default.model_copy(update={"min_notice_interval_days": 0})
    ten_days_ago = AS_OF - timedelta(days=10)
    found = suppress(strict, last_notice=ten_days_ago)
    assert found is not None
    assert found.code == "recent_notice"
    assert suppress(lax, last_notice=AS_OF) is None


# --- policy files ----------------------------------------------------------------------------


def test_minimal_policy_file_loads_with_defaults(tmp_path: Path) -> None:
    loaded = load_policy(write_policy(tmp_path, MINIMAL))
    assert loaded.brands == {}
    assert loaded.defaults.min_notice_interval_days == 7
    assert loaded.defaults.max_annual_rate == Decimal("0.24")
    assert loaded.defaults.extension is None
    assert loaded.path == tmp_path / "policy.yaml"


@pytest.mark.parametrize(
    ("bands", "message"),
    [
        pytest.param(stages({"min_dpd": 1, "max_dpd": 29}, {"min_dpd": 31, "max_dpd": 90},
                            {"min_dpd": 91}),
                     "stage formal starts at 31 days, expected 30", id="gap"),
        pytest.param(stages({"min_dpd": 1, "max_dpd": 31}, {"min_dpd": 31, "max_dpd": 90},
                            {"min_dpd": 91}),
                     "stage formal starts at 31 days, expected 32", id="overlap"),
        pytest.param(stages({"min_dpd": 2, "max_dpd": 30}, {"min_dpd": 31, "max_dpd": 90},
                            {"min_dpd": 91}),
                     "stage reminder starts at 2 days, expected 1", id="late-start"),
        pytest.param(stages({"min_dpd": 1}, {"min_dpd": 31, "max_dpd": 90}, {"min_dpd": 91}),
                     "stage reminder has no max_dpd; only final may be open", id="open-reminder"),
        pytest.param(stages({"min_dpd": 1, "max_dpd": 30}, {"min_dpd": 31}, {"min_dpd": 91}),
                     "stage formal has no max_dpd", id="open-formal"),
        pytest.param(stages({"min_dpd": 1, "max_dpd": 30}, {"min_dpd": 31, "max_dpd": 90},
                            {"min_dpd": 91, "max_dpd": 365}),
                     "stage final must be open-ended", id="closed-final"),
        pytest.param(stages({"min_dpd": 1, "max_dpd": 30}, {"min_dpd": 31, "max_dpd": 20},
                            {"min_dpd": 21}),
                     "max_dpd 20 < min_dpd 31", id="inverted"),
        pytest.param({"reminder": {"min_dpd": 1, "max_dpd": 30}, "final": {"min_dpd": 31}},
                     "stages formal missing", id="missing-stage"),
    ],
)
def test_bad_stage_bands(tmp_path: Path, bands: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyError, match=message) as info:
        load_policy(write_policy(tmp_path, changed(stages=bands)))
    assert info.value.path == str(tmp_path / "policy.yaml")
    assert info.value.key == "defaults"


@pytest.mark.parametrize(
    ("data", "key", "suggestion"),
    [
        pytest.param({"defautls": MINIMAL["defaults"]}, "defautls", "defaults", id="top-level"),
        pytest.param({**MINIMAL, "brand": {}}, "brand", "brands", id="brands-typo"),
        pytest.param(changed(max_anual_rate="0.2"), "defaults.max_anual_rate",
                     "max_annual_rate", id="defaults-key"),
        pytest.param(changed(stages={**MINIMAL["defaults"]["stages"],
                                     "final": {"min_dpd": 91, "max_dpdd": 5}}),
                     "defaults.stages.final.max_dpdd", "max_dpd", id="stage-key"),
        pytest.param(changed(installments=[{"months": 3, "monthly_rat": "0.005"}]),
                     "defaults.installments[0].monthly_rat", "monthly_rate", id="list-item-key"),
        pytest.param(changed(extension={"max_day": 30}), "defaults.extension.max_day",
                     "max_days", id="nested-model-key"),
        pytest.param({**MINIMAL, "brands": {"jinqiao": {"settlment_days": 20}}},
                     "brands.jinqiao.settlment_days", "settlement_days", id="override-key"),
    ],
)
def test_unknown_key_suggests_the_right_one(
    tmp_path: Path, data: dict[str, Any], key: str, suggestion: str
) -> None:
    with pytest.raises(PolicyError) as info:
        load_policy(write_policy(tmp_path, data), BRAND_KEYS)
    assert info.value.key == key
    assert key in str(info.value)
    assert f"did you mean {suggestion!r}?" in str(info.value)


def test_unknown_stage_name_is_rejected(tmp_path: Path) -> None:
    bands = {**MINIMAL["defaults"]["stages"], "warning": {"min_dpd": 1, "max_dpd": 5}}
    with pytest.raises(PolicyError) as info:
        load_policy(write_policy(tmp_path, changed(stages=bands)))
    assert info.value.key is not None
    assert info.value.key.startswith("defaults.stages")


def test_unknown_option_is_rejected(tmp_path: Path) -> None:
    options = {**MINIMAL["defaults"]["options"], "reminder": ["pay_in_full", "discount"]}
    with pytest.raises(PolicyError) as info:
        load_policy(write_policy(tmp_path, changed(options=options)))
    assert info.value.key == "defaults.options.reminder.1"


def test_installments_offered_without_plans(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"options\.formal offers installments but no plans"):
        load_policy(write_policy(tmp_path, changed(installments=[])))


def test_extension_offered_without_extension(tmp_path: Path) -> None:
    options = {**MINIMAL["defaults"]["options"], "final": ["pay_in_full", "extension"]}
    with pytest.raises(PolicyError, match=r"options\.final offers an extension but none"):
        load_policy(write_policy(tmp_path, changed(options=options)))


def test_float_rates_are_read_as_exact_decimals(tmp_path: Path) -> None:
    data = changed(
        max_annual_rate=0.24,
        installments=[{"months": 3, "monthly_rate": 0.005}],
        extension={"max_days": 30, "daily_rate": 0.0003},
    )
    path = write_policy(tmp_path, data)
    assert "max_annual_rate: 0.24\n" in path.read_text(encoding="utf-8")  # unquoted: a float
    loaded = load_policy(path).defaults
    assert type(loaded.max_annual_rate) is Decimal
    assert loaded.max_annual_rate == Decimal("0.24")
    assert loaded.max_annual_rate.as_tuple() == Decimal("0.24").as_tuple()
    assert type(loaded.installments[0].monthly_rate) is Decimal
    assert loaded.installments[0].monthly_rate == Decimal("0.005")
    assert loaded.extension is not None
    assert loaded.extension.daily_rate == Decimal("0.0003")
    assert type(loaded.extension.daily_rate) is Decimal


@pytest.mark.parametrize(
    ("key", "value"),
    [("max_annual_rate", "0"), ("max_annual_rate", "1.5"), ("min_notice_interval_days", -1),
     ("settlement_days", 0), ("installments", [{"months": 1, "monthly_rate": "0.01"}]),
     ("installments", [{"months": 3, "monthly_rate": "0.5"}])],
)
def test_out_of_range_values_are_rejected(tmp_path: Path, key: str, value: Any) -> None:
    with pytest.raises(PolicyError) as info:
        load_policy(write_policy(tmp_path, changed(**{key: value})))
    assert info.value.key is not None
    assert info.value.key.startswith(f"defaults.{key}")


@pytest.mark.parametrize(
    ("brand", "suggestion"), [("mingtia", "; did you mean 'mingtai'?"), ("yinhe", "")]
)
def test_override_for_a_brand_that_does_not_exist(
    tmp_path: Path, brand: str, suggestion: str
) -> None:
    data = {**MINIMAL, "brands": {brand: {"settlement_days": 20}}}
    with pytest.raises(PolicyError) as info:
        load_policy(write_policy(tmp_path, data), BRAND_KEYS)
    assert info.value.key == f"brands.{brand}"
    assert str(info.value).endswith(f"no brand {brand!r} in the brands file{suggestion}")


def test_override_is_checked_against_brands_only_when_given(tmp_path: Path) -> None:
    data = {**MINIMAL, "brands": {"yinhe": {"settlement_days": 20}}}
    loaded = load_policy(write_policy(tmp_path, data))
    assert loaded.for_brand("yinhe").settlement_days == 20


def test_nested_override_merges_stage_by_stage(tmp_path: Path) -> None:
    override = {"stages": {"reminder": {"max_dpd": 20}, "formal": {"min_dpd": 21}}}
    loaded = load_policy(write_policy(tmp_path, {**MINIMAL, "brands": {"jinqiao": override}}),
                         BRAND_KEYS)
    jinqiao = loaded.for_brand("jinqiao")
    assert [jinqiao.stage_for(d) for d in (20, 21, 90, 91)] == [
        "reminder", "formal", "formal", "final",
    ]
    assert loaded.defaults.stage_for(21) == "reminder"  # the defaults are untouched
    assert jinqiao.stages["formal"].max_dpd == 90


def test_override_that_breaks_the_bands_names_the_brand(tmp_path: Path) -> None:
    override = {"stages": {"reminder": {"max_dpd": 20}}}  # gap: formal still starts at 31
    with pytest.raises(PolicyError, match="stage formal starts at 31 days, expected 21") as info:
        load_policy(write_policy(tmp_path, {**MINIMAL, "brands": {"jinqiao": override}}),
                    BRAND_KEYS)
    assert info.value.key == "brands.jinqiao"


def test_missing_policy_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_policy(tmp_path / "nope.yaml")


def test_policy_file_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("- reminder\n- formal\n", encoding="utf-8")
    with pytest.raises(PolicyError):
        load_policy(path)


def test_stage_names_are_in_escalation_order() -> None:
    assert STAGES == ("reminder", "formal", "final")


def test_letter_already_sent_after_the_as_of_date_suppresses(default: BrandPolicy) -> None:
    found = suppress(default, last_notice=AS_OF + timedelta(days=3))
    assert found is not None
    assert found.code == "recent_notice"
    assert "after the as-of date" in found.detail


def test_empty_brands_section_is_allowed(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(MINIMAL) + "brands:\n", encoding="utf-8")
    assert load_policy(path, BRAND_KEYS).brands == {}


def test_product_layers_merge_in_order(tmp_path: Path) -> None:
    data = {
        **MINIMAL,
        "products": {"payday": {"max_annual_rate": "0.18", "dispute_days": 30}},
        "brands": {
            "jinqiao": {
                "max_annual_rate": "0.20", "settlement_days": 20,
                "products": {"payday": {"max_annual_rate": "0.15"}},
            },
        },
    }
    policy = load_policy(write_policy(tmp_path, data), BRAND_KEYS)
    assert policy.for_brand("mingtai", "payday").max_annual_rate == Decimal("0.18")
    assert policy.for_brand("mingtai", "payday").dispute_days == 30
    assert policy.for_brand("mingtai", "car").max_annual_rate == policy.defaults.max_annual_rate
    jq = policy.for_brand("jinqiao", "payday")
    assert jq.max_annual_rate == Decimal("0.15")  # brand's product override wins
    assert jq.settlement_days == 20  # brand layer kept
    assert jq.dispute_days == 30  # product layer kept
    assert policy.for_brand("jinqiao").max_annual_rate == Decimal("0.20")
    assert policy.for_brand("jinqiao", "other").max_annual_rate == Decimal("0.20")


def test_unknown_key_in_a_product_override_names_its_path(tmp_path: Path) -> None:
    data = {**MINIMAL, "brands": {"jinqiao": {"products": {"payday": {"max_anual_rate": "0.1"}}}}}
    with pytest.raises(PolicyError, match="did you mean 'max_annual_rate'") as info:
        load_policy(write_policy(tmp_path, data), BRAND_KEYS)
    assert info.value.key == "brands.jinqiao.products.payday.max_anual_rate"
