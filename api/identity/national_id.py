"""National identity numbers: the Chinese resident ID, and a plain check for other countries.

The Chinese resident identity number (GB 11643-1999) has 18 characters:

====================  ==========================================================
``110101``            area code (GB/T 2260); the first two digits are the province
``19900307``          date of birth, YYYYMMDD
``123``               sequence number; odd for men, even for women
``X``                 check character, ISO 7064 MOD 11-2 over the first 17
                      digits; 10 is written ``X``
====================  ==========================================================

Every rejection says what is wrong ("birth date 19991340 is not a valid date",
"check digit does not match"), so a registration form can show it as it is.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

# ISO 7064 MOD 11-2 weights: 2^(17 - i) mod 11 for the 17 digits.
_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
# Province-level prefixes of GB/T 2260, plus 71 (Taiwan), 81 (Hong Kong),
# 82 (Macao) and 83 (residence permits for Taiwan residents).
_PROVINCE_SPANS = (range(11, 16), range(21, 24), range(31, 38), range(41, 47), range(50, 55))
_PROVINCES = frozenset(
    str(number) for span in (*_PROVINCE_SPANS, range(61, 66), (71, 81, 82, 83)) for number in span
)
_EARLIEST_BIRTH = date(1900, 1, 1)
_GENERIC = re.compile(r"[A-Z0-9]{5,20}")


class NationalIdError(ValueError):
    """A national ID number is malformed; the message says how."""


@dataclass(frozen=True, slots=True)
class CnResidentId:
    """The parts of a valid Chinese resident ID number."""

    number: str
    area_code: str
    birth_date: date
    sequence: int
    sex: Literal["male", "female"]


def _clean(text: str) -> str:
    # NFKC turns full-width digits and letters (common from Chinese input methods) into ASCII.
    folded = unicodedata.normalize("NFKC", text)
    return "".join(char for char in folded if char not in " -\t").upper()


def cn_check_character(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character for the first 17 digits of a resident ID.

    >>> cn_check_character("11010519491231002")
    'X'
    """
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise NationalIdError(f"expected 17 digits, got {first17!r}")
    total = sum(int(digit) * weight for digit, weight in zip(first17, _WEIGHTS, strict=True))
    value = (12 - total % 11) % 11
    return "X" if value == 10 else str(value)


def parse_cn_resident_id(text: str, today: date | None = None) -> CnResidentId:
    """Check a Chinese resident ID number and split it into its parts.

    Spaces and dashes are ignored, a lower-case ``x`` is accepted, full-width
    digits are folded to ASCII. ``today`` (default: the current date) bounds
    the date of birth.

    >>> parse_cn_resident_id("11010519491231002x").birth_date
    datetime.date(1949, 12, 31)
    """
    number = _clean(text)
    if not number:
        raise NationalIdError("no ID number given")
    if len(number) == 15 and number.isdigit():
        raise NationalIdError(
            "15-digit IDs (first generation) are no longer valid; enter the 18-character ID"
        )
    if len(number) != 18:
        raise NationalIdError(f"a resident ID has 18 characters, got {len(number)}")
    for position, char in enumerate(number[:17], start=1):
        if not ("0" <= char <= "9"):
            raise NationalIdError(f"character {char!r} at position {position} must be a digit")
    if not ("0" <= number[17] <= "9" or number[17] == "X"):
        raise NationalIdError(f"the last character must be a digit or X, got {number[17]!r}")

    area = number[:6]
    province = area[1:3] if area[0] == "9" else area[:2]  # 9 + province: foreigners' IDs
    if province not in _PROVINCES:
        raise NationalIdError(f"area code {area} does not start with a known province code")

    birth_text = number[6:14]
    try:
        birth = datetime.strptime(birth_text, "%Y%m%d").date()
    except ValueError:
        raise NationalIdError(f"birth date {birth_text} is not a valid date") from None
    if birth < _EARLIEST_BIRTH:
        raise NationalIdError(f"birth date {birth_text} is before 1900")
    if birth > (today or date.today()):
        raise NationalIdError(f"birth date {birth_text} is in the future")

    if cn_check_character(number[:17]) != number[17]:
        raise NationalIdError(
            "check digit does not match: a digit was mistyped or two digits were swapped"
        )
    sequence = int(number[14:17])
    return CnResidentId(
        number=number,
        area_code=area,
        birth_date=birth,
        sequence=sequence,
        sex="male" if sequence % 2 else "female",
    )


def validate_national_id(text: str, country: str = "CN", today: date | None = None) -> str:
    """The canonical form of a national ID number, or :class:`NationalIdError`.

    ``country`` is an ISO 3166-1 alpha-2 code. For ``CN`` the full resident ID
    rules apply (:func:`parse_cn_resident_id`); for any other country only a
    plain shape check: 5 to 20 letters and digits once spaces and dashes are
    removed, returned upper-case.

    >>> validate_national_id("1101 0519 4912 3100 2x")
    '11010519491231002X'
    >>> validate_national_id("ab-123 456", country="fr")
    'AB123456'
    """
    country = country.strip().upper()
    if len(country) != 2 or not country.isalpha() or not country.isascii():
        raise ValueError(f"country must be an ISO 3166-1 alpha-2 code, got {country!r}")
    if country == "CN":
        return parse_cn_resident_id(text, today).number
    number = _clean(text)
    if not number:
        raise NationalIdError("no ID number given")
    if not _GENERIC.fullmatch(number):
        raise NationalIdError(
            f"an ID number has 5 to 20 letters and digits, got {len(number)} characters"
            + ("" if number.isascii() and number.isalnum() else " including other symbols")
        )
    return number


def make_test_id(seq: int = 1, area: str = "110101", birth: date | str = date(1990, 1, 1)) -> str:
    """A valid resident ID number for demo data and tests (check character computed).

    ``seq`` is the 3-digit sequence (0-999; odd for a man, even for a woman),
    ``area`` the 6-digit area code, ``birth`` a date or ``YYYYMMDD``.

    >>> make_test_id(7)
    '110101199001010074'
    >>> make_test_id(2, area="310104", birth="19851124")
    '310104198511240023'
    """
    if not 0 <= seq <= 999:
        raise ValueError(f"seq must be 0-999, got {seq}")
    birth_text = birth.strftime("%Y%m%d") if isinstance(birth, date) else birth
    first17 = f"{area}{birth_text}{seq:03d}"
    return validate_national_id(first17 + cn_check_character(first17))
