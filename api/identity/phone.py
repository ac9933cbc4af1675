"""Phone numbers, checked with libphonenumber's metadata and stored in E.164 form."""

from __future__ import annotations

import unicodedata

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

_TOO_SHORT = {
    phonenumbers.ValidationResult.TOO_SHORT,
    phonenumbers.ValidationResult.INVALID_LENGTH,
}
_MOBILE_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}


class PhoneError(ValueError):
    """A phone number is malformed or impossible; the message says how."""


def validate_phone(text: str, default_region: str = "CN", *, mobile_only: bool = False) -> str:
    """The E.164 form (``+8613800138000``) of a phone number, or :class:`PhoneError`.

    Accepts international numbers (``+44 20 7946 0958``, ``0044 ...``) and,
    without a country prefix, numbers of ``default_region``: for China the
    11-digit mobile numbers and landlines with their area code. Spaces, dashes,
    brackets and full-width digits are fine. With ``mobile_only`` a landline is
    refused (for numbers that must receive text messages).

    >>> validate_phone("138 0013 8000")
    '+8613800138000'
    >>> validate_phone("+1 (650) 253-0000")
    '+16502530000'
    """
    cleaned = unicodedata.normalize("NFKC", text).strip()
    if not cleaned:
        raise PhoneError("no phone number given")
    try:
        number = phonenumbers.parse(cleaned, default_region)
    except NumberParseException as exc:
        raise PhoneError(f"not a phone number: {exc._msg}") from None
    if number.extension:
        raise PhoneError("extensions are not supported; give a direct number")
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason in _TOO_SHORT:
        raise PhoneError(f"{cleaned!r} has too few digits")
    if reason == phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY:
        raise PhoneError(f"{cleaned!r} looks like a local number; add the area code")
    if reason == phonenumbers.ValidationResult.TOO_LONG:
        raise PhoneError(f"{cleaned!r} has too many digits")
    if reason == phonenumbers.ValidationResult.INVALID_COUNTRY_CODE:
        raise PhoneError(f"{cleaned!r} has an unknown country code")
    region = phonenumbers.region_code_for_number(number) or f"+{number.country_code}"
    if not phonenumbers.is_valid_number(number):
        raise PhoneError(f"{cleaned!r} is not a valid number in {region}")
    if mobile_only and phonenumbers.number_type(number) not in _MOBILE_TYPES:
        raise PhoneError(f"{cleaned!r} is not a mobile number")
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)
