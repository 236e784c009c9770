"""Letters in the borrower's language: one letter per locale, checked from the PDF's text and
fonts; formats per locale and currency; the fallback chain; no mixing of scripts."""

from __future__ import annotations

import re
import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from dunning.config import localized
from dunning.errors import TemplateError
from dunning.letter import Dunning, Letter
from dunning.locale import (
    MissingTranslationError,
    amount_in_words,
    format_amount,
    format_day,
    format_money,
    format_rate,
    translations,
)
from dunning.records import Record, validate_row
from dunning.settings import DEFAULT_FONTS, SUPPORTED_LOCALES, Settings, fallback_chain
from dunning.words import en_words, zh_capitals

from .helpers import ROOT, SAMPLES_AS_OF, embedded_families, pdf_text, squash

# --- one letter per locale ----------------------------------------------------------------------

#: A formal-stage record (80 days past due on 2026-11-20): 2,000.00 principal, 118.41 interest,
#: 0.04 % a day (under every brand's cap) → penalty 64.00, total 2,182.41.
BASE_ROW = {
    "account_id": "LOC-1", "contract_no": "LOC-LN-2025-000001", "id_number": "A1234563",
    "id_type": "hk_id", "loan_date": "2025-03-01", "loan_amount": "30000.00",
    "due_date": "2026-09-01", "overdue_principal": "2000.00", "overdue_interest": "118.41",
    "penalty_rate_daily": "0.0004", "phone": "9123 4567",
}
TOTAL = Decimal("2182.41")

#: locale → brand, currency, name and address in the locale's script, and what the letter says.
CASES: dict[str, dict[str, Any]] = {
    "zh_CN": {
        "brand": "mingtai", "currency": "CNY", "name": "王晓明",
        "address": "上海市徐汇区\n漕溪北路 88 号\n圣爱大厦 1203 室",
        "title": "逾期还款通知函",
        "sections": ["身份确认", "逾期情况", "欠款明细", "逾期未还的后果", "还款方案", "联系我们",
                     "您的权利"],
        "date": "2026年11月20日", "dpd": "已逾期80天", "money": "¥2,182.41",
        "words": "人民币贰仟壹佰捌拾贰元肆角壹分", "page": "第1页，共{pages}页",
        "id_label": "证件号码", "fonts": {"Noto Serif CJK SC", "Noto Sans CJK SC"},
    },
    "zh_TW": {
        "brand": "risheng", "currency": "TWD", "name": "林怡君",
        "address": "臺北市大安區\n和平東路二段 96 號 7 樓",
        "title": "逾期還款通知函",
        "sections": ["身分確認", "逾期狀況", "欠款明細", "逾期未繳之後果", "還款方案", "聯絡我們",
                     "台端之權利"],
        "date": "2026年11月20日", "dpd": "已逾期80日", "money": "$2,182.41",
        "words": "新臺幣貳仟壹佰捌拾貳元肆角壹分", "page": "第1頁，共{pages}頁",
        "id_label": "身分證字號", "fonts": {"Noto Sans CJK TC"},
    },
    "zh_HK": {
        "brand": "lungmun", "currency": "HKD", "name": "陳家豪",
        "address": "香港九龍觀塘\n協和街 210 號\n康寧大廈 15 樓 C 室",
        "title": "逾期還款通知書",
        "sections": ["身份確認", "逾期狀況", "欠款明細", "逾期未還的後果", "還款方案", "聯絡我們",
                     "閣下的權利"],
        "date": "2026年11月20日", "dpd": "已逾期80日", "money": "HK$2,182.41",
        "words": "港幣貳仟壹佰捌拾貳元肆角壹分", "page": "第1頁，共{pages}頁",
        "id_label": "身份證號碼", "fonts": {"Noto Serif CJK HK", "Noto Sans CJK HK"},
    },
    "en_US": {
        "brand": "jinqiao", "currency": "USD", "name": "Emily Carter",
        "address": "1425 Maple Avenue, Apt 3B\nSpringfield, IL 62704",
        "title": "Overdue Payment Notice",
        "sections": ["Identity confirmation", "Overdue status", "What you owe as of",
                     "What happens if the debt stays unpaid", "Your options for repaying",
                     "How to reach us", "Your rights"],
        "date": "November 20, 2026", "dpd": "it is 80 days overdue", "money": "$2,182.41",
        "words": "two thousand one hundred eighty-two US dollars and 41/100",
        "page": "Page 1 of {pages}", "id_label": "ID number", "fonts": {"Noto Sans"},
    },
    "en_GB": {
        "brand": "lungmun", "currency": "GBP", "name": "Oliver Bennett",
        "address": "Flat 4, 27 Albert Road\nManchester M14 5GH",
        "title": "Overdue Payment Notice",
        "sections": ["Identity confirmation", "Overdue status", "What you owe as at",
                     "What happens if the debt stays unpaid", "Your options for repaying",
                     "How to reach us", "Your rights"],
        "date": "20 November 2026", "dpd": "it is 80 days overdue", "money": "£2,182.41",
        "words": "two thousand one hundred and eighty-two pounds sterling and 41/100",
        "page": "Page 1 of {pages}", "id_label": "ID number", "fonts": {"Noto Serif", "Noto Sans"},
    },
}


