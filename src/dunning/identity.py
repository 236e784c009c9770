"""Validate and mask identity numbers and phone numbers.

Takes the raw ``id_number`` / ``id_type`` / ``phone`` strings of a record and gives back the
normalized number (or an :class:`IdNumberError` saying what is wrong and what would be accepted)
and the masked forms shown on a letter.

Privacy: a full identity number must never reach a letter, a log, a file name or the manifest.
Error messages therefore describe the problem (length, position, kind of character) but never
repeat the number, any part of it, or its birth date.

Pure functions, standard library only.
"""

from __future__ import annotations

import datetime as dt
import operator
import re
import unicodedata

__all__ = [
    "ID_TYPES",
    "IdNumberError",
    "cn_check_char",
    "mask_id",
    "mask_phone",
    "validate_id",
]

ID_TYPES: tuple[str, ...] = ("cn_resident", "hk_id", "tw_id", "passport", "other")

_LABELS: dict[str, str] = {
    "cn_resident": "mainland resident ID number",
    "hk_id": "Hong Kong identity card number",
    "tw_id": "Taiwan ID number",
    "passport": "passport number",
    "other": "ID number",
}

_ACCEPTED: dict[str, str] = {
    "cn_resident": "18 characters: 17 digits followed by a check character (0-9 or X)",
    "hk_id": (
        "one or two letters, six digits and a check digit (0-9 or A), "
        "the check digit optionally in parentheses"
    ),
    "tw_id": (
        "10 characters: a letter, then 1 or 2 (or 8 or 9 for a resident certificate), "
        "then 8 more digits"
    ),
    "passport": "5 to 20 letters (A-Z) and digits (0-9)",
    "other": "1 to 64 printable ASCII characters without spaces",
}

_DIGITS = frozenset("0123456789")
_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")

# GB 11643-1999: weight of position i (1-based) is 2**(18 - i) mod 11.
_CN_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CN_CHECK = "10X98765432"
#: What the weighted sum of 17 "0" characters' code points adds to that of the digits.
_CN_ZEROS = ord("0") * sum(_CN_WEIGHTS)
_CN_FIRST_BIRTH = dt.date(1900, 1, 1)
_CN_LAST_BIRTH = dt.date(2099, 12, 31)
# Characters 7-14 (1-based) of an 18-character mainland ID are the birth date.
_CN_BIRTH_SLICE = slice(6, 14)
_CN_SHAPE = re.compile(r"[0-9]{17}[0-9Xx]")

_HK_SHAPE = re.compile(r"([A-Z]{1,2})([0-9]{6})(?:\(([0-9A])\)|([0-9A]))")
_HK_SPACE_VALUE = 36  # a single-letter prefix counts as if preceded by a space

# Taiwan: the letter stands for a two-digit area code.
_TW_CODES: dict[str, int] = {
    "A": 10, "B": 11, "C": 12, "D": 13, "E": 14, "F": 15, "G": 16, "H": 17, "I": 34,
    "J": 18, "K": 19, "L": 20, "M": 21, "N": 22, "O": 35, "P": 23, "Q": 24, "R": 25,
    "S": 26, "T": 27, "U": 28, "V": 29, "W": 32, "X": 30, "Y": 31, "Z": 33,
}  # fmt: skip
_TW_WEIGHTS = (1, 9, 8, 7, 6, 5, 4, 3, 2, 1, 1)
_TW_SECOND = frozenset("1289")

_OTHER_MAX = 64
_PASSPORT_MIN, _PASSPORT_MAX = 5, 20

# E.164 country codes are prefix-free: "1" and "7" are one digit, these are two digits,
# every other code is three digits.
_TWO_DIGIT_COUNTRY_CODES = frozenset(
    "20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 51 52 53 54 55 56 57 58 "
    "60 61 62 63 64 65 66 81 82 84 86 90 91 92 93 94 95 98".split()
)
_PHONE_SEPARATORS = frozenset(" -.()\t")


