import doctest

import pytest

from api.identity import PhoneError, validate_phone
from api.identity import phone as phone_module


def test_docstring_examples_hold():
    result = doctest.testmod(phone_module)
    assert result.attempted > 0
    assert result.failed == 0


@pytest.mark.parametrize(
    ("typed", "e164"),
    [
        ("13800138000", "+8613800138000"),
        ("138 0013 8000", "+8613800138000"),
        ("138-0013-8000", "+8613800138000"),
        ("+86 138 0013 8000", "+8613800138000"),
        ("0086 13800138000", "+8613800138000"),
        ("１３８００１３８０００", "+8613800138000"),
        ("010-6552 9988", "+861065529988"),  # Beijing landline
        ("+44 20 7946 0958", "+442079460958"),
        ("+1 (650) 253-0000", "+16502530000"),
    ],
)
def test_accepted_numbers_normalise_to_e164(typed, e164):
    assert validate_phone(typed) == e164


def test_default_region_reads_national_numbers():
    assert validate_phone("020 7946 0958", default_region="GB") == "+442079460958"


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "no phone number given"),
        ("  ", "no phone number given"),
        ("phone", "not a phone number"),
        ("+999 1234567", "not a phone number"),
        ("12", "too few digits"),
        ("12345", "local number; add the area code"),
        ("+86 138 0013 80000", "too many digits|not a valid number"),
        ("+86 128 0013 8000", "not a valid number in CN"),
        ("+8613800138000 ext. 5", "extensions are not supported"),
    ],
)
def test_rejections_say_what_is_wrong(typed, message):
    with pytest.raises(PhoneError, match=message):
        validate_phone(typed)


def test_mobile_only_refuses_landlines():
    assert validate_phone("13800138000", mobile_only=True) == "+8613800138000"
    with pytest.raises(PhoneError, match="not a mobile number"):
        validate_phone("010 6552 9988", mobile_only=True)
