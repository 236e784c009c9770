"""Tests for dunning.identity: identity-number validation and masking.

The check-digit helpers below are written independently of the module (different formulas,
brute force over the check value) so a shared mistake cannot make both sides agree.
"""

from __future__ import annotations

import datetime as dt
import pickle
import re
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dunning.identity import (
    ID_TYPES,
    IdNumberError,
    cn_check_char,
    mask_id,
    mask_phone,
    validate_id,
)

PUBLIC_CN = "11010519491231002X"

# --- independent reference implementations ------------------------------------------------------


def ref_cn_check(first17: str) -> str:
    """ISO 7064 MOD 11-2: the check value c makes sum(d_i * 2**(17-i)) + c == 1 (mod 11)."""
    total = sum(int(d) * pow(2, 17 - i, 11) for i, d in enumerate(first17))
    (value,) = [c for c in range(11) if (total + c) % 11 == 1]
    return "X" if value == 10 else str(value)


def make_cn(region: str = "440308", born: str = "19900307", seq: str = "001") -> str:
    first17 = region + born + seq
    return first17 + ref_cn_check(first17)


HK_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ "  # index = value; space = 36


def ref_hk_check(prefix: str, digits: str) -> str:
    """Brute force the check value c with sum(v_k * (9 - k)) + c == 0 (mod 11), k = 0..8."""
    body = prefix.rjust(2) + digits
    total = sum(HK_ALPHABET.index(ch) * (9 - k) for k, ch in enumerate(body))
    (value,) = [c for c in range(11) if (total + c) % 11 == 0]
    return HK_ALPHABET[value]


TW_LETTER_ORDER = "ABCDEFGHJKLMNPQRSTUVXYWZIO"  # letter code = index + 10


def ref_tw_valid(number: str) -> bool:
    code = TW_LETTER_ORDER.index(number[0]) + 10
    digits = [int(d) for d in number[1:]]
    total = code // 10 + 9 * (code % 10)
    total += sum(d * (8 - k) for k, d in enumerate(digits[:8])) + digits[8]
    return total % 10 == 0


def make_tw(letter: str, first9_without_check: str) -> str:
    (check,) = [c for c in "0123456789" if ref_tw_valid(letter + first9_without_check + c)]
    return letter + first9_without_check + check


def test_reference_helpers_agree_with_published_examples() -> None:
    assert ref_cn_check(PUBLIC_CN[:17]) == "X"
    assert ref_hk_check("A", "123456") == "3"  # A123456(3), the usual published example
    assert ref_tw_valid("A123456789")  # the usual published example


# --- IdNumberError -------------------------------------------------------------------------------


def test_error_carries_problem_and_accepted() -> None:
    err = IdNumberError("it is wrong", "something right")
    assert isinstance(err, ValueError)
    assert err.problem == "it is wrong"
    assert err.accepted == "something right"
    assert str(err) == "it is wrong; expected something right"


def test_error_survives_pickling() -> None:
    err = pickle.loads(pickle.dumps(IdNumberError("p", "a")))
    assert isinstance(err, IdNumberError)
    assert (err.problem, err.accepted, str(err)) == ("p", "a", "p; expected a")


# --- cn_check_char -------------------------------------------------------------------------------


def test_cn_check_char_public_value() -> None:
    assert cn_check_char(PUBLIC_CN[:17]) == "X"


@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_cn_check_char_matches_reference(first17: str) -> None:
    assert cn_check_char(first17) == ref_cn_check(first17)


def test_cn_check_char_covers_all_eleven_values() -> None:
    seen = {cn_check_char(f"1101051949123100{d}") for d in "0123456789"}
    seen |= {cn_check_char(f"110105194912310{d}0") for d in "0123456789"}
    assert seen == set("0123456789X")


@pytest.mark.parametrize("bad", ["", "1101051949123100", "110105194912310021", "1101051949123100A"])
def test_cn_check_char_rejects_wrong_input(bad: str) -> None:
    with pytest.raises(IdNumberError, match="17 digits"):
        cn_check_char(bad)


