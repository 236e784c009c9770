"""Tests for dunning.config and dunning.settings: the brands file, localized values, the safe
YAML loader and the settings file."""

from __future__ import annotations

import copy
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from dunning.config import load_brands, localized
from dunning.errors import ConfigError, PolicyError
from dunning.letter import Dunning
from dunning.records import Record, read_records
from dunning.settings import Settings
from dunning.yamlconf import SafeDataLoader, did_you_mean, load_yaml_text

from .helpers import ROOT, SAMPLE_FILES

BRANDS_FILE = ROOT / "config" / "brands.yaml"
ASSETS = ROOT / "templates" / "assets"
#: The project's brands file as plain data (strings stay strings: every value is quoted
#: or is not a number there).
REAL_BRANDS: dict[str, Any] = yaml.safe_load(BRANDS_FILE.read_text(encoding="utf-8"))


def brands_data(**changes: Any) -> dict[str, Any]:
    """The real brands with some keys of ``mingtai`` changed (None removes the key)."""
    data = copy.deepcopy(REAL_BRANDS)
    for key, value in changes.items():
        if value is None:
            del data["brands"]["mingtai"][key]
        else:
            data["brands"]["mingtai"][key] = value
    return data


def write_brands(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "brands.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def write_settings(root: Path, text: str) -> Path:
    (root / "config").mkdir(parents=True, exist_ok=True)
    path = root / "config" / "settings.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# --- the real brands file ---------------------------------------------------------------------


def test_real_brands_load() -> None:
    brands = load_brands(BRANDS_FILE, ASSETS)
    assert brands.keys() == ["mingtai", "jinqiao", "lungmun", "risheng"]
    assert "mingtai" in brands
    assert "yinhe" not in brands
    mingtai, jinqiao = brands["mingtai"], brands["jinqiao"]
    assert mingtai.key == "mingtai"
    assert localized(mingtai.legal_name, "zh_CN") == "明泰消费金融有限公司"
    assert localized(jinqiao.legal_name, "en_US") == "Jinqiao Microcredit Co., Ltd."
    assert (mingtai.currency, mingtai.default_locale) == ("CNY", "zh_CN")
    assert (mingtai.hotline_hours.open, mingtai.hotline_hours.close) == ("09:00", "21:00")
    assert mingtai.postal_code == "200120"
    assert mingtai.seal == "brands/mingtai/seal.svg"
    assert jinqiao.seal is None
    assert (mingtai.id_mask.keep_start, mingtai.id_mask.keep_end) == (3, 4)
    assert jinqiao.regulator_hotline == "12378"
    assert brands.path == BRANDS_FILE


def test_real_brand_assets_exist_under_the_assets_folder() -> None:
    for brand in load_brands(BRANDS_FILE, ASSETS).by_key.values():
        for rel in (brand.logo, brand.stylesheet, brand.seal):
            if rel is not None:
                assert (ASSETS / rel).is_file()
                assert (ASSETS / rel).resolve().is_relative_to(ASSETS.resolve())


def test_round_tripped_brands_file_loads(tmp_path: Path) -> None:
    """The helper that writes modified brand files gives a loadable file when unchanged."""
    brands = load_brands(write_brands(tmp_path, brands_data()), ASSETS)
    assert brands.keys() == ["mingtai", "jinqiao", "lungmun", "risheng"]


# --- bad brands files -------------------------------------------------------------------------


def test_misspelt_key_suggests_the_right_one(tmp_path: Path) -> None:
    data = brands_data()
    body = data["brands"]["mingtai"]
    data["brands"]["mingtai"] = {("hotlne" if k == "hotline" else k): v for k, v in body.items()}
    path = write_brands(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        load_brands(path, ASSETS)
    assert info.value.key == "brands.mingtai.hotlne"
    assert info.value.path == str(path)
    assert "brands.mingtai.hotlne" in str(info.value)
    assert "did you mean 'hotline'?" in str(info.value)


@pytest.mark.parametrize(
    ("changes", "key", "suggestion"),
    [
        pytest.param({"id_mask": {"keep_strat": 3}}, "brands.mingtai.id_mask.keep_strat",
                     "keep_start", id="id_mask"),
        pytest.param({"hotline_hours": {"days": "每日", "open": "09:00", "clsoe": "21:00"}},
                     "brands.mingtai.hotline_hours.clsoe", "close", id="hours"),
        pytest.param({"repayment_account": {"bank": "b", "account_name": "n",
                                            "acount_number": "1"}},
                     "brands.mingtai.repayment_account.acount_number", "account_number",
                     id="account"),
    ],
)
def test_misspelt_nested_key(
    tmp_path: Path, changes: dict[str, Any], key: str, suggestion: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_brands(write_brands(tmp_path, brands_data(**changes)), ASSETS)
    assert info.value.key == key
    assert f"did you mean {suggestion!r}?" in str(info.value)


def test_misspelt_top_level_key(tmp_path: Path) -> None:
    path = write_brands(tmp_path, {"brand": REAL_BRANDS["brands"]})
    with pytest.raises(ConfigError, match=r"did you mean 'brands'\?") as info:
        load_brands(path, ASSETS)
    assert info.value.key == "brand"


@pytest.mark.parametrize("field", ["logo", "seal", "stylesheet"])
@pytest.mark.parametrize(
    "value",
    [
        pytest.param("../../etc/passwd", id="dotdot"),
        pytest.param("brands/../../../../../../etc/passwd", id="nested-dotdot"),
        pytest.param("/etc/passwd", id="absolute"),
        pytest.param("../letter.html", id="sibling"),
        pytest.param("brands/mingtai/missing.svg", id="missing"),
        pytest.param("brands/mingtai", id="folder"),
    ],
)
def test_asset_outside_the_assets_folder_or_missing(
    tmp_path: Path, field: str, value: str
) -> None:
    path = write_brands(tmp_path, brands_data(**{field: value}))
    with pytest.raises(ConfigError) as info:
        load_brands(path, ASSETS)
    assert info.value.key == f"brands.mingtai.{field}"
    assert f"{value!r} is not a file under {ASSETS}" in str(info.value)


def test_asset_escaping_through_a_symlink(tmp_path: Path) -> None:
    assets = tmp_path / "assets"
    shutil.copytree(ASSETS, assets)
    (assets / "brands" / "link.svg").symlink_to("/etc/passwd")
    path = write_brands(tmp_path, brands_data(logo="brands/link.svg"))
    with pytest.raises(ConfigError) as info:
        load_brands(path, assets)
    assert info.value.key == "brands.mingtai.logo"


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(["明泰消费金融有限公司", "Mingtai"], id="list"),
        pytest.param({"zh_CN": 42}, id="number-in-mapping"),
        pytest.param({"zh_CN": ["a", "b"]}, id="list-in-mapping"),
        pytest.param({}, id="empty-mapping"),
        pytest.param(42, id="number"),
    ],
)
def test_localized_value_of_the_wrong_shape(tmp_path: Path, value: Any) -> None:
    with pytest.raises(ConfigError) as info:
        load_brands(write_brands(tmp_path, brands_data(legal_name=value)), ASSETS)
    assert info.value.key == "brands.mingtai.legal_name"
    message = str(info.value)
    assert "expected text, or a mapping of locale to text" in message
    assert "quote values that contain commas or colons" in message


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        pytest.param({"currency": "cny"}, "brands.mingtai.currency", id="currency-case"),
        pytest.param({"currency": "YUAN"}, "brands.mingtai.currency", id="currency-length"),
        pytest.param({"hotline_hours": {"days": "每日", "open": "9:00", "close": "21:00"}},
                     "brands.mingtai.hotline_hours.open", id="hours-format"),
        pytest.param({"hotline_hours": {"days": "每日", "open": "09:00", "close": "24:00"}},
                     "brands.mingtai.hotline_hours.close", id="hours-range"),
        pytest.param({"id_mask": {"keep_start": 3, "keep_end": 8}},
                     "brands.mingtai.id_mask.keep_end", id="mask-shows-birth-date"),
        pytest.param({"hotline": None}, "brands.mingtai.hotline", id="required-missing"),
    ],
)
def test_invalid_brand_values(tmp_path: Path, changes: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_brands(write_brands(tmp_path, brands_data(**changes)), ASSETS)
    assert info.value.key == key


def test_brand_that_is_not_a_mapping(tmp_path: Path) -> None:
    data = brands_data()
    data["brands"]["mingtai"] = "明泰"
    with pytest.raises(ConfigError, match=r"valid dictionary|expected a mapping") as info:
        load_brands(write_brands(tmp_path, data), ASSETS)
    assert info.value.key == "brands.mingtai"


def test_no_brands(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no brands configured"):
        load_brands(write_brands(tmp_path, {"brands": {}}), ASSETS)


def test_missing_brands_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_brands(tmp_path / "brands.yaml", ASSETS)


def test_brands_file_with_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "brands.yaml"
    path.write_text("brands:\n  mingtai: {legal_name: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"brands\.yaml:\d+: invalid YAML"):
        load_brands(path, ASSETS)


# --- Dunning.load over a config folder -------------------------------------------------------


def config_folder(tmp_path: Path, brands: dict[str, Any]) -> Settings:
    """Settings for the project with its config folder replaced by ``tmp_path``."""
    write_brands(tmp_path, brands)
    shutil.copy(ROOT / "config" / "policy.yaml", tmp_path / "policy.yaml")
    return Settings.at(ROOT).with_changes(config_dir=tmp_path)


def test_dunning_load_rejects_an_unsupported_brand_locale(tmp_path: Path) -> None:
    settings = config_folder(tmp_path, brands_data(default_locale="fr_FR"))
    with pytest.raises(ConfigError, match="default_locale 'fr_FR' is not supported") as info:
        Dunning.load(settings)
    assert info.value.key == "brands.mingtai.default_locale"


def test_dunning_load_rejects_a_policy_override_for_a_missing_brand(tmp_path: Path) -> None:
    data = brands_data()
    del data["brands"]["jinqiao"]
    with pytest.raises(PolicyError) as info:
        Dunning.load(config_folder(tmp_path, data))
    assert info.value.key == "brands.jinqiao"


# --- localized() -----------------------------------------------------------------------------


VALUE = {"zh_CN": "明泰", "zh": "明泰（中文）", "en": "Mingtai", "en_GB": "Mingtai (UK)",
         "zh_Hant": "明泰（繁體）", "zh_TW": "明泰（臺灣）"}


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("zh_CN", "明泰"),  # exact locale
        ("en_GB", "Mingtai (UK)"),  # exact beats language
        ("en_US", "Mingtai"),  # language
        ("zh_TW", "明泰（臺灣）"),  # exact
        ("zh_HK", "明泰（臺灣）"),  # zh_HK → zh_TW
        ("en", "Mingtai"),
    ],
)
def test_localized_follows_the_fallback_chain(locale: str, expected: str) -> None:
    assert localized(VALUE, locale) == expected


@pytest.mark.parametrize(
    ("value", "locale", "expected"),
    [
        ({"zh_Hant": "明泰", "zh_CN": "明泰（简）"}, "zh_HK", "明泰"),
        ({"zh_Hant": "明泰", "zh_CN": "明泰（简）"}, "zh_TW", "明泰"),
        ({"zh_Hans": "明泰（简）", "zh_Hant": "明泰"}, "zh_CN", "明泰（简）"),
        ({"zh": "明泰（简）", "zh_Hant": "明泰"}, "zh_CN", "明泰（简）"),
        ({"zh_HK": "港", "zh_TW": "臺", "zh_Hant": "繁"}, "zh_HK", "港"),
    ],
)
def test_localized_keeps_to_the_script(
    value: dict[str, str], locale: str, expected: str
) -> None:
    assert localized(value, locale) == expected


@pytest.mark.parametrize("locale", ["zh_TW", "zh_HK"])
def test_localized_never_gives_simplified_text_to_a_traditional_letter(locale: str) -> None:
    with pytest.raises(ConfigError, match=f"no text for locale {locale}"):
        localized({"zh_CN": "明泰", "zh": "明泰", "zh_Hans": "明泰", "en": "Mingtai"}, locale)


def test_localized_never_gives_traditional_text_to_a_simplified_letter() -> None:
    with pytest.raises(ConfigError, match=r"looked for zh_CN, zh_Hans, zh\)"):
        localized({"zh_TW": "明泰", "zh_Hant": "明泰", "en": "Mingtai"}, "zh_CN")


def test_localized_plain_text_is_for_every_locale() -> None:
    assert localized("12378", "fr_FR") == "12378"


def test_localized_without_a_match_raises() -> None:
    with pytest.raises(ConfigError, match=r"no text for locale fr_FR .*; has en, zh_CN"):
        localized({"zh_CN": "明泰", "en": "Mingtai"}, "fr_FR")


def test_every_brand_text_must_cover_every_supported_locale(tmp_path: Path) -> None:
    data = brands_data(short_name={"zh_CN": "明泰", "en": "Mingtai"})
    with pytest.raises(ConfigError, match="no text for locale zh_TW") as info:
        load_brands(write_brands(tmp_path, data), ASSETS)
    assert info.value.key == "brands.mingtai.short_name"


def test_a_misspelt_locale_key_in_a_brand_text_is_refused(tmp_path: Path) -> None:
    data = brands_data(short_name={"zh_CN": "明泰", "zh_Hnat": "明泰", "en": "Mingtai"})
    with pytest.raises(ConfigError, match="unknown locale key 'zh_Hnat'; did you mean 'zh_Hant'"):
        load_brands(write_brands(tmp_path, data), ASSETS)


def test_nested_brand_texts_are_checked_too(tmp_path: Path) -> None:
    data = brands_data(hotline_hours={"days": {"zh_CN": "每日", "en": "daily"},
                                      "open": "09:00", "close": "21:00"})
    with pytest.raises(ConfigError, match="no text for locale zh_TW") as info:
        load_brands(write_brands(tmp_path, data), ASSETS)
    assert info.value.key == "brands.mingtai.hotline_hours.days"


def test_dunning_load_rejects_an_unsupported_default_locale_in_settings(tmp_path: Path) -> None:
    settings = config_folder(tmp_path, brands_data()).with_changes(default_locale="fr_FR")
    with pytest.raises(ConfigError, match="default_locale 'fr_FR' is not supported") as info:
        Dunning.load(settings)
    assert info.value.key == "default_locale"


def test_a_brand_without_default_locale_uses_the_configured_one(tmp_path: Path) -> None:
    settings = config_folder(tmp_path, brands_data(default_locale=None))
    dunning = Dunning.load(settings.with_changes(default_locale="en_GB"))
    assert dunning.brands["mingtai"].default_locale is None
    record = next(r for r in read_records([SAMPLE_FILES[0]], dunning.record_rules())
                  if isinstance(r, Record) and r.account_id == "MT-000004")
    assert dunning.locale_for(record) == "en_GB"


# --- the safe YAML loader ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0.24", Decimal("0.24")), ("0.1", Decimal("0.1")), ("-0.0005", Decimal("-0.0005")),
     ("1_000.50", Decimal("1000.50")), ("1.0e+3", Decimal("1.0e+3")), (".5", Decimal("0.5"))],
)
def test_safe_loader_reads_decimals_not_floats(text: str, expected: Decimal) -> None:
    value = yaml.load(f"rate: {text}\n", Loader=SafeDataLoader)["rate"]
    assert type(value) is Decimal
    assert value == expected


