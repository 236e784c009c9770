"""Tests for dunning.words: amounts in Chinese financial capitals and English words."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from dunning.words import en_words, zh_capitals

# --- independent parsers: words back to a Decimal ---------------------------------------------

_ZH_DIGITS = {c: i for i, c in enumerate("零壹贰叁肆伍陆柒捌玖")} | {
    c: i for i, c in enumerate("零壹貳參肆伍陸柒捌玖")
}
_ZH_SMALL = {"拾": 10, "佰": 100, "仟": 1000}
_ZH_WAN = {"万", "萬"}
_ZH_YI = {"亿", "億"}


def _parse_zh_integer(text: str) -> int:
    """Value of a capitals integer such as 壹万零壹亿贰仟万零叁 (no currency unit)."""
    total = 0  # everything already closed by 亿
    section = 0  # below the last 亿, including what 万 has closed
    number = 0  # the last digit, not yet given a unit
    for char in text:
        if char in _ZH_DIGITS:
            number = _ZH_DIGITS[char]
        elif char in _ZH_SMALL:
            assert number, f"unit {char} without a digit in {text}"
            section += number * _ZH_SMALL[char]
            number = 0
        elif char in _ZH_WAN:
            section = (section + number) * 10**4
            number = 0
        elif char in _ZH_YI:
            total = (total + section + number) * 10**8
            section = number = 0
        else:
            raise AssertionError(f"unexpected {char!r} in {text}")
    return total + section + number


def parse_zh(text: str, unit: str = "元") -> Decimal:
    """Value of a zh_capitals() string, checking its overall shape on the way."""
    body = text.removesuffix("整")
    integer_text, sep, fraction = body.rpartition(unit)
    if not sep:
        integer_text, fraction = "", body
    integer = _parse_zh_integer(integer_text) if integer_text != "零" else 0
    jiao = fen = 0
    match = re.fullmatch(r"(?:(.)角)?零?(?:(.)分)?", fraction)
    assert match, f"bad fraction {fraction!r} in {text}"
    if match[1]:
        jiao = _ZH_DIGITS[match[1]]
    if match[2]:
        fen = _ZH_DIGITS[match[2]]
    return Decimal(integer) + Decimal(jiao) / 10 + Decimal(fen) / 100


_EN_SMALL = {
    word: i
    for i, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen".split()
    )
} | {
    word: 10 * i
    for i, word in enumerate("_ _ twenty thirty forty fifty sixty seventy eighty ninety".split())
    if i >= 2
}
_EN_SCALE = {"thousand": 10**3, "million": 10**6, "billion": 10**9, "trillion": 10**12}


def parse_en(text: str, currency_major: str = "") -> Decimal:
    """Value of an en_words() string such as 'one hundred one dollars and 50/100'."""
    words, _, fraction = text.partition(" and ")
    if currency_major:
        words = words.removesuffix(" " + currency_major)
    total = current = 0
    for token in words.split():
        if token == "hundred":
            current *= 100
        elif token in _EN_SCALE:
            total += current * _EN_SCALE[token]
            current = 0
        else:
            current += sum(_EN_SMALL[part] for part in token.split("-"))
    value = Decimal(total + current)
    if fraction:
        numerator, denominator = fraction.split("/")
        value += Decimal(int(numerator)) / Decimal(int(denominator))
    return value


# --- examples ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        ("12522.00", "壹万贰仟伍佰贰拾贰元整"),
        ("10", "壹拾元整"),
        ("0", "零元整"),
        ("0.00", "零元整"),
        ("100100", "壹拾万零壹佰元整"),
        ("1005", "壹仟零伍元整"),
        ("100000001", "壹亿零壹元整"),
        ("1010", "壹仟零壹拾元整"),
        ("110000", "壹拾壹万元整"),
        ("100000000", "壹亿元整"),
        ("10001000", "壹仟万零壹仟元整"),
        ("10000.07", "壹万元零柒分"),
        ("1.05", "壹元零伍分"),
        ("1.50", "壹元伍角"),
        ("1.5", "壹元伍角"),
        ("0.50", "伍角"),
        ("0.05", "伍分"),
        ("0.55", "伍角伍分"),
        ("1680.32", "壹仟陆佰捌拾元叁角贰分"),
        ("15", "壹拾伍元整"),
        ("1000000000000", "壹万亿元整"),
        ("1000100000000", "壹万零壹亿元整"),
        ("1000000010000", "壹万亿零壹万元整"),
        (
            "9999999999999999.99",
            "玖仟玖佰玖拾玖万玖仟玖佰玖拾玖亿玖仟玖佰玖拾玖万玖仟玖佰玖拾玖元玖角玖分",
        ),
        ("1.500", "壹元伍角"),
        ("1E+3", "壹仟元整"),
        ("-0", "零元整"),
    ],
)
def test_zh_capitals_examples(amount: str, expected: str) -> None:
    assert zh_capitals(Decimal(amount)) == expected


@pytest.mark.parametrize(
    ("amount", "unit", "expected"),
    [
        ("12522.00", "元", "壹萬貳仟伍佰貳拾貳元整"),
        ("30020.50", "圓", "參萬零貳拾圓伍角"),
        ("100000001.07", "元", "壹億零壹元零柒分"),
        ("0.36", "圓", "參角陸分"),
    ],
)
def test_zh_capitals_traditional(amount: str, unit: str, expected: str) -> None:
    assert zh_capitals(Decimal(amount), traditional=True, unit=unit) == expected


@pytest.mark.parametrize(
    "amount", ["-0.01", "-1", "1.005", "0.001", "1E+16", "10000000000000000", "NaN", "Infinity"]
)
def test_zh_capitals_rejects(amount: str) -> None:
    with pytest.raises(ValueError, match="amount"):
        zh_capitals(Decimal(amount))


@pytest.mark.parametrize(
    ("amount", "kwargs", "expected"),
    [
        ("12522.00", {}, "twelve thousand five hundred twenty-two and 00/100"),
        (
            "12522.00",
            {"currency_major": "dollars"},
            "twelve thousand five hundred twenty-two dollars and 00/100",
        ),
        ("0", {}, "zero and 00/100"),
        ("1000000", {}, "one million and 00/100"),
        ("101.5", {}, "one hundred one and 50/100"),
        ("0.07", {"currency_major": "dollars"}, "zero dollars and 07/100"),
        ("15000", {"minor_digits": 0}, "fifteen thousand"),
        ("15000", {"minor_digits": 0, "currency_major": "yen"}, "fifteen thousand yen"),
        ("1.234", {"minor_digits": 3}, "one and 234/1000"),
        ("19", {}, "nineteen and 00/100"),
        ("90", {}, "ninety and 00/100"),
        ("1000001", {}, "one million one and 00/100"),
        (
            "999999999999999.99",
            {},
            "nine hundred ninety-nine trillion nine hundred ninety-nine billion "
            "nine hundred ninety-nine million nine hundred ninety-nine thousand "
            "nine hundred ninety-nine and 99/100",
        ),
    ],
)
def test_en_words_examples(amount: str, kwargs: dict[str, Any], expected: str) -> None:
    assert en_words(Decimal(amount), **kwargs) == expected


@pytest.mark.parametrize(
    ("amount", "minor_digits"),
    [("-1", 2), ("1.001", 2), ("1.5", 0), ("1E+15", 2), ("NaN", 2), ("1", -1)],
)
def test_en_words_rejects(amount: str, minor_digits: int) -> None:
    with pytest.raises(ValueError, match=r"amount|minor_digits"):
        en_words(Decimal(amount), minor_digits=minor_digits)


@pytest.mark.parametrize("func", [zh_capitals, en_words])
@pytest.mark.parametrize("amount", [1.5, 0.0, 10.0])
def test_float_raises_type_error(func: Any, amount: float) -> None:
    with pytest.raises(TypeError, match="float"):
        func(amount)


@pytest.mark.parametrize("func", [zh_capitals, en_words])
@pytest.mark.parametrize("amount", [10, "10.00", None])
def test_other_types_raise_type_error(func: Any, amount: object) -> None:
    with pytest.raises(TypeError, match="Decimal"):
        func(amount)


# --- round trips ------------------------------------------------------------------------------


def _cents_to_decimal(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


# Uniform cents rarely produce zero runs, so also build amounts digit by digit, mostly zeros.
_sparse_cents = st.lists(st.sampled_from("0000000123456789"), min_size=1, max_size=18).map(
    lambda digits: int("".join(digits))
)

amounts_1e12 = st.integers(0, 10**14).map(_cents_to_decimal)
amounts_zh = st.one_of(amounts_1e12, _sparse_cents.map(_cents_to_decimal))
amounts_en = st.one_of(
    amounts_1e12, _sparse_cents.filter(lambda c: c < 10**17).map(_cents_to_decimal)
)


@given(amounts_zh, st.booleans())
@example(Decimal("10001000"), False)
@example(Decimal("1000000010000.01"), True)
def test_zh_capitals_round_trip(amount: Decimal, traditional: bool) -> None:
    text = zh_capitals(amount, traditional=traditional)
    assert parse_zh(text) == amount, text


@given(amounts_zh)
def test_zh_capitals_shape(amount: Decimal) -> None:
    text = zh_capitals(amount)
    if amount == 0:
        assert text == "零元整"
        return
    assert "零零" not in text
    assert not re.search(r"零[元万亿角分整]", text), text  # 零 only right before a digit
    assert not re.search(r"(^|[^零壹贰叁肆伍陆柒捌玖])[拾佰仟]", text), text  # 壹拾, never 拾
    assert text.endswith("整") == (amount == amount.to_integral_value())
    assert not text.startswith("零"), text
    # one 零 per run of zeros between non-zero digits, plus one for 元零X分
    yuan, jiao, fen = int(amount), int(amount * 10) % 10, int(amount * 100) % 10
    expected_zeros = len(re.findall(r"[1-9]0+(?=[1-9])", str(yuan)))
    expected_zeros += bool(yuan and not jiao and fen)
    assert text.count("零") == expected_zeros, text


@given(amounts_en, st.sampled_from(["", "dollars"]))
def test_en_words_round_trip(amount: Decimal, currency_major: str) -> None:
    text = en_words(amount, currency_major=currency_major)
    assert text == text.lower()
    assert parse_en(text, currency_major) == amount, text


@given(st.integers(0, 10**15 - 1))
def test_en_words_round_trip_no_minor(amount: int) -> None:
    text = en_words(Decimal(amount), currency_major="yen", minor_digits=0)
    assert " and " not in text
    assert parse_en(text, "yen") == amount, text


# --- regional conventions: 正 in Hong Kong, the British "and" -----------------------------------


@pytest.mark.parametrize(
    ("amount", "whole", "expected"),
    [
        ("12522", "正", "壹萬貳仟伍佰貳拾貳元正"),
        ("0", "正", "零元正"),
        ("12522.30", "正", "壹萬貳仟伍佰貳拾貳元參角"),  # not whole: no 正
        ("12522", "整", "壹萬貳仟伍佰貳拾貳元整"),
    ],
)
def test_zh_capitals_whole_word(amount: str, whole: str, expected: str) -> None:
    assert zh_capitals(Decimal(amount), traditional=True, whole=whole) == expected


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        ("101", "one hundred and one and 00/100"),
        ("2118.41", "two thousand one hundred and eighteen and 41/100"),
        ("1005", "one thousand and five and 00/100"),
        ("1000000.07", "one million and 07/100"),
        ("2000100", "two million one hundred and 00/100"),
        ("2000099", "two million and ninety-nine and 00/100"),
        ("120", "one hundred and twenty and 00/100"),
        ("0.5", "zero and 50/100"),
    ],
)
def test_en_words_british(amount: str, expected: str) -> None:
    assert en_words(Decimal(amount), british=True) == expected


def _without_british_and(text: str) -> str:
    words, _, fraction = text.rpartition(" and ")
    return words.replace(" and ", " ") + " and " + fraction


@given(amounts_en)
def test_en_words_british_differs_only_by_and(amount: Decimal) -> None:
    us, gb = en_words(amount), en_words(amount, british=True)
    assert _without_british_and(gb) == us