# --- cn_resident ---------------------------------------------------------------------------------


def test_public_value_is_valid() -> None:
    assert validate_id(PUBLIC_CN) == PUBLIC_CN
    assert validate_id(PUBLIC_CN, "cn_resident") == PUBLIC_CN


def test_cn_is_the_default_type() -> None:
    with pytest.raises(IdNumberError, match="mainland resident"):
        validate_id("A123456789")


@pytest.mark.parametrize(
    "raw",
    [" 11010519491231002X", "11010519491231002x", "\t11010519491231002x \n", "\u3000" + PUBLIC_CN],
)
def test_cn_normalizes_whitespace_and_case(raw: str) -> None:
    assert validate_id(raw) == PUBLIC_CN


@given(
    region=st.text(alphabet="0123456789", min_size=6, max_size=6),
    born=st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2099, 12, 31)),
    seq=st.text(alphabet="0123456789", min_size=3, max_size=3),
)
def test_cn_generated_numbers_are_valid(region: str, born: dt.date, seq: str) -> None:
    number = make_cn(region, born.strftime("%Y%m%d"), seq)
    assert validate_id(number) == number


@pytest.mark.parametrize("position", range(17))
def test_cn_every_single_digit_change_is_rejected(position: int) -> None:
    for digit in "0123456789":
        if digit == PUBLIC_CN[position]:
            continue
        mutated = PUBLIC_CN[:position] + digit + PUBLIC_CN[position + 1 :]
        with pytest.raises(IdNumberError) as info:
            validate_id(mutated)
        if "birth date" not in info.value.problem:
            assert "check character does not match" in info.value.problem


@pytest.mark.parametrize("check", sorted(set("0123456789X") - {"X"}))
def test_cn_wrong_check_character(check: str) -> None:
    with pytest.raises(IdNumberError) as info:
        validate_id(PUBLIC_CN[:17] + check)
    assert info.value.problem == (
        "mainland resident ID number: check character does not match the other 17 digits"
    )
    assert "check character (0-9 or X)" in info.value.accepted


def test_cn_wrong_check_character_on_date_positions() -> None:
    # Changing a date digit to another valid date must still be caught by the check character.
    mutated = "110105194912210" + PUBLIC_CN[15:]  # 19491221 is a real date
    with pytest.raises(IdNumberError, match="check character does not match"):
        validate_id(mutated)


@pytest.mark.parametrize(
    "born", ["20000229", "19000101", "20991231", "19960229", "19491231", "20240131"]
)
def test_cn_real_dates_are_accepted(born: str) -> None:
    number = make_cn(born=born)
    assert validate_id(number) == number


@pytest.mark.parametrize(
    ("born", "what"),
    [
        ("19000229", "not a real calendar date"),  # 1900 is not a leap year
        ("21000229", "not a real calendar date"),
        ("19990431", "not a real calendar date"),
        ("19991301", "not a real calendar date"),
        ("19990000", "not a real calendar date"),
        ("19990100", "not a real calendar date"),
        ("00000000", "not a real calendar date"),
        ("18991231", "outside the supported range"),
        ("21000101", "outside the supported range"),
    ],
)
def test_cn_bad_birth_dates_are_rejected(born: str, what: str) -> None:
    number = make_cn(born=born)  # valid check character: the date is the only problem
    with pytest.raises(IdNumberError) as info:
        validate_id(number)
    assert what in info.value.problem
    assert "characters 7-14" in info.value.problem
    assert "YYYYMMDD" in info.value.accepted
    assert born not in str(info.value)


def test_cn_legacy_15_digit_number_is_rejected() -> None:
    with pytest.raises(IdNumberError) as info:
        validate_id("110105491231002")
    assert "15 digits" in info.value.problem
    assert "legacy" in info.value.problem
    assert info.value.accepted.startswith("18 characters")
    assert "expected 18 characters" in str(info.value)