def test_safe_loader_keeps_the_written_digits() -> None:
    value = yaml.load("amount: 12000.00\n", Loader=SafeDataLoader)["amount"]
    assert str(value) == "12000.00"


def test_safe_loader_leaves_other_types_alone() -> None:
    data = yaml.load("a: 12\nb: true\nc: '0.24'\nd: 2026-11-20\n",
                     Loader=SafeDataLoader)
    assert data["a"] == 12
    assert type(data["a"]) is int
    assert data["b"] is True
    assert data["c"] == "0.24"
    assert str(data["d"]) == "2026-11-20"


@pytest.mark.parametrize("text", ["190:20:30.15", ".inf", "-.inf", ".nan"])
def test_safe_loader_refuses_numbers_that_are_not_plain_decimals(text: str) -> None:
    with pytest.raises(yaml.YAMLError, match="not a plain decimal"):
        yaml.load(f"x: {text}\n", Loader=SafeDataLoader)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("a: &x 1\nb: *x\n", id="scalar-alias"),
        pytest.param("base: &b {rate: 0.1}\nother:\n  <<: *b\n", id="merge-key"),
        pytest.param("a: &a [x, x, x]\nb: [*a, *a, *a]\nc: [*b, *b, *b]\n", id="bomb"),
    ],
)
def test_safe_loader_refuses_aliases(text: str) -> None:
    with pytest.raises(yaml.YAMLError, match="aliases"):
        yaml.load(text, Loader=SafeDataLoader)
    with pytest.raises(ConfigError, match=r"conf\.yaml:\d+: invalid YAML: aliases"):
        load_yaml_text(text, path="conf.yaml")