def record_for(dunning: Dunning, locale: str | None, **changes: str) -> Record:
    case = CASES[locale or "zh_CN"]
    row = {**BASE_ROW, "brand": case["brand"], "currency": case["currency"],
           "name": case["name"], "address": case["address"], **changes}
    if locale:
        row["locale"] = locale
    record = validate_row(row, source="test", line=1, rules=dunning.record_rules())
    assert isinstance(record, Record)
    return record


@pytest.fixture(scope="module")
def letters(dunning: Dunning) -> dict[str, Letter]:
    out = {}
    for locale in SUPPORTED_LOCALES:
        plan = dunning.plan(record_for(dunning, locale), SAMPLES_AS_OF)
        assert (plan.stage, plan.locale, plan.items.total) == ("formal", locale, TOTAL)
        out[locale] = dunning.render(plan)
    return out


def test_cases_cover_every_supported_locale() -> None:
    assert set(CASES) == set(SUPPORTED_LOCALES)


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_letter_in_its_locale(locale: str, letters: dict[str, Letter]) -> None:
    case, letter = CASES[locale], letters[locale]
    text = squash(pdf_text(letter.pdf.data))
    assert squash(case["title"]) in text
    for heading in case["sections"]:
        assert squash(heading) in text, heading
    assert squash(case["date"]) in text, "the as-of date in the locale's long form"
    assert squash(case["dpd"]) in text
    assert squash(case["money"]) in text, "the total with the locale's currency format"
    assert squash(case["words"]) in text, "the amount in words"
    assert letter.pdf.pages >= 2
    assert squash(case["page"].format(pages=letter.pdf.pages)) in text
    assert squash(case["id_label"]) in text
    assert case["name"].replace(" ", "") in text
    assert f'<html lang="{locale.replace("_", "-")}">' in letter.html


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_letter_uses_its_locales_fonts(locale: str, letters: dict[str, Letter]) -> None:
    """Chinese letters: their region's glyph forms only (jinqiao and risheng set sans-serif
    bodies); English letters without Chinese text: Latin faces only (the brands of these
    cases have no seal, which is an image drawn with CJK text)."""
    used = embedded_families(letters[locale].pdf.data)
    assert used == CASES[locale]["fonts"]
    assert used <= set(DEFAULT_FONTS[locale])


def test_english_letter_with_a_chinese_name_falls_back_to_cjk(dunning: Dunning) -> None:
    record = record_for(dunning, "en_GB", name="CHAN Ka Ho 陳家豪")
    letter = dunning.render(dunning.plan(record, SAMPLES_AS_OF))
    assert "陳家豪" in pdf_text(letter.pdf.data)
    used = embedded_families(letter.pdf.data)
    assert {"Noto Serif", "Noto Sans"} <= used
    assert used & {"Noto Serif CJK SC", "Noto Sans CJK SC"}
    assert used <= set(DEFAULT_FONTS["en_GB"])


# --- no mixing of scripts or languages ----------------------------------------------------------

SIMPLIFIED_HEADINGS = (
    "逾期还款提醒函", "逾期还款通知函", "催收函（诉前通知）", "身份确认", "逾期情况", "欠款明细",
    "逾期未还的后果", "还款方案", "联系我们", "您的权利",
)