@pytest.mark.parametrize(
    ("number", "problem"),
    [
        (PUBLIC_CN[:17], "has 17 characters"),
        (PUBLIC_CN + "1", "has 19 characters"),
        ("1101051949123100AX", "character 17 is not a digit"),
        ("X10105194912310021", "character 1 is not a digit"),
        ("11010519491231002Y", "last character is neither a digit nor X"),
    ],
)
def test_cn_layout_errors(number: str, problem: str) -> None:
    with pytest.raises(IdNumberError) as info:
        validate_id(number)
    assert problem in info.value.problem
    assert "17 digits followed by a check character" in info.value.accepted


# --- hk_id ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("A123456(3)", "A1234563"),
        ("A1234563", "A1234563"),
        ("a123456(3)", "A1234563"),
        (" G123456(A) ", "G123456A"),
        ("g123456a", "G123456A"),
    ],
)
def test_hk_valid(raw: str, normalized: str) -> None:
    assert validate_id(raw, "hk_id") == normalized


@given(
    prefix=st.text(alphabet=string.ascii_uppercase, min_size=1, max_size=2),
    digits=st.text(alphabet="0123456789", min_size=6, max_size=6),
    parens=st.booleans(),
)
def test_hk_generated_numbers_are_valid(prefix: str, digits: str, parens: bool) -> None:
    check = ref_hk_check(prefix, digits)
    raw = f"{prefix}{digits}({check})" if parens else f"{prefix}{digits}{check}"
    assert validate_id(raw, "hk_id") == prefix + digits + check
    for wrong in set("0123456789A") - {check}:
        with pytest.raises(IdNumberError, match="check digit does not match"):
            validate_id(prefix + digits + wrong, "hk_id")


def test_hk_two_letter_prefix_known_value() -> None:
    check = ref_hk_check("AB", "987654")
    assert validate_id(f"AB987654({check})", "hk_id") == f"AB987654{check}"


@pytest.mark.parametrize(
    "raw",
    [
        "A1234567(3)",  # seven digits
        "A12345(3)",  # five digits
        "ABC123456(3)",  # three letters
        "123456(3)",  # no letter
        "A123456(B)",  # check must be 0-9 or A
        "A123456(3",  # unbalanced parenthesis
        "A123456()",
        "A123456",  # no check digit
        "A123456[3]",
    ],
)
def test_hk_layout_errors(raw: str) -> None:
    with pytest.raises(IdNumberError) as info:
        validate_id(raw, "hk_id")
    assert info.value.problem == "Hong Kong identity card number does not have the expected layout"
    assert "one or two letters, six digits" in info.value.accepted


def test_hk_wrong_check_digit() -> None:
    with pytest.raises(IdNumberError) as info:
        validate_id("A123456(4)", "hk_id")
    assert "check digit does not match" in info.value.problem
    assert "0-9 or A" in info.value.accepted


# --- tw_id ---------------------------------------------------------------------------------------


def test_tw_published_example() -> None:
    assert validate_id("A123456789", "tw_id") == "A123456789"
    assert validate_id(" a123456789 ", "tw_id") == "A123456789"


@given(
    letter=st.sampled_from(string.ascii_uppercase),
    second=st.sampled_from("1289"),
    rest=st.text(alphabet="0123456789", min_size=7, max_size=7),
)
def test_tw_generated_numbers_are_valid(letter: str, second: str, rest: str) -> None:
    number = make_tw(letter, second + rest)
    assert validate_id(number, "tw_id") == number
    wrong = number[:-1] + str((int(number[-1]) + 1) % 10)
    with pytest.raises(IdNumberError, match="check digit does not match"):
        validate_id(wrong, "tw_id")


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("A12345678", "has 9 characters"),
        ("A1234567890", "has 11 characters"),
        ("1123456789", "first character is not a letter"),
        ("AB23456789", "character 2 is not a digit"),
        ("A1234567B9", "character 9 is not a digit"),
        ("A323456789", "second character is not 1, 2, 8 or 9"),
        ("A023456789", "second character is not 1, 2, 8 or 9"),
        ("A123456788", "check digit does not match"),
    ],
)
def test_tw_errors(raw: str, problem: str) -> None:
    with pytest.raises(IdNumberError) as info:
        validate_id(raw, "tw_id")
    assert problem in info.value.problem
    assert "a letter, then 1 or 2" in info.value.accepted