class IdNumberError(ValueError):
    """An identity number that cannot be accepted.

    Carries ``problem`` (what is wrong) and ``accepted`` (what would be accepted), both human
    readable English that never contains the number itself.

    >>> err = IdNumberError("passport number has 3 characters", "5 to 20 letters and digits")
    >>> str(err)
    'passport number has 3 characters; expected 5 to 20 letters and digits'
    >>> err.problem, err.accepted
    ('passport number has 3 characters', '5 to 20 letters and digits')
    """

    def __init__(self, problem: str, accepted: str) -> None:
        super().__init__(f"{problem}; expected {accepted}")
        self.problem = problem
        self.accepted = accepted

    def __reduce__(self) -> tuple[type[IdNumberError], tuple[str, str]]:
        # Keeps the error picklable (e.g. when raised in a worker process).
        return (type(self), (self.problem, self.accepted))


def cn_check_char(first17: str) -> str:
    """Return the GB 11643-1999 check character for the first 17 digits of a mainland ID.

    >>> cn_check_char("11010519491231002")
    'X'
    >>> cn_check_char("44030819900307001")
    '3'
    >>> try:
    ...     cn_check_char("1101051949123100")
    ... except IdNumberError as err:
    ...     print(err.problem)
    need exactly 17 digits to compute a check character, got 16 characters
    """
    if len(first17) != len(_CN_WEIGHTS) or not (first17.isascii() and first17.isdigit()):
        raise IdNumberError(
            f"need exactly 17 digits to compute a check character, got {len(first17)} characters"
            + ("" if set(first17) <= _DIGITS else " including non-digits"),
            "17 digits (0-9)",
        )
    # the digits' code points less 48 ("0"), weighted: one pass in C over the bytes
    total = sum(map(operator.mul, first17.encode("ascii"), _CN_WEIGHTS)) - _CN_ZEROS
    return _CN_CHECK[total % 11]


def validate_id(id_number: str, id_type: str = "cn_resident") -> str:
    """Return ``id_number`` normalized, or raise :class:`IdNumberError`.

    Normalizing strips surrounding whitespace, uppercases letters and, for ``hk_id``, drops the
    parentheses around the check digit. ``id_type`` is one of :data:`ID_TYPES`.

    >>> validate_id(" 11010519491231002x ")
    '11010519491231002X'
    >>> validate_id("a123456(3)", "hk_id")
    'A1234563'
    >>> validate_id("A123456789", "tw_id")
    'A123456789'
    >>> validate_id("e12345678", "passport")
    'E12345678'
    >>> try:
    ...     validate_id("110105194912310021")
    ... except IdNumberError as err:
    ...     print(err.problem)
    ...     print(err.accepted)
    mainland resident ID number: check character does not match the other 17 digits
    18 characters: 17 digits followed by a check character (0-9 or X)
    >>> try:
    ...     validate_id("110105491231002")
    ... except IdNumberError as err:
    ...     print(err.problem)
    mainland resident ID number has 15 digits (legacy 15-digit numbers are not accepted)
    """
    if id_type not in ID_TYPES:
        raise IdNumberError(
            f"unknown id_type {id_type[:40]!r}", "an id_type of: " + ", ".join(ID_TYPES)
        )
    label = _LABELS[id_type]
    accepted = _ACCEPTED[id_type]
    number = id_number.strip()
    if not number:
        raise IdNumberError(f"{label} is empty", accepted)
    _check_characters(number, label, accepted)
    number = number.upper()
    if id_type == "cn_resident":
        return _validate_cn(number, label, accepted)
    if id_type == "hk_id":
        return _validate_hk(number, label, accepted)
    if id_type == "tw_id":
        return _validate_tw(number, label, accepted)
    if id_type == "passport":
        return _validate_passport(number, label, accepted)
    if len(number) > _OTHER_MAX:
        raise IdNumberError(f"{label} has {len(number)} characters", accepted)
    return number