#: Pairs of characters that differ between the scripts (Simplified, Traditional), among those
#: a letter's wording uses; each side is only ever written in its own script.
_PAIRS = (
    "还還 们們 务務 费費 额額 认認 证證 号號 确確 况況 细細 联聯 权權 诉訴 讼訟 账賬 "
    "户戶 银銀 贷貸 计計 应應 发發 项項 则則 时時 间間 电電 话話 邮郵 处處 经經 过過 "
    "与與 为為 将將 对對 请請 该該 构構 关關 规規 记記 录錄 实實 书書 罚罰 结結 优優 "
    "减減 纳納 缴繳 协協 议議 币幣 贰貳 陆陸 亿億 这這 进進 给給 让讓 说說 须須 选選 "
    "择擇 报報 称稱 东東 长長 门門 见見 单單 园園 边邊 头頭 乐樂 体體 层層 开開 专專 "
    "产產 价價 传傳 储儲 兴興 决決 创創 别別 办辦 动動 劳勞 势勢 国國 区區 楼樓 编編 "
    "码碼 满滿 导導 鉴鑒 启啟 拨撥 隐隱 厦廈 属屬 岁歲 华華 汇匯 约約 续續 润潤 阅閱"
).split()
SIMPLIFIED_ONLY = frozenset(pair[0] for pair in _PAIRS)
TRADITIONAL_ONLY = frozenset(pair[1] for pair in _PAIRS)


def test_a_zh_tw_record_gets_no_simplified_heading(letters: dict[str, Letter]) -> None:
    text = squash(pdf_text(letters["zh_TW"].pdf.data))
    for heading in SIMPLIFIED_HEADINGS:
        assert heading not in text, heading
    for heading in ("逾期還款通知函", "身分確認", "逾期狀況", "欠款明細"):
        assert heading in text


@pytest.mark.parametrize(("locale", "foreign"), [
    ("zh_TW", SIMPLIFIED_ONLY), ("zh_HK", SIMPLIFIED_ONLY), ("zh_CN", TRADITIONAL_ONLY),
])
def test_no_character_of_the_other_script(
    locale: str, foreign: frozenset[str], letters: dict[str, Letter]
) -> None:
    text = pdf_text(letters[locale].pdf.data)
    assert not {ch for ch in text if ch in foreign}
    own = TRADITIONAL_ONLY if foreign is SIMPLIFIED_ONLY else SIMPLIFIED_ONLY
    assert len({ch for ch in text if ch in own}) > 30, "the letter is written in its script"


@pytest.mark.parametrize("locale", ["en_US", "en_GB"])
def test_english_letter_has_no_chinese(locale: str, letters: dict[str, Letter]) -> None:
    text = pdf_text(letters[locale].pdf.data)
    assert not re.search(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]", text), "CJK in an en letter"


def test_en_gb_differs_from_en_us_where_british_usage_does(letters: dict[str, Letter]) -> None:
    gb = squash(pdf_text(letters["en_GB"].pdf.data))
    us = squash(pdf_text(letters["en_US"].pdf.data))
    assert "Instalmentplans" in gb
    assert "Installment" not in gb
    assert "Installmentplans" in us
    assert "Instalment" not in us
    assert "Defaultinterest" in gb
    assert "Penaltyinterest" in us
    assert "20November2026" in gb
    assert "November20,2026" in us


# --- where a letter's locale comes from ---------------------------------------------------------


def test_locale_from_record_then_brand_then_settings(dunning: Dunning) -> None:
    assert dunning.locale_for(record_for(dunning, "en_GB")) == "en_GB"
    record = record_for(dunning, None, brand="lungmun")
    assert record.locale is None
    assert dunning.locale_for(record) == "zh_HK"  # lungmun's default_locale
    assert dunning.locale_for(record_for(dunning, None, brand="risheng")) == "zh_TW"
    assert dunning.locale_for(record_for(dunning, None, brand="mingtai")) == "zh_CN"


# --- the fallback chain: zh_HK → zh_TW; English → source text; never across scripts ----------


def _locales_without(tmp_path: Path, removals: dict[str, str]) -> Path:
    """A copy of locales/ (no compiled catalogs) with one msgid's entry removed per locale."""
    target = tmp_path / "locales"
    shutil.copytree(ROOT / "locales", target, ignore=shutil.ignore_patterns("*.mo"))
    for locale, msgid in removals.items():
        po = target / locale / "LC_MESSAGES" / "messages.po"
        text = po.read_text("utf-8")
        entry = re.search(rf'\nmsgid "{re.escape(msgid)}"\nmsgstr "[^"]*"\n', text)
        assert entry, (locale, msgid)
        po.write_text(text.replace(entry.group(0), "\n"), "utf-8")
    return target


def test_fallback_chain_per_locale() -> None:
    assert fallback_chain("zh_HK") == ("zh_HK", "zh_TW", "zh_Hant")
    assert fallback_chain("zh_TW") == ("zh_TW", "zh_Hant")
    assert fallback_chain("zh_CN") == ("zh_CN", "zh_Hans", "zh")
    assert fallback_chain("en_GB") == ("en_GB", "en")
    for locale in SUPPORTED_LOCALES:
        chain = fallback_chain(locale)
        assert not any(k.startswith("zh") for k in chain) or all(
            k.startswith("zh") for k in chain), "a chain never leaves its language"