def test_safe_loader_refuses_python_objects() -> None:
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_yaml_text("x: !!python/object/apply:os.system ['true']\n", path="conf.yaml")


def test_did_you_mean() -> None:
    assert did_you_mean("hotlne", ["hotline", "email"]) == "; did you mean 'hotline'?"
    assert did_you_mean("xyz", ["hotline", "email"]) == ""


# --- settings --------------------------------------------------------------------------------


def test_settings_defaults_without_a_settings_file(tmp_path: Path) -> None:
    settings = Settings.at(tmp_path)
    assert settings.root == tmp_path.resolve()
    assert settings.config_dir == tmp_path.resolve() / "config"
    assert settings.assets_dir == tmp_path.resolve() / "templates" / "assets"
    assert (settings.timezone, settings.default_locale) == ("Asia/Shanghai", "zh_CN")
    assert settings.allow_slow_subsetting is False
    assert str(settings.tz) == "Asia/Shanghai"


def test_settings_file_overrides_are_applied(tmp_path: Path) -> None:
    write_settings(tmp_path, "timezone: Asia/Hong_Kong\nallow_slow_subsetting: true\n")
    settings = Settings.at(tmp_path)
    assert settings.timezone == "Asia/Hong_Kong"
    assert settings.allow_slow_subsetting is True


