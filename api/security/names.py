"""Normalise and restrict user names and display names shown to other people.

Look-alike and right-to-left-override characters were accepted in user names
and shown to others (issue 11 item 10): ``admin`` spelt with a Cyrillic ``а``
passes for the real one, and U+202E turns ``gpj.exe`` around on screen. Both
kinds of name are therefore:

1. normalised to NFKC (full-width ``ａｄｍｉｎ`` becomes ``admin``, a composed
   ``é`` and ``e`` + U+0301 become the same letter);
2. refused if they hold control characters (NUL included: PostgreSQL refuses it
   with a 500), format characters (Unicode category Cf: bidi embeddings,
   overrides and isolates U+202A–U+202E and U+2066–U+2069, zero-width spaces and
   joiners, the byte-order mark), line separators, private-use, surrogate or
   unassigned code points, or more than two combining marks on one letter;
3. refused if they mix scripts, following UTS #39's "single script" rule with
   its augmented sets: Han counts with Hiragana and Katakana (Japanese), with
   Bopomofo, and with Hangul (Korean), so 张伟, 山田はなこ and 김민준 are one
   script each, while ``pаypal`` with a Cyrillic ``а`` is two.

User names (log-in identifiers, shown to colleagues) are narrower still:
letters and digits of one script plus ``.``, ``_`` and ``-``, 2 to 32
characters, starting and ending with a letter or digit, and, when not in Latin
letters, not made only of letters that look like Latin ones (a whole-script
look-alike, ``аре`` in Cyrillic for ``ape``). Display names allow letters of one
script, spaces, apostrophes, hyphens and full stops (``Mary-Jane O'Neil``,
``J. R. Tolkien``), 1 to 100 characters, spaces collapsed.

Libraries: the script of each character comes from ``fontTools.unicodedata``
(the Unicode Character Database's Scripts and ScriptExtensions, updated with
each Unicode release; fonttools is already installed for matplotlib), because
Python's own ``unicodedata`` has no script property and the ``regex`` module can
test a script but cannot say which one a character has. Which letters look like
Latin ones comes from ``confusable_homoglyphs`` (Unicode's confusables.txt).
"""

from __future__ import annotations

import unicodedata

from confusable_homoglyphs import confusables
from fontTools import unicodedata as ucd


class InvalidNameError(ValueError):
    """The name is refused; the message says why, fit to show the user."""

    @property
    def reason(self) -> str:
        return str(self)


USER_NAME_MIN, USER_NAME_MAX = 2, 32  # two: 张伟 is a whole name
DISPLAY_NAME_MAX = 100

_NEUTRAL_SCRIPTS = frozenset({"Zyyy", "Zinh"})  # Common and Inherited belong to every script
# UTS #39 §5.1 augmented script sets: one writing system written with several scripts.
_AUGMENTED = {
    "Hani": frozenset({"Hani", "Hanb", "Jpan", "Kore"}),
    "Hira": frozenset({"Hira", "Jpan"}),
    "Kana": frozenset({"Kana", "Jpan"}),
    "Hang": frozenset({"Hang", "Kore"}),
    "Bopo": frozenset({"Bopo", "Hanb"}),
}
_BIDI_CONTROLS = frozenset(chr(c) for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)])
_USER_NAME_PUNCTUATION = frozenset("._-")
_DISPLAY_NAME_PUNCTUATION = frozenset("'’-‐.")  # apostrophes, hyphens, full stop
_MAX_MARKS = 2  # Vietnamese stacks two; more is "Zalgo" text drawn over its neighbours


def normalise_user_name(value: str) -> str:
    """The user name in NFKC, or :class:`InvalidNameError` saying why it is refused.

    Case is kept as typed; compare user names with :func:`user_name_key`.

    Examples
    --------
    >>> normalise_user_name("ｊｏｈａｎａ.ｍüｌｌｅｒ")
    'johana.müller'
    >>> normalise_user_name("pаypal")  # a Cyrillic а among Latin letters
    Traceback (most recent call last):
    ...
    api.security.names.InvalidNameError: A user name must be written in one script \
(it mixes Cyrillic and Latin).
    """
    name = _normalised(value, "user name").strip()
    if not USER_NAME_MIN <= len(name) <= USER_NAME_MAX:
        raise InvalidNameError(f"A user name has {USER_NAME_MIN} to {USER_NAME_MAX} characters.")
    for char in name:
        if not (_is_letter_or_mark(char) or _is_digit(char) or char in _USER_NAME_PUNCTUATION):
            raise InvalidNameError(
                f"A user name may hold letters, digits, '.', '_' and '-' only, not {_shown(char)}."
            )
    if not (_is_letter_or_mark(name[0]) or _is_digit(name[0])) or not (
        _is_letter_or_mark(name[-1]) or _is_digit(name[-1])
    ):
        raise InvalidNameError("A user name starts and ends with a letter or a digit.")
    if unicodedata.category(name[0]).startswith("M"):
        raise InvalidNameError("A user name cannot start with a combining mark.")
    scripts = _single_script(name, "user name")
    if scripts and "Latn" not in scripts and _all_letters_look_latin(name):
        raise InvalidNameError(
            "This user name looks like one written in Latin letters but is not; "
            "write it in Latin letters or choose another."
        )
    return name


