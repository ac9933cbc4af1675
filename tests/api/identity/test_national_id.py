import doctest
from datetime import date

import pytest

from api.identity import (
    NationalIdError,
    cn_check_character,
    make_test_id,
    parse_cn_resident_id,
    validate_national_id,
)
from api.identity import national_id as national_id_module

# The worked example of GB 11643-1999.
STANDARD = "11010519491231002X"
TODAY = date(2026, 6, 1)


def test_docstring_examples_hold():
    result = doctest.testmod(national_id_module)
    assert result.attempted > 0
    assert result.failed == 0


def test_standard_example_and_its_parts():
    parsed = parse_cn_resident_id(STANDARD, TODAY)
    assert parsed.number == STANDARD
    assert parsed.area_code == "110105"
    assert parsed.birth_date == date(1949, 12, 31)
    assert parsed.sequence == 2
    assert parsed.sex == "female"
    assert parse_cn_resident_id(make_test_id(7), TODAY).sex == "male"


@pytest.mark.parametrize(
    "typed",
    [
        STANDARD,
        STANDARD.lower(),
        " 110105 19491231 002x ",
        "110105-19491231-002X",
        "１１０１０５１９４９１２３１００２Ｘ",  # full-width, as Chinese input methods type it
    ],
)
def test_accepted_spellings_normalise(typed):
    assert validate_national_id(typed, today=TODAY) == STANDARD


def test_check_character_matches_iso_7064_mod_11_2():
    # Brute-force definition: the character that makes sum(d_i * 2^(18-i)) == 1 (mod 11).
    first17 = "44030419850101123"
    for candidate, value in [(str(v), v) for v in range(10)] + [("X", 10)]:
        digits = [int(d) for d in first17] + [value]
        if sum(d * pow(2, 17 - i, 11) for i, d in enumerate(digits)) % 11 == 1:
            expected = candidate
    assert cn_check_character(first17) == expected
    with pytest.raises(NationalIdError, match="17 digits"):
        cn_check_character("123")


def every_single_digit_error(number):
    for position in range(17):
        for digit in "0123456789":
            if digit != number[position]:
                yield number[:position] + digit + number[position + 1 :]


def test_every_single_digit_error_is_caught():
    # A typo in the date may make an impossible date instead; either way it is refused.
    for typo in every_single_digit_error(make_test_id(31, "440304", "19850101")):
        with pytest.raises(NationalIdError):
            validate_national_id(typo, today=TODAY)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no ID number given"),
        ("   ", "no ID number given"),
        ("110105491231002", "15-digit IDs"),
        ("11010519491231002", "18 characters, got 17"),
        ("11010519491231002XX", "18 characters, got 19"),
        ("1101A519491231002X", r"'A' at position 5 must be a digit"),
        ("11010519491231002Y", "last character must be a digit or X, got 'Y'"),
        ("99010519491231002X", "area code 990105 does not start with a known province"),
        ("00010519491231002X", "area code 000105"),
        ("110105199913400023", "birth date 19991340 is not a valid date"),
        ("110105202302290023", "birth date 20230229 is not a valid date"),
        ("110105189912310023", "birth date 18991231 is before 1900"),
        ("110105202701010023", "birth date 20270101 is in the future"),
        ("110105194912310021", "check digit does not match"),
        ("11010519491231020X", "check digit does not match"),  # 0 and 2 swapped
    ],
)
def test_rejections_say_what_is_wrong(text, message):
    with pytest.raises(NationalIdError, match=message):
        validate_national_id(text, today=TODAY)


def test_leap_day_and_today_are_accepted():
    assert validate_national_id(make_test_id(5, birth="20000229"), today=TODAY)
    assert validate_national_id(make_test_id(5, birth=TODAY), today=TODAY)


def test_foreign_permanent_residence_prefix_uses_the_province_after_the_nine():
    assert make_test_id(1, area="931000").startswith("931000")
    with pytest.raises(NationalIdError, match="known province"):
        make_test_id(1, area="900000")


def test_make_test_id_checks_its_arguments():
    assert make_test_id(0).endswith(cn_check_character(make_test_id(0)[:17]))
    assert len({make_test_id(n) for n in range(1000)}) == 1000
    with pytest.raises(ValueError, match="0-999"):
        make_test_id(1000)
    with pytest.raises(NationalIdError, match="not a valid date"):
        make_test_id(1, birth="19900231")


def test_other_countries_get_a_plain_shape_check():
    assert validate_national_id(" ab-123 456 ", country="fr") == "AB123456"
    assert validate_national_id("X1234567Z", country="ES") == "X1234567Z"
    with pytest.raises(NationalIdError, match="5 to 20 letters and digits, got 3"):
        validate_national_id("A12", country="DE")
    with pytest.raises(NationalIdError, match="including other symbols"):
        validate_national_id("AB#12345", country="DE")
    with pytest.raises(NationalIdError, match="no ID number"):
        validate_national_id(" - ", country="DE")
    with pytest.raises(ValueError, match="alpha-2"):
        validate_national_id("AB123456", country="FRA")
