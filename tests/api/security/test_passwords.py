"""Passwords: length per NIST SP 800-63B, common ones refused, the user's own words refused."""

from __future__ import annotations

import pytest

from api.security.passwords import (
    MIN_LENGTH,
    WeakPasswordError,
    check_password,
    normalise_password,
)


@pytest.mark.parametrize("password", ["password", "PASSWORD", "12345678", "qwertyuiop", "iloveyou"])
def test_the_most_common_passwords_are_refused(password: str) -> None:
    with pytest.raises(WeakPasswordError, match="most common passwords"):
        check_password(password)


@pytest.mark.parametrize("password", ["P@ssw0rd", "Password123!", "passw0rd1"])
def test_decorated_common_passwords_are_refused(password: str) -> None:
    with pytest.raises(WeakPasswordError, match="common"):
        check_password(password)


def test_short_passwords_are_refused_with_the_minimum() -> None:
    with pytest.raises(WeakPasswordError, match=f"at least {MIN_LENGTH} characters"):
        check_password("x7#kQ2!")


def test_length_counts_characters_after_normalisation_not_bytes() -> None:
    check_password("ŻółwKąpał")  # 9 characters, 14 bytes in UTF-8
    with pytest.raises(WeakPasswordError, match="at least"):
        check_password("張偉愛貓")  # 4 characters, 12 bytes


def test_very_long_passwords_are_refused_but_64_are_fine() -> None:
    check_password("tangerine gravel oboe " * 3)  # 66 characters
    with pytest.raises(WeakPasswordError, match="at most 256"):
        check_password("q" * 257)


def test_no_composition_rules() -> None:
    check_password("xkqbmwezrt")  # lower case letters only, yet random
    check_password("correct horse battery staple")
    check_password("mein hund heißt bello und frisst gern")


@pytest.mark.parametrize(
    ("password", "context"),
    [
        ("amelia.kowalski", ["amelia.kowalski"]),
        ("Amelia.Kowalski", ["amelia.kowalski"]),
        ("kowalski1990", ["amelia.kowalski@example.org"]),
        ("zhangwei88", ["zhangwei"]),
    ],
)
def test_the_users_own_words_are_refused(password: str, context: list[str]) -> None:
    check_password(password.replace(".", "-") + "xQ")  # strong enough without the context
    with pytest.raises(WeakPasswordError, match="your own name"):
        check_password(password, context=context)


def test_obvious_patterns_get_a_reason() -> None:
    with pytest.raises(WeakPasswordError, match="too easy to guess"):
        check_password("abcdabcdabcd")


def test_nul_is_refused_rather_than_reaching_the_database() -> None:
    with pytest.raises(WeakPasswordError, match="NUL"):
        check_password("tangerine\x00gravel oboe")


def test_normalisation_folds_compatibility_forms() -> None:
    assert normalise_password("ｐａｓｓ") == "pass"
    assert normalise_password("e\u0301") == "é"
    with pytest.raises(WeakPasswordError, match="most common"):
        check_password("ｐａｓｓｗｏｒｄ")