# --- passport and other --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("E1234", "E1234"),
        ("e12345678", "E12345678"),
        ("A" * 20, "A" * 20),
        ("123456789", "123456789"),
    ],
)
def test_passport_valid(raw: str, normalized: str) -> None:
    assert validate_id(raw, "passport") == normalized


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("E123", "has 4 characters"),
        ("E" * 21, "has 21 characters"),
        ("E1234-567", "character 6 is not a letter or digit"),
        ("E1234.567", "character 6 is not a letter or digit"),
    ],
)
def test_passport_errors(raw: str, problem: str) -> None:
    with pytest.raises(IdNumberError) as info:
        validate_id(raw, "passport")
    assert problem in info.value.problem
    assert info.value.accepted == "5 to 20 letters (A-Z) and digits (0-9)"


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [("x", "X"), ("AB-12/34.56#", "AB-12/34.56#"), ("!" * 64, "!" * 64), (" 7 ", "7")],
)
def test_other_valid(raw: str, normalized: str) -> None:
    assert validate_id(raw, "other") == normalized


def test_other_too_long() -> None:
    with pytest.raises(IdNumberError) as info:
        validate_id("9" * 65, "other")
    assert "has 65 characters" in info.value.problem
    assert "1 to 64 printable" in info.value.accepted


# --- errors common to every type -----------------------------------------------------------------


def test_unknown_id_type_names_accepted_types() -> None:
    with pytest.raises(IdNumberError) as info:
        validate_id(PUBLIC_CN, "ssn")
    assert "unknown id_type 'ssn'" in info.value.problem
    for id_type in ID_TYPES:
        assert id_type in info.value.accepted
    assert PUBLIC_CN not in str(info.value)


def test_id_types() -> None:
    assert ID_TYPES == ("cn_resident", "hk_id", "tw_id", "passport", "other")


@pytest.mark.parametrize("id_type", ID_TYPES)
@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("A123 4563", "contains whitespace at position 5"),
        ("A123\t4563", "contains whitespace at position 5"),
        ("A123\u30004563", "contains whitespace at position 5"),
        ("A123\x004563", "contains a control character (U+0000) at position 5"),
        ("A123\x7f4563", "contains a control character (U+007F) at position 5"),
        ("A123\u200b4563", "contains a non-ASCII character at position 5"),
        ("\ufeffA1234563", "contains a non-ASCII character at position 1"),
        ("A123\uff144563", "contains a full-width character at position 5"),
        ("A123é4563", "contains a non-ASCII character at position 5"),
    ],
)
def test_bad_characters_are_rejected_for_every_type(id_type: str, raw: str, problem: str) -> None:
    with pytest.raises(IdNumberError) as info:
        validate_id(raw, id_type)
    assert problem in info.value.problem
    assert info.value.accepted


FULL_WIDTH_DIGITS = {ord(d): ord(d) + 0xFEE0 for d in "0123456789"}

INVALID_CASES = [
    ("cn_resident", "110105194912310021"),
    ("cn_resident", "110105491231002"),
    ("cn_resident", "110105190002290011"),
    ("cn_resident", "11010519491231002Y"),
    ("cn_resident", "1101051949 1231002X"),
    ("cn_resident", "11010519491231002X\x00"),
    ("cn_resident", "11010519491231002X".translate(FULL_WIDTH_DIGITS)),
    ("cn_resident", "A123456789"),
    ("hk_id", "A123456(4)"),
    ("hk_id", "ZZZ1234567"),
    ("tw_id", "A123456788"),
    ("tw_id", "A323456789"),
    ("passport", "E1234-56789"),
    ("passport", "E123456789012345678901"),
    ("other", "Q" * 65),
    ("ssn", "11010519491231002X"),
]