def user_name_key(value: str) -> str:
    """The form two user names are compared in: normalised, then case-folded.

    Examples
    --------
    >>> user_name_key("Straße") == user_name_key("STRASSE")
    True
    """
    return unicodedata.normalize("NFKC", normalise_user_name(value).casefold())


def normalise_display_name(value: str) -> str:
    """The display name in NFKC with spaces collapsed, or :class:`InvalidNameError`.

    Examples
    --------
    >>> normalise_display_name("  Mary-Jane   O'Neil ")
    "Mary-Jane O'Neil"
    >>> normalise_display_name("张伟")
    '张伟'
    >>> normalise_display_name("Eve\\u202egnp.exe")
    Traceback (most recent call last):
    ...
    api.security.names.InvalidNameError: A display name cannot hold text-direction \
controls (U+202E).
    """
    # NFKC has turned no-break and ideographic spaces into plain ones; runs collapse.
    name = " ".join(part for part in _normalised(value, "display name").split(" ") if part)
    if not 1 <= len(name) <= DISPLAY_NAME_MAX:
        raise InvalidNameError(f"A display name has 1 to {DISPLAY_NAME_MAX} characters.")
    for char in name:
        if not (_is_letter_or_mark(char) or char == " " or char in _DISPLAY_NAME_PUNCTUATION):
            raise InvalidNameError(
                "A display name may hold letters, spaces, apostrophes, hyphens and full stops "
                f"only, not {_shown(char)}."
            )
    if not any(unicodedata.category(char).startswith("L") for char in name):
        raise InvalidNameError("A display name needs at least one letter.")
    if unicodedata.category(name[0]).startswith("M"):
        raise InvalidNameError("A display name cannot start with a combining mark.")
    _single_script(name, "display name")
    return name


def _normalised(value: str, what: str) -> str:
    """NFKC, after refusing what must never be shown: controls, format characters..."""
    if not isinstance(value, str):
        raise InvalidNameError(f"A {what} must be text.")
    if len(value) > 4 * DISPLAY_NAME_MAX:  # bound the work before normalising
        raise InvalidNameError(f"This {what} is far too long.")
    for char in value:
        _refuse_invisible(char, what)
    name = unicodedata.normalize("NFKC", value)
    marks = 0
    for char in name:
        _refuse_invisible(char, what)  # NFKC can produce none of them, but cheap to be sure
        marks = marks + 1 if unicodedata.category(char).startswith("M") else 0
        if marks > _MAX_MARKS:
            raise InvalidNameError(f"A {what} cannot stack more than two accents on one letter.")
    return name


def _refuse_invisible(char: str, what: str) -> None:
    category = unicodedata.category(char)
    if char == "\x00":
        raise InvalidNameError(f"A {what} cannot hold a NUL character.")
    if char in _BIDI_CONTROLS:
        raise InvalidNameError(f"A {what} cannot hold text-direction controls ({_code(char)}).")
    if category == "Cf":
        raise InvalidNameError(
            f"A {what} cannot hold invisible formatting characters ({_code(char)})."
        )
    if category in ("Cc", "Zl", "Zp"):
        raise InvalidNameError(f"A {what} cannot hold control characters ({_code(char)}).")
    if category in ("Co", "Cs", "Cn"):
        raise InvalidNameError(
            f"A {what} cannot hold private-use or unassigned characters ({_code(char)})."
        )


def _single_script(name: str, what: str) -> frozenset[str]:
    """The scripts every character of ``name`` shares (empty: only digits and punctuation).

    Raises InvalidNameError when no script is shared.
    """
    resolved: frozenset[str] | None = None
    first: dict[str, str] = {}  # script -> first character seen in it, for the message
    for char in name:
        scripts = frozenset(ucd.script_extension(char)) - _NEUTRAL_SCRIPTS
        if not scripts:
            continue
        augmented = frozenset().union(*(_AUGMENTED.get(s, frozenset({s})) for s in scripts))
        for script in sorted(scripts):
            first.setdefault(script, char)
        resolved = augmented if resolved is None else resolved & augmented
        if not resolved:
            names = sorted({ucd.script_name(s) for s in first})
            raise InvalidNameError(
                f"A {what} must be written in one script (it mixes {' and '.join(names)})."
            )
    return resolved or frozenset()


def _all_letters_look_latin(name: str) -> bool:
    letters = {char for char in name if unicodedata.category(char).startswith("L")}
    if not letters:
        return False
    found = confusables.is_confusable(name, greedy=True, preferred_aliases=["latin", "common"])
    look_alikes = {entry["character"] for entry in found} if found else set()
    return letters <= look_alikes


def _is_letter_or_mark(char: str) -> bool:
    return unicodedata.category(char)[0] in "LM"


def _is_digit(char: str) -> bool:
    return unicodedata.category(char) == "Nd"


def _code(char: str) -> str:
    return f"U+{ord(char):04X}"


def _shown(char: str) -> str:
    return f"'{char}'" if char.isprintable() and char != " " else _code(char)
