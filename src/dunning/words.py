"""Spell money amounts in words: Chinese financial capitals (大写) and English.

Take a non-negative :class:`decimal.Decimal` amount and give the string a letter prints next to the
figure. Pure functions, standard library only. Money is ``Decimal`` only: a ``float`` (or any other
type) raises :class:`TypeError`; a negative, non-finite or out-of-range amount, or one with more
decimals than the currency has, raises :class:`ValueError`. Amounts are checked by value, so
``Decimal("1.500")`` is the same as ``Decimal("1.50")``; nothing is ever rounded.

Chinese capitals (:func:`zh_capitals`)
--------------------------------------
The amount as written on Chinese payment instruments, following the PBoC rules
《正确填写票据和结算凭证的基本规定》. Digits 零壹贰叁肆伍陆柒捌玖, units 拾佰仟 within a group of
four digits and 万/亿 for the groups (万亿 for 10^12), then the currency unit (元 by default) and
角/分. Amounts from 0 up to (not including) 10^16 with at most two decimals. Conventions:

- 整 follows the unit only when there are neither jiao nor fen: 12522.00 → 壹万贰仟伍佰贰拾贰元整;
  0 → 零元整. With jiao and no fen there is no 整: 1.50 → 壹元伍角.
- Every unit carries its digit: 10 → 壹拾元整, never a bare 拾元整.
- One 零 stands for any run of zeros *between* non-zero digits of the integer part, including a run
  that crosses a 万/亿 boundary: 1005 → 壹仟零伍元整, 1010 → 壹仟零壹拾元整,
  100100 → 壹拾万零壹佰元整, 10001000 → 壹仟万零壹仟元整, 100000001 → 壹亿零壹元整. Trailing
  zeros get no 零: 110000 → 壹拾壹万元整, 100000000 → 壹亿元整.
- Jiao zero and fen non-zero: 零 before the fen: 10000.07 → 壹万元零柒分, 1.05 → 壹元零伍分.
- An integer part ending in zero followed by jiao gets **no** 零 between the unit and 角:
  1680.32 → 壹仟陆佰捌拾元叁角贰分. (The rules allow 壹仟陆佰捌拾元零叁角贰分 too; we write the
  shorter form, as most bank systems print it.)
- Integer part zero: only the fraction is written: 0.50 → 伍角, 0.05 → 伍分, 0.55 → 伍角伍分.
- ``traditional=True`` uses 零壹貳參肆伍陸柒捌玖, 拾佰仟萬億 and 角/分/整; the currency unit is
  whatever the caller passes (元, 圓, …), and so is the word for a whole amount (``whole``:
  整 by default; Hong Kong cheques write 正).

English words (:func:`en_words`)
--------------------------------
US cheque wording, lower case: the integer part in words (no "and" inside it, hyphenated tens:
"one hundred one", "twenty-two"), scale words up to trillions (amount < 10^15), the optional
currency word after it exactly as the caller gives it (no pluralization), then ``and NN/100``: the
minor unit as a fraction over ``10**minor_digits``, left out when ``minor_digits`` is 0 (e.g. JPY).
``british=True`` puts "and" where British English says it: before the tens and units of each
hundred ("one hundred and one") and before a last group below a hundred ("two thousand and
five"); the rest is the same.
"""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

__all__ = ["en_words", "zh_capitals"]


class _Script(NamedTuple):
    """The characters of one script: digits 0-9, the units 拾佰仟, 万 and 亿."""

    digits: str
    small_units: tuple[str, str, str, str]
    wan: str
    yi: str


_SIMPLIFIED = _Script("零壹贰叁肆伍陆柒捌玖", ("", "拾", "佰", "仟"), "万", "亿")
_TRADITIONAL = _Script("零壹貳參肆伍陸柒捌玖", ("", "拾", "佰", "仟"), "萬", "億")
_ZH_LIMIT = 10**16
_EN_LIMIT = 10**15

_EN_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_EN_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_EN_SCALES = ("", "thousand", "million", "billion", "trillion")