@pytest.mark.parametrize(("id_type", "raw"), INVALID_CASES)
def test_error_message_never_contains_the_number(id_type: str, raw: str) -> None:
    with pytest.raises(IdNumberError) as info:
        validate_id(raw, id_type)
    message = str(info.value)
    assert message == f"{info.value.problem}; expected {info.value.accepted}"
    assert info.value.problem
    assert info.value.accepted
    for shown in {raw, raw.strip(), raw.upper(), raw.replace("(", "").replace(")", "")}:
        assert shown.upper() not in message.upper()
    if id_type == "cn_resident" and len(raw) == 18:
        assert raw[6:14] not in message  # nor the birth date


@given(
    # ID-like text; no 12-character run of this alphabet occurs in the fixed message wording
    raw=st.text(alphabet="0123456789ABXZ()-\t\x00\u3000\uff11", min_size=12, max_size=30),
    id_type=st.sampled_from(ID_TYPES),
)
def test_error_messages_never_echo_random_input(raw: str, id_type: str) -> None:
    try:
        validate_id(raw, id_type)
    except IdNumberError as err:
        message = str(err).upper()
    else:
        return
    stripped = raw.strip()
    if len(stripped) >= 12:
        assert stripped not in message


# --- mask_id -------------------------------------------------------------------------------------


def test_mask_id_default() -> None:
    assert mask_id(PUBLIC_CN) == "110***********002X"


@pytest.mark.parametrize(
    ("value", "keep_start", "keep_end", "mask_char", "expected"),
    [
        ("", 3, 4, "*", ""),
        ("A", 3, 4, "*", "*"),
        ("AB", 3, 4, "*", "*B"),
        ("ABCD", 3, 4, "*", "**CD"),
        ("A1234563", 3, 4, "*", "****4563"),
        ("ABCDEFGHIJ", 4, 4, "*", "A*****GHIJ"),  # keep_start shrinks first
        ("ABCDEFGH", 0, 6, "*", "****EFGH"),  # then keep_end
        ("ABCDEFGHIJKLMN", 3, 4, "*", "ABC*******KLMN"),  # 7 of 14: exactly half
        ("ABCDEFGHIJKLMN", 0, 0, "*", "**************"),
        ("E12345678", 1, 2, "#", "E######78"),
        ("  A1234563  ", 3, 4, "*", "****4563"),  # surrounding whitespace stripped
    ],
)
def test_mask_id_cases(
    value: str, keep_start: int, keep_end: int, mask_char: str, expected: str
) -> None:
    assert mask_id(value, keep_start, keep_end, mask_char) == expected


def test_mask_id_keeps_birth_date_hidden_even_when_asked_to_show_it() -> None:
    assert mask_id(PUBLIC_CN, keep_start=9, keep_end=0) == "110105************"
    assert mask_id(PUBLIC_CN, keep_start=0, keep_end=9) == "**************002X"


@pytest.mark.parametrize(("keep_start", "keep_end"), [(-1, 4), (3, -1)])
def test_mask_id_rejects_negative_keep(keep_start: int, keep_end: int) -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        mask_id(PUBLIC_CN, keep_start, keep_end)


@pytest.mark.parametrize("mask_char", ["", "**"])
def test_mask_id_rejects_bad_mask_char(mask_char: str) -> None:
    with pytest.raises(ValueError, match="exactly one character"):
        mask_id(PUBLIC_CN, mask_char=mask_char)