def test_zh_hk_borrows_taiwans_wording_for_a_missing_entry(tmp_path: Path) -> None:
    locales = _locales_without(tmp_path, {"zh_HK": "Overdue principal"})
    assert translations(locales, "zh_HK").gettext("Overdue principal") == "逾期本金"  # zh_TW's
    assert translations(locales, "zh_HK").gettext("Email") == "電郵"  # its own


@pytest.mark.parametrize("locale", ["zh_CN", "zh_TW"])
def test_chinese_letter_refuses_a_missing_entry(tmp_path: Path, locale: str) -> None:
    locales = _locales_without(tmp_path, {locale: "Overdue principal"})
    with pytest.raises(MissingTranslationError, match=f"no {locale} text for 'Overdue principal'"):
        translations(locales, locale).gettext("Overdue principal")


def test_zh_hk_refuses_when_taiwan_lacks_it_too(tmp_path: Path) -> None:
    locales = _locales_without(tmp_path, {"zh_HK": "Email", "zh_TW": "Email"})
    with pytest.raises(MissingTranslationError, match="zh_HK, zh_TW, zh_Hant"):
        translations(locales, "zh_HK").gettext("Email")


def test_english_falls_back_to_the_source_text(tmp_path: Path) -> None:
    locales = _locales_without(tmp_path, {"en_GB": "Overdue principal"})
    assert translations(locales, "en_GB").gettext("Overdue principal") == "Overdue principal"


def test_a_letter_with_a_missing_translation_fails_naming_the_template(tmp_path: Path) -> None:
    home = tmp_path / "home"
    for folder in ("config", "templates"):
        shutil.copytree(ROOT / folder, home / folder)
    _locales_without(home, {"zh_TW": "Overdue principal"})
    dunning = Dunning.load(Settings.at(home))
    record = record_for(dunning, "zh_TW")
    with pytest.raises(TemplateError, match="no zh_TW text for 'Overdue principal'") as info:
        dunning.html(dunning.plan(record, SAMPLES_AS_OF))
    assert info.value.template == "letter/partials/itemization.html"


def _brand_texts(value: Any, locale: str) -> list[str]:
    if isinstance(value, (str, dict)) and value:
        return [localized(value, locale)]
    if isinstance(value, BaseModel):
        return [t for name in type(value).model_fields
                for t in _brand_texts(getattr(value, name), locale)]
    return []


@pytest.mark.parametrize(("locale", "foreign"), [
    ("zh_TW", SIMPLIFIED_ONLY), ("zh_HK", SIMPLIFIED_ONLY), ("zh_CN", TRADITIONAL_ONLY),
])
def test_brand_texts_keep_to_the_letters_script(
    dunning: Dunning, locale: str, foreign: frozenset[str]
) -> None:
    for brand in dunning.brands.by_key.values():
        texts = _brand_texts(brand, locale)
        assert len(texts) > 10
        assert not {ch for text in texts for ch in text if ch in foreign}, (brand.key, locale)


# --- formats per locale and currency (Babel / CLDR) -------------------------------------------


@pytest.mark.parametrize(("locale", "expected"), [
    ("zh_CN", "2026年11月20日"), ("zh_TW", "2026年11月20日"), ("zh_HK", "2026年11月20日"),
    ("en_US", "November 20, 2026"), ("en_GB", "20 November 2026"),
])
def test_date_format(locale: str, expected: str) -> None:
    assert format_day(date(2026, 11, 20), locale) == expected


@pytest.mark.parametrize(("locale", "currency", "expected"), [
    ("zh_CN", "CNY", "¥12,522.00"), ("zh_CN", "HKD", "HK$12,522.00"),
    ("zh_TW", "TWD", "$12,522.00"), ("zh_TW", "CNY", "CN¥12,522.00"),
    ("zh_HK", "HKD", "HK$12,522.00"), ("zh_HK", "TWD", "NT$12,522.00"),
    ("en_US", "USD", "$12,522.00"), ("en_US", "HKD", "HK$12,522.00"),
    ("en_GB", "GBP", "£12,522.00"), ("en_GB", "USD", "US$12,522.00"),
])
def test_currency_format(locale: str, currency: str, expected: str) -> None:
    assert format_money(Decimal("12522"), currency, locale) == expected
    assert format_amount(Decimal("-12522"), currency, locale) == "-12,522.00"


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_rate_format(locale: str) -> None:
    assert format_rate(Decimal("0.0005"), locale) == "0.05%"
    assert format_rate(Decimal("0.24"), locale, 2) == "24%"