def mask_id(id_number: str, keep_start: int = 3, keep_end: int = 4, mask_char: str = "*") -> str:
    """Show the first ``keep_start`` and last ``keep_end`` characters, mask the rest.

    Surrounding whitespace is stripped; each hidden character becomes one ``mask_char``, so the
    result has the same length as the (stripped) input. At most half the characters are ever
    shown: when ``keep_start + keep_end`` exceeds ``len // 2``, ``keep_start`` shrinks first, then
    ``keep_end``. When the value has the shape of a mainland resident ID (17 digits and a check
    character), characters 7-14 (the birth date) stay hidden whatever the keep counts say.

    >>> mask_id("11010519491231002X")
    '110***********002X'
    >>> mask_id("A1234563")
    '****4563'
    >>> mask_id("E12345678", keep_start=1, keep_end=2, mask_char="#")
    'E######78'
    >>> mask_id("11010519491231002X", keep_start=9, keep_end=0)
    '110105************'
    >>> mask_id("")
    ''
    """
    if keep_start < 0 or keep_end < 0:
        raise ValueError("keep_start and keep_end must not be negative")
    if len(mask_char) != 1:
        raise ValueError("mask_char must be exactly one character")
    value = id_number.strip()
    if _CN_SHAPE.fullmatch(value):
        keep_start = min(keep_start, _CN_BIRTH_SLICE.start)
        keep_end = min(keep_end, len(value) - _CN_BIRTH_SLICE.stop)
    return _mask(value, keep_start, keep_end, mask_char)


def mask_phone(phone: str) -> str:
    """Mask a phone number, showing only some of its digits.

    Spaces, dashes, dots, parentheses and a leading ``+`` country code are dropped; the result is
    the masked digits only. An 11-digit mainland mobile number keeps its first 3 and last 4
    digits; any other number keeps the last 4 (and the first ones while room is left) but never
    shows more than half of its digits. Raises ``ValueError`` for other characters.

    >>> mask_phone("13812345678")
    '138****5678'
    >>> mask_phone("+86 138-1234-5678")
    '138****5678'
    >>> mask_phone("+852 9123 4567")
    '****4567'
    >>> mask_phone("(021) 6123-4567")
    '0******4567'
    >>> mask_phone("")
    ''
    """
    text = phone.strip()
    for position, char in enumerate(text, start=1):
        if char not in _DIGITS and char not in _PHONE_SEPARATORS and (char, position) != ("+", 1):
            raise ValueError(
                "phone number has a character other than a digit or separator "
                f"at position {position}"
            )
    digits = "".join(char for char in text if char in _DIGITS)
    country_code = _country_code(digits) if text.startswith("+") else ""
    digits = digits[len(country_code) :]
    if len(digits) == 11 and digits.startswith("1") and country_code in ("", "86"):
        return digits[:3] + "*" * 4 + digits[-4:]
    return _mask(digits, 3, 4, "*")


# --- helpers -------------------------------------------------------------------------------------


def _mask(value: str, keep_start: int, keep_end: int, mask_char: str) -> str:
    """Mask ``value`` keeping at most ``len // 2`` characters, shrinking the start first."""
    excess = keep_start + keep_end - len(value) // 2
    if excess > 0:
        cut = min(excess, keep_start)
        keep_start -= cut
        keep_end -= excess - cut
    hidden = len(value) - keep_start - keep_end
    return value[:keep_start] + mask_char * hidden + value[len(value) - keep_end :]


def _country_code(digits: str) -> str:
    """Return the E.164 country code that ``digits`` (without the ``+``) starts with."""
    if digits[:1] in ("1", "7"):
        return digits[:1]
    if digits[:2] in _TWO_DIGIT_COUNTRY_CODES:
        return digits[:2]
    return digits[:3]


def _check_characters(number: str, label: str, accepted: str) -> None:
    """Reject whitespace inside, control characters and non-ASCII characters, by position."""
    if number.isascii() and number.isalnum():
        return  # the common case, in one pass
    for position, char in enumerate(number, start=1):
        if char.isspace():
            problem = f"{label} contains whitespace at position {position}"
        elif unicodedata.category(char) == "Cc":
            problem = (
                f"{label} contains a control character (U+{ord(char):04X}) at position {position}"
            )
        elif not char.isascii():
            kind = "full-width" if "\uff01" <= char <= "\uff5e" else "non-ASCII"
            problem = (
                f"{label} contains a {kind} character at position {position} "
                "(only ASCII letters and digits are accepted)"
            )
        else:
            continue
        raise IdNumberError(problem, accepted)