def _minor_units(amount: Decimal, minor_digits: int, limit: int) -> int:
    """Return ``amount`` as an exact count of minor units, or raise.

    Exact integer arithmetic on the Decimal's digits: no context precision, no rounding.
    """
    if isinstance(amount, float):
        raise TypeError(f"money must be a decimal.Decimal, not float ({amount!r}); never use float")
    if not isinstance(amount, Decimal):
        raise TypeError(f"money must be a decimal.Decimal, not {type(amount).__name__}")
    sign, digits, exponent = amount.as_tuple()
    if not isinstance(exponent, int):  # 'n', 'N' or 'F': NaN, sNaN, Infinity
        raise ValueError(f"amount must be a finite number, got {amount}")
    coefficient = int("".join(map(str, digits)))
    if coefficient == 0:
        return 0
    if sign:
        raise ValueError(f"amount must not be negative, got {amount}")
    if amount >= limit:
        raise ValueError(f"amount must be less than {limit:,}, got {amount}")
    shift = exponent + minor_digits
    factor: int = 10 ** abs(shift)  # int ** int is typed Any: the exponent could be negative
    if shift >= 0:
        return coefficient * factor
    quotient, remainder = divmod(coefficient, factor)
    if remainder:
        raise ValueError(f"amount must have at most {minor_digits} decimal places, got {amount}")
    return quotient


def _zh_integer(n: int, traditional: bool) -> str:
    """Spell a positive integer below 10^16 in capitals, without the currency unit."""
    script = _TRADITIONAL if traditional else _SIMPLIFIED
    digits, small_units = script.digits, script.small_units
    text = str(n)
    width = len(text)
    out: list[str] = []
    pending_zero = False
    for index, char in enumerate(text):
        position = width - 1 - index  # power of ten of this digit
        digit = int(char)
        if digit == 0:
            pending_zero = bool(out)
        else:
            if pending_zero:
                out.append(digits[0])
                pending_zero = False
            out.append(digits[digit] + small_units[position % 4])
        if position in (4, 12) and int(text[: index + 1][-4:]) != 0:
            out.append(script.wan)  # the 万 group (or 万亿) has a non-zero digit
        elif position == 8:
            out.append(script.yi)  # n >= 10^8, so something above 亿 is non-zero
    return "".join(out)


def zh_capitals(
    amount: Decimal, *, traditional: bool = False, unit: str = "元", whole: str = "整",
    decimals: int = 2,
) -> str:
    """Spell ``amount`` in Chinese financial capitals (大写), as on a payment instrument.

    ``amount`` is a non-negative Decimal below 10^16 with at most ``decimals`` decimals (the
    currency's minor unit: 0, 2, or 3 for currencies counted in thousandths, whose third
    decimal is 厘). ``unit`` is the currency unit written after the integer part;
    ``traditional`` switches to traditional characters; ``whole`` is written after the unit
    when there is no fraction. One 零 stands for a run of zero fraction digits between the
    integer part (or a non-zero fraction digit) and a later non-zero digit.
    See the module docstring for the conventions.

    >>> zh_capitals(Decimal("12522.00"))
    '壹万贰仟伍佰贰拾贰元整'
    >>> zh_capitals(Decimal("10000.07"))
    '壹万元零柒分'
    >>> zh_capitals(Decimal("100100"))
    '壹拾万零壹佰元整'
    >>> zh_capitals(Decimal("1680.32"))
    '壹仟陆佰捌拾元叁角贰分'
    >>> zh_capitals(Decimal("0.55"))
    '伍角伍分'
    >>> zh_capitals(Decimal("0"))
    '零元整'
    >>> zh_capitals(Decimal("30020.50"), traditional=True, unit="圓")
    '參萬零貳拾圓伍角'
    >>> zh_capitals(Decimal("12522"), traditional=True, whole="正")
    '壹萬貳仟伍佰貳拾貳元正'
    >>> zh_capitals(Decimal("1.005"), decimals=3)
    '壹元零伍厘'
    >>> zh_capitals(Decimal("1025.105"), decimals=3)
    '壹仟零贰拾伍元壹角零伍厘'
    >>> zh_capitals(Decimal("0.005"), decimals=3)
    '伍厘'
    >>> zh_capitals(Decimal("1.005"))
    Traceback (most recent call last):
    ...
    ValueError: amount must have at most 2 decimal places, got 1.005
    """
    if decimals not in (0, 2, 3):
        raise ValueError(f"decimals must be 0, 2 or 3, got {decimals}")
    minor = _minor_units(amount, decimals, _ZH_LIMIT)
    digits = (_TRADITIONAL if traditional else _SIMPLIFIED).digits
    yuan, rest = divmod(minor, 10 ** decimals)
    fraction = [int(d) for d in f"{rest:0{decimals}d}"] if decimals else []
    parts: list[str] = []
    if yuan:
        parts.append(_zh_integer(yuan, traditional) + unit)
    gap = False
    for place, digit in enumerate(fraction):
        if digit == 0:
            gap = bool(parts)
            continue
        if gap:
            parts.append(digits[0])
            gap = False
        parts.append(digits[digit] + _ZH_FRACTION_UNITS[place])
    if not parts:
        return digits[0] + unit + whole
    if not any(fraction):
        parts.append(whole)
    return "".join(parts)