@given(
    value=st.text(alphabet=string.ascii_uppercase + string.digits + "-/", max_size=40),
    keep_start=st.integers(min_value=0, max_value=50),
    keep_end=st.integers(min_value=0, max_value=50),
)
def test_mask_id_never_shows_more_than_half(value: str, keep_start: int, keep_end: int) -> None:
    masked = mask_id(value, keep_start, keep_end, mask_char="\u2022")
    assert len(masked) == len(value)
    shown = [i for i, ch in enumerate(masked) if ch != "\u2022"]
    assert len(shown) <= len(value) // 2
    assert all(masked[i] == value[i] for i in shown)
    # what is shown is a prefix and a suffix; everything between them is masked
    assert re.fullmatch("[^\u2022]*\u2022*[^\u2022]*", masked)


cn_numbers = st.builds(
    lambda region, born, seq: make_cn(region, born.strftime("%Y%m%d"), seq),
    st.text(alphabet="0123456789", min_size=6, max_size=6),
    st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2099, 12, 31)),
    st.text(alphabet="0123456789", min_size=3, max_size=3),
)


@given(
    number=cn_numbers,
    keep_start=st.integers(min_value=0, max_value=6),
    keep_end=st.integers(min_value=0, max_value=4),
)
def test_mask_id_never_shows_birth_date(number: str, keep_start: int, keep_end: int) -> None:
    masked = mask_id(number, keep_start, keep_end)
    assert len(masked) == len(number)
    assert number[6:14] not in masked


@given(
    number=cn_numbers,
    keep_start=st.integers(min_value=0, max_value=30),
    keep_end=st.integers(min_value=0, max_value=30),
)
def test_mask_id_hides_every_birth_date_character(
    number: str, keep_start: int, keep_end: int
) -> None:
    masked = mask_id(number, keep_start, keep_end)
    assert masked[6:14] == "*" * 8


# --- mask_phone ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phone", "expected"),
    [
        ("13812345678", "138****5678"),
        (" 138 1234 5678 ", "138****5678"),
        ("138-1234-5678", "138****5678"),
        ("+86 138 1234 5678", "138****5678"),
        ("+86-138-1234-5678", "138****5678"),
        ("+8613812345678", "138****5678"),
        ("+852 9123 4567", "****4567"),  # 8 digits: at most 4 shown
        ("+85291234567", "****4567"),
        ("+886 912 345 678", "*****5678"),  # 9 digits: at most 4 shown
        ("+1 415 555 0123", "4*****0123"),  # 10 digits: at most 5 shown
        ("+44 20 7946 0958", "2*****0958"),
        ("(021) 6123-4567", "0******4567"),  # 11 digits but not a mobile number
        ("021.6123.4567", "0******4567"),
        ("12345", "***45"),
        ("123", "**3"),
        ("7", "*"),
        ("", ""),
        ("   ", ""),
        ("+86", ""),
    ],
)
def test_mask_phone(phone: str, expected: str) -> None:
    assert mask_phone(phone) == expected


@pytest.mark.parametrize(
    "phone", ["138abc45678", "13812345678 ext 9", "+86+13812345678", "1381234567\uff18"]
)
def test_mask_phone_rejects_other_characters_without_echoing(phone: str) -> None:
    with pytest.raises(ValueError, match="other than a digit or separator") as info:
        mask_phone(phone)
    assert "1234" not in str(info.value)


@given(
    digits=st.text(alphabet="0123456789", max_size=20),
    separators=st.lists(st.sampled_from(" -."), max_size=20),
)
def test_mask_phone_shows_only_masked_digits(digits: str, separators: list[str]) -> None:
    phone = "".join(d + s for d, s in zip(digits, separators + [""] * len(digits), strict=False))
    masked = mask_phone(phone)
    assert set(masked) <= set("0123456789*")
    assert len(masked) == len(digits)
    shown = sum(ch != "*" for ch in masked)
    is_mobile = len(digits) == 11 and digits.startswith("1")
    assert shown <= (7 if is_mobile else len(digits) // 2)
    kept_end = 4 if is_mobile else min(4, len(digits) // 2)
    assert masked[len(masked) - kept_end :] == digits[len(digits) - kept_end :]
