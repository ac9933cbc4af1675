"""Refuse passwords that are short, common, or made of the user's own name.

Rules, after NIST SP 800-63B §3.1.1 (and OWASP's authentication cheat sheet):

- at least 8 characters (counted after NFKC normalisation, so that the same
  password typed on two keyboards is the same password), at most 256 so that
  hashing stays cheap; spaces and any Unicode allowed;
- no composition rules (no "one digit, one symbol"): they push users to
  ``Password1!``, which the next rule refuses anyway;
- refused when it is, or is close to, a commonly used password, or is built from
  the user's own words (user name, display name, e-mail): judged by ``zxcvbn``
  from its estimate of the guesses an attacker needs, with ``context`` words as
  its user inputs. Fewer than a million guesses is refused: online that is
  what the rate limits allow in years, but offline, after a database leak,
  minutes.

Why ``zxcvbn`` (the maintained Python port of Dropbox's estimator, MIT licence):
it ships the 30,000 most common passwords (from Mark Burnett's 10 million
password corpus, released into the public domain) together with English words,
names and surnames, and it sees the variations a list lookup misses: ``P@ssw0rd``,
``Password123!``, keyboard walks, repeats, dates and the user's own name with a
year. Checking against the full breach corpus (Have I Been Pwned's k-anonymity
range API) needs the network, which the embedded default does not assume.

NIST also allows a password to be hashed after NFKC normalisation; whether the
accounts service hashes :func:`normalise_password`'s result is its decision
(changing it later would invalidate stored hashes of non-ASCII passwords).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from zxcvbn import zxcvbn

MIN_LENGTH = 8
"""NIST SP 800-63B's floor for passwords chosen by users."""
MAX_LENGTH = 256
"""NIST asks for at least 64; 256 keeps a pass phrase possible and hashing cheap."""
MIN_GUESSES = 1_000_000
"""zxcvbn's score 2: refuses the top 30,000 passwords and their simple variations."""

_ANALYSED_CHARS = 72  # zxcvbn refuses longer input; what follows only adds guesses


class WeakPasswordError(ValueError):
    """The password is refused; the message says why, fit to show the user."""

    @property
    def reason(self) -> str:
        return str(self)


def normalise_password(password: str) -> str:
    """NFKC, as NIST SP 800-63B recommends before a password is hashed or compared.

    Examples
    --------
    >>> normalise_password("ｐａｓｓｗｏｒｄ")  # full-width letters
    'password'
    """
    return unicodedata.normalize("NFKC", password)


def check_password(password: str, *, context: Iterable[str] = ()) -> None:
    """Refuse ``password`` if it is too short, too long, common or built from ``context``.

    Parameters
    ----------
    password : str
        As the user typed it.
    context : iterable of str
        The user's own words: user name, display name, e-mail address, the
        service's name. Parts of an e-mail address are used separately.

    Raises
    ------
    WeakPasswordError
        With the reason, fit to show the user.

    Examples
    --------
    >>> check_password("correct horse battery staple")
    >>> check_password("password")
    Traceback (most recent call last):
    ...
    api.security.passwords.WeakPasswordError: This is one of the most common passwords; \
choose another.
    >>> check_password("amelia2024", context=["amelia"])
    Traceback (most recent call last):
    ...
    api.security.passwords.WeakPasswordError: This password is built from your own name \
or user name; choose another.
    """
    normal = normalise_password(password)
    if "\x00" in normal:
        raise WeakPasswordError("A password cannot contain a NUL character.")
    if len(normal) < MIN_LENGTH:
        raise WeakPasswordError(f"Use at least {MIN_LENGTH} characters.")
    if len(normal) > MAX_LENGTH:
        raise WeakPasswordError(f"Use at most {MAX_LENGTH} characters.")
    words = _context_words(context)
    if normal.casefold() in words:
        raise WeakPasswordError(_OWN_WORDS)
    result = zxcvbn(normal[:_ANALYSED_CHARS], user_inputs=sorted(words))
    if float(result["guesses"]) >= MIN_GUESSES:
        return
    sources = {match.get("dictionary_name") for match in result["sequence"]}
    if "user_inputs" in sources:
        raise WeakPasswordError(_OWN_WORDS)
    if "passwords" in sources:
        if len(result["sequence"]) == 1 and not result["sequence"][0].get("l33t"):
            raise WeakPasswordError("This is one of the most common passwords; choose another.")
        raise WeakPasswordError("This is too close to a commonly used password; choose another.")
    hint = result["feedback"]["warning"]
    detail = f" ({hint.rstrip('.')})" if hint else ""
    raise WeakPasswordError(
        f"This password is too easy to guess{detail}. A few unrelated words make a strong one."
    )


_OWN_WORDS = "This password is built from your own name or user name; choose another."


def _context_words(context: Iterable[str]) -> set[str]:
    words: set[str] = set()
    for item in context:
        text = normalise_password(item).casefold().strip()
        if not text:
            continue
        words.add(text)
        # An e-mail address or a dotted user name: each part is a word of its own.
        for part in text.replace("@", " ").replace(".", " ").replace("_", " ").split():
            if len(part) >= 3:
                words.add(part)
    return words