def test_empty_settings_file_is_allowed(tmp_path: Path) -> None:
    write_settings(tmp_path, "# nothing to change\n")
    assert Settings.at(tmp_path).timezone == "Asia/Shanghai"


@pytest.mark.parametrize(
    ("text", "suggestion"),
    [
        ("timezon: Asia/Shanghai\n", "timezone"),
        ("default_local: zh_CN\n", "default_locale"),
        ("allow_slow_subseting: false\n", "allow_slow_subsetting"),
    ],
)
def test_settings_unknown_key_suggests(tmp_path: Path, text: str, suggestion: str) -> None:
    path = write_settings(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        Settings.at(tmp_path)
    assert info.value.path == str(path)
    assert info.value.key == text.split(":")[0]
    assert f"did you mean {suggestion!r}?" in str(info.value)


def test_settings_unknown_key_without_a_near_miss_lists_the_keys(tmp_path: Path) -> None:
    write_settings(tmp_path, "fonts: {}\n")
    with pytest.raises(ConfigError, match="accepted keys: allow_slow_subsetting"):
        Settings.at(tmp_path)


def test_settings_file_that_is_not_a_mapping(tmp_path: Path) -> None:
    write_settings(tmp_path, "- timezone\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        Settings.at(tmp_path)


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "Asia/Shanghia", "../../etc/passwd"])
def test_settings_unknown_timezone(tmp_path: Path, zone: str) -> None:
    write_settings(tmp_path, f"timezone: {zone}\n")
    with pytest.raises(ConfigError, match="unknown time zone") as info:
        Settings.at(tmp_path)
    assert info.value.key == "timezone"


def test_settings_object_with_unknown_timezone() -> None:
    settings = Settings.at(ROOT).with_changes(timezone="Nowhere/Land")
    with pytest.raises(ConfigError, match="unknown time zone 'Nowhere/Land'"):
        _ = settings.tz


def test_settings_timezone_that_is_not_text(tmp_path: Path) -> None:
    write_settings(tmp_path, "timezone: 5\n")
    with pytest.raises(ConfigError):
        Settings.at(tmp_path)


def test_settings_boolean_that_is_text(tmp_path: Path) -> None:
    write_settings(tmp_path, 'allow_slow_subsetting: "no"\n')
    try:
        settings = Settings.at(tmp_path)
    except ConfigError:
        return  # rejecting it is fine too
    assert settings.allow_slow_subsetting is False
