"""User names and display names: invisible, direction-changing and look-alike characters."""

from __future__ import annotations

import pytest

from api.security.names import (
    InvalidNameError,
    normalise_display_name,
    normalise_user_name,
    user_name_key,
)

BOTH = [normalise_user_name, normalise_display_name]


@pytest.mark.parametrize("normalise", BOTH)
@pytest.mark.parametrize(
    "control", ["\u202e", "\u202a", "\u202d", "\u2066", "\u2067", "\u2068", "\u2069"]
)
def test_text_direction_controls_are_refused(normalise: object, control: str) -> None:
    assert callable(normalise)
    with pytest.raises(InvalidNameError, match="text-direction controls"):
        normalise(f"eve{control}nimda")


@pytest.mark.parametrize("normalise", BOTH)
@pytest.mark.parametrize("invisible", ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"])
def test_zero_width_and_other_format_characters_are_refused(
    normalise: object, invisible: str
) -> None:
    assert callable(normalise)
    with pytest.raises(InvalidNameError, match="invisible formatting"):
        normalise(f"ad{invisible}min")


@pytest.mark.parametrize("normalise", BOTH)
@pytest.mark.parametrize("control", ["\x00", "\x07", "\n", "\t", "\x7f", "\u2028"])
def test_nul_and_control_characters_are_refused(normalise: object, control: str) -> None:
    assert callable(normalise)
    with pytest.raises(InvalidNameError, match=r"NUL|control"):
        normalise(f"ad{control}min")


@pytest.mark.parametrize(
    "name",
    [
        "\u0430dmin",  # Cyrillic а, then Latin
        "p\u0430ypal",
        "admin\u0455",  # Cyrillic ѕ
        "jоhn.smith",  # Cyrillic о
        "user\u0660",  # Arabic-Indic digit in a Latin name
        "张wei伟",  # Han and Latin mixed
    ],
)
def test_mixed_script_user_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidNameError, match="one script"):
        normalise_user_name(name)


def test_the_message_names_the_scripts() -> None:
    with pytest.raises(InvalidNameError, match="Cyrillic and Latin"):
        normalise_user_name("\u0430dmin")


@pytest.mark.parametrize("name", ["аре", "рор", "ѕсоре"])  # all Cyrillic, all Latin look-alikes
def test_whole_script_latin_look_alikes_are_refused(name: str) -> None:
    with pytest.raises(InvalidNameError, match="looks like one written in Latin"):
        normalise_user_name(name)


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("zhang.wei", "zhang.wei"),
        ("张伟", "张伟"),
        ("山田はなこ", "山田はなこ"),  # Han with Hiragana: Japanese, one writing system
        ("김민준", "김민준"),
        ("сергей_иванов", "сергей_иванов"),  # Cyrillic, not all look-alikes
        ("José-Müller", "José-Müller"),
        ("Jose\u0301", "José"),  # decomposed accent composed by NFKC
        ("ｊｏｈａｎｎａ", "johanna"),  # full-width folded
        ("ناصر_٢٠٢٤", "ناصر_٢٠٢٤"),  # Arabic letters with Arabic-Indic digits
        ("nurse42", "nurse42"),
    ],
)
def test_user_names_in_one_script_are_accepted_and_normalised(typed: str, stored: str) -> None:
    assert normalise_user_name(typed) == stored


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("a", "2 to 32"),
        ("a" * 33, "2 to 32"),
        ("john smith", "not ' '|U\\+0020"),
        ("john@clinic", "not '@'"),
        (".john", "starts and ends"),
        ("john-", "starts and ends"),
        ("e\u0301\u0301\u0301\u0301x", "two accents"),  # é after NFKC, then three more
    ],
)
def test_user_name_shape(name: str, reason: str) -> None:
    with pytest.raises(InvalidNameError, match=reason):
        normalise_user_name(name)


def test_user_name_key_ignores_case_and_width() -> None:
    assert user_name_key("Zhang.Wei") == user_name_key("ＺＨＡＮＧ.wei")
    assert user_name_key("Zhang.Wei") != user_name_key("Zhang.Wel")


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("张伟", "张伟"),
        ("Zoë Ångström", "Zoë Ångström"),
        ("  Mary-Jane   O'Neil ", "Mary-Jane O'Neil"),
        ("Seán Ó’Brien", "Seán Ó’Brien"),
        ("J. R. Tolkien", "J. R. Tolkien"),
        ("Nguyễn Thị Minh Khai", "Nguyễn Thị Minh Khai"),
        ("Σωκράτης", "Σωκράτης"),
        ("Zhang\u00a0Wei", "Zhang Wei"),  # no-break space
        ("山田　花子", "山田 花子"),  # ideographic space
        ("محمد علي", "محمد علي"),
        ("अनीता देवी", "अनीता देवी"),  # Devanagari with its combining vowel signs
    ],
)
def test_display_names_in_one_script_are_accepted(typed: str, stored: str) -> None:
    assert normalise_display_name(typed) == stored


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("Jоhn Smith", "one script"),  # Cyrillic о
        ("Zhang 伟", "one script"),
        ("", "1 to 100"),
        ("   ", "1 to 100"),
        ("x" * 101, "1 to 100"),
        ("Robert'); DROP TABLE--", "not '\\)'"),
        ("Agent 007", "not '0'"),
        ("-'.", "at least one letter"),
    ],
)
def test_display_names_refused_with_a_reason(name: str, reason: str) -> None:
    with pytest.raises(InvalidNameError, match=reason):
        normalise_display_name(name)


def test_huge_input_is_refused_before_normalising() -> None:
    with pytest.raises(InvalidNameError, match="far too long"):
        normalise_display_name("a" * 1_000_000)