#: The fraction units: 角 (tenths), 分 (hundredths), 厘 (thousandths).
_ZH_FRACTION_UNITS = ("角", "分", "厘")


def _en_below_thousand(n: int, british: bool = False) -> list[str]:
    """Words for 1..999, e.g. ``['one', 'hundred', 'twenty-two']``."""
    words: list[str] = []
    hundreds, rest = divmod(n, 100)
    if hundreds:
        words += [_EN_ONES[hundreds], "hundred"]
        if british and rest:
            words.append("and")
    if rest >= 20:
        tens, ones = divmod(rest, 10)
        words.append(_EN_TENS[tens] + (f"-{_EN_ONES[ones]}" if ones else ""))
    elif rest:
        words.append(_EN_ONES[rest])
    return words


def _en_integer(n: int, british: bool = False) -> str:
    """Spell a non-negative integer below 10^15 in English words."""
    if n == 0:
        return _EN_ONES[0]
    words: list[str] = []
    for scale in reversed(range(len(_EN_SCALES))):
        group = n // 1000**scale % 1000
        if group:
            if british and scale == 0 and group < 100 and words:
                words.append("and")
            words += _en_below_thousand(group, british)
            if _EN_SCALES[scale]:
                words.append(_EN_SCALES[scale])
    return " ".join(words)


def en_words(
    amount: Decimal, *, currency_major: str = "", minor_digits: int = 2, british: bool = False
) -> str:
    """Spell ``amount`` in English cheque wording, lower case.

    ``amount`` is a non-negative Decimal below 10^15 with at most ``minor_digits`` decimals.
    ``currency_major`` (e.g. ``"dollars"``) is written after the integer words exactly as given.
    The minor unit is written as a fraction, ``and NN/100`` for two digits, and left out when
    ``minor_digits`` is 0. ``british`` adds the British "and" inside the integer words.

    >>> en_words(Decimal("12522.00"))
    'twelve thousand five hundred twenty-two and 00/100'
    >>> en_words(Decimal("12522.00"), currency_major="dollars")
    'twelve thousand five hundred twenty-two dollars and 00/100'
    >>> en_words(Decimal("101.5"))
    'one hundred one and 50/100'
    >>> en_words(Decimal("0"))
    'zero and 00/100'
    >>> en_words(Decimal("1000000"))
    'one million and 00/100'
    >>> en_words(Decimal("15000"), currency_major="yen", minor_digits=0)
    'fifteen thousand yen'
    >>> en_words(Decimal("2118.41"), currency_major="pounds sterling", british=True)
    'two thousand one hundred and eighteen pounds sterling and 41/100'
    >>> en_words(Decimal("1005"), british=True)
    'one thousand and five and 00/100'
    >>> en_words(Decimal("-1"))
    Traceback (most recent call last):
    ...
    ValueError: amount must not be negative, got -1
    """
    if isinstance(minor_digits, bool) or not isinstance(minor_digits, int):
        raise TypeError(f"minor_digits must be an int, not {type(minor_digits).__name__}")
    if minor_digits < 0:
        raise ValueError(f"minor_digits must be >= 0, got {minor_digits}")
    minor = _minor_units(amount, minor_digits, _EN_LIMIT)
    major, fraction = divmod(minor, 10**minor_digits)
    text = _en_integer(major, british)
    if currency_major:
        text += f" {currency_major}"
    if minor_digits:
        text += f" and {fraction:0{minor_digits}d}/{10**minor_digits}"
    return text