@pytest.mark.parametrize(("locale", "currency", "amount", "expected"), [
    ("zh_CN", "CNY", "12522.00", "人民币壹万贰仟伍佰贰拾贰元整"),
    ("zh_CN", "HKD", "10000.07", "港币壹万元零柒分"),
    ("zh_TW", "TWD", "12522.00", "新臺幣壹萬貳仟伍佰貳拾貳元整"),
    ("zh_TW", "CNY", "30020.50", "人民幣參萬零貳拾元伍角"),
    ("zh_HK", "HKD", "12522.00", "港幣壹萬貳仟伍佰貳拾貳元正"),
    ("zh_HK", "HKD", "12522.35", "港幣壹萬貳仟伍佰貳拾貳元參角伍分"),
    ("zh_HK", "GBP", "100", "英鎊壹佰元正"),
    ("en_US", "USD", "2118.41", "two thousand one hundred eighteen US dollars and 41/100"),
    ("en_US", "CNY", "12522", "twelve thousand five hundred twenty-two Chinese yuan and 00/100"),
    ("en_US", "USD", "1.05", "one US dollar and 05/100"),
    ("en_GB", "GBP", "2118.41", "two thousand one hundred and eighteen pounds sterling and 41/100"),
    ("en_GB", "HKD", "1005", "one thousand and five Hong Kong dollars and 00/100"),
])
def test_amount_in_words(locale: str, currency: str, amount: str, expected: str) -> None:
    assert amount_in_words(Decimal(amount), currency, locale) == expected


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_amount_in_words_matches_the_words_module(locale: str) -> None:
    """Independent of the per-locale tables: the capitals or words are words.py's."""
    amount = Decimal("2182.41")
    text = amount_in_words(amount, "USD", locale)
    if locale.startswith("zh"):
        assert text.endswith(zh_capitals(amount, traditional=locale != "zh_CN"))
    else:
        assert text.startswith(en_words(amount, british=locale == "en_GB").split(" and 41")[0])


# --- fonts: settings and stylesheet agree -----------------------------------------------------

_LANG_RULE = re.compile(r"html:lang\(([\w-]+)\)\s*\{([^}]*)\}")


def css_font_stacks() -> dict[str, dict[str, list[str]]]:
    """locale → {'--serif': [families], '--sans': [families]} from letter.css."""
    css = (ROOT / "templates" / "assets" / "letter.css").read_text("utf-8")
    stacks: dict[str, dict[str, list[str]]] = {}
    for lang, body in _LANG_RULE.findall(css):
        found = {name: re.findall(r'"([^"]+)"', value)
                 for name, value in re.findall(r"(--serif|--sans)\s*:\s*([^;]+);", body)}
        if found:
            stacks[lang.replace("-", "_")] = found
    return stacks


def test_css_font_stacks_name_exactly_the_configured_fonts() -> None:
    stacks = css_font_stacks()
    assert set(stacks) == set(SUPPORTED_LOCALES), "one font rule per supported locale"
    for locale, roles in stacks.items():
        assert set(roles) == {"--serif", "--sans"}, locale
        named = {family for families in roles.values() for family in families}
        assert named == set(DEFAULT_FONTS[locale]), locale
        assert roles["--serif"][0] == DEFAULT_FONTS[locale][0], f"{locale}: body face first"


def test_no_stylesheet_names_a_font_outside_the_locale_rules() -> None:
    sheets = [ROOT / "templates" / "assets" / "letter.css",
              *sorted((ROOT / "templates" / "assets" / "brands").glob("*/*.css"))]
    for sheet in sheets:
        css = re.sub(r"/\*.*?\*/", "", sheet.read_text("utf-8"), flags=re.S)
        css = _LANG_RULE.sub("", css)
        assert not re.search(r"Noto|font-family:\s*[\"']", css), (
            f"{sheet.name}: name fonts only in letter.css's html:lang() rules; "
            "use var(--serif) / var(--sans)")


def test_regional_brands_cap_rates_by_their_law(dunning: Dunning) -> None:
    """Hong Kong presumes rates above 36 % a year extortionate; Taiwan's Civil Code caps
    agreed interest at 16 % (docs/domain.md §4.3)."""
    assert dunning.policy.for_brand("lungmun").max_annual_rate == Decimal("0.36")
    assert dunning.policy.for_brand("risheng").max_annual_rate == Decimal("0.16")
    assert dunning.brands["lungmun"].currency == "HKD"
    assert dunning.brands["risheng"].currency == "TWD"