def _first_not_in(value: str, allowed: frozenset[str]) -> int:
    """Return the 1-based position of the first character not in ``allowed``, else 0."""
    for position, char in enumerate(value, start=1):
        if char not in allowed:
            return position
    return 0


def _validate_cn(number: str, label: str, accepted: str) -> str:
    if len(number) != 18:
        if len(number) == 15 and set(number) <= _DIGITS:
            problem = f"{label} has 15 digits (legacy 15-digit numbers are not accepted)"
        else:
            problem = f"{label} has {len(number)} characters"
        raise IdNumberError(problem, accepted)
    bad = 0 if number[:17].isdigit() else _first_not_in(number[:17], _DIGITS)  # ASCII here
    if bad:
        raise IdNumberError(f"{label}: character {bad} is not a digit", accepted)
    if number[17] not in _DIGITS and number[17] != "X":
        raise IdNumberError(f"{label}: the last character is neither a digit nor X", accepted)
    birth = number[_CN_BIRTH_SLICE]
    try:
        born = dt.date(int(birth[:4]), int(birth[4:6]), int(birth[6:]))
    except ValueError:
        raise IdNumberError(
            f"{label}: the birth date (characters 7-14) is not a real calendar date",
            "a birth date YYYYMMDD in characters 7-14 that exists in the calendar",
        ) from None
    if not _CN_FIRST_BIRTH <= born <= _CN_LAST_BIRTH:
        raise IdNumberError(
            f"{label}: the birth date (characters 7-14) is outside the supported range",
            "a birth date YYYYMMDD in characters 7-14 between 19000101 and 20991231",
        )
    if cn_check_char(number[:17]) != number[17]:
        raise IdNumberError(
            f"{label}: check character does not match the other 17 digits", accepted
        )
    return number


def _hk_value(char: str) -> int:
    return 10 + ord(char) - ord("A") if char in _LETTERS else int(char)


def _validate_hk(number: str, label: str, accepted: str) -> str:
    match = _HK_SHAPE.fullmatch(number)
    if match is None:
        raise IdNumberError(f"{label} does not have the expected layout", accepted)
    prefix, digits = match[1], match[2]
    check = match[3] or match[4]
    values = [_HK_SPACE_VALUE] * (2 - len(prefix)) + [_hk_value(c) for c in prefix + digits]
    total = sum(value * weight for value, weight in zip(values, range(9, 1, -1), strict=True))
    expected = (11 - total % 11) % 11
    if _hk_value(check) != expected:
        raise IdNumberError(
            f"{label}: check digit does not match the letters and digits before it", accepted
        )
    return prefix + digits + check


def _validate_tw(number: str, label: str, accepted: str) -> str:
    if len(number) != 10:
        raise IdNumberError(f"{label} has {len(number)} characters", accepted)
    if number[0] not in _LETTERS:
        raise IdNumberError(f"{label}: the first character is not a letter", accepted)
    bad = _first_not_in(number[1:], _DIGITS)
    if bad:
        raise IdNumberError(f"{label}: character {bad + 1} is not a digit", accepted)
    if number[1] not in _TW_SECOND:
        raise IdNumberError(f"{label}: the second character is not 1, 2, 8 or 9", accepted)
    code = _TW_CODES[number[0]]
    digits = [code // 10, code % 10] + [int(c) for c in number[1:]]
    if sum(d * w for d, w in zip(digits, _TW_WEIGHTS, strict=True)) % 10:
        raise IdNumberError(
            f"{label}: check digit does not match the letter and digits before it", accepted
        )
    return number


def _validate_passport(number: str, label: str, accepted: str) -> str:
    if not _PASSPORT_MIN <= len(number) <= _PASSPORT_MAX:
        raise IdNumberError(f"{label} has {len(number)} characters", accepted)
    bad = _first_not_in(number, _LETTERS | _DIGITS)
    if bad:
        raise IdNumberError(f"{label}: character {bad} is not a letter or digit", accepted)
    return number
