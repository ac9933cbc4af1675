"""Unit codes: one unique, unguessable code printed on each manufactured cassette.

A unit code is 80 random bits written as 16 Crockford base32 symbols, followed by
one check symbol, printed in groups of four (the check symbol closes the last
group)::

    K7QX-9M2D-AB3F-GH45J
    \\_____ 80 bits ____/\\ check

Why this shape:

* 80 bits from :mod:`secrets` make guessing a valid code hopeless even with
  hundreds of millions of units issued (the chance that one random guess hits
  any of 10^9 issued codes is below 1e-15), so the code can act as a bearer
  token for "I hold this cassette" without being a password.
* Crockford base32 leaves out I, L, O and U, so a code read aloud or typed from a
  label survives the usual confusions: :func:`normalize` maps ``O`` to ``0`` and
  ``I``/``L`` to ``1`` and ignores case, spaces and dashes.
* The check symbol is a Damm-style check over the quasigroup
  ``x * y = 2x + y`` in GF(32) (polynomial x^5 + x^2 + 1). Because ``2`` and
  ``2 + 1`` are both non-zero in that field it detects every single-symbol
  error and every transposition of two adjacent symbols, with no symbol
  outside the base32 alphabet (unlike Crockford's own mod-37 check, which needs
  ``*~$=U``).

The canonical form returned by :func:`validate` and :func:`new_codes` is the
grouped, upper-case form above; store that. There is deliberately no separate
all-digit form: 80 bits need 25 decimal digits, and every barcode symbology worth
printing (QR, Data Matrix, Code 128) carries the alphanumeric code directly.

A QR code on the label carries either the code itself or a link
``https://<host>/u/<code>`` (:func:`qr_payload`), so a phone's own camera app
opens the reporting page; :func:`code_from_scan` accepts both.
"""

from __future__ import annotations

import itertools
import secrets
import string
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import unquote, urlsplit

import numpy as np

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
DATA_SYMBOLS = 16  # 16 x 5 = 80 random bits
CODE_LENGTH = DATA_SYMBOLS + 1  # plus the check symbol
GROUP = 4
# Positions of the dashes in the canonical form: after every 4 symbols, except
# that the check symbol joins the last group instead of standing alone.
_DASH_AFTER = tuple(range(GROUP, DATA_SYMBOLS, GROUP))
FORMATTED_LENGTH = CODE_LENGTH + len(_DASH_AFTER)
URL_PATH_PREFIX = "/u/"

_GF32_POLY = 0b100101  # x^5 + x^2 + 1, primitive, so 2 generates GF(32)*

# Crockford folding, applied with str.translate: lower case to upper, the
# look-alikes O, I, L onto digits, and separators dropped.
_UPPER_FOLDED = string.ascii_uppercase.replace("O", "0").replace("I", "1").replace("L", "1")
_FOLD = str.maketrans(
    string.ascii_lowercase + string.ascii_uppercase,
    _UPPER_FOLDED + _UPPER_FOLDED,
    " -\t\u00a0\u2010\u2011\u2012\u2013\u2014",  # spaces and dash look-alikes
)
_VALUES = {symbol: value for value, symbol in enumerate(ALPHABET)}


class UnitCodeError(ValueError):
    """A text is not a valid unit code; the message says what is wrong."""


def _times2(value: int) -> int:
    """Multiply by 2 (the polynomial x) in GF(32)."""
    value <<= 1
    return value ^ _GF32_POLY if value & 0b100000 else value


_TIMES2 = [_times2(value) for value in range(32)]
_TIMES2_ARRAY = np.array(_TIMES2, dtype=np.uint8)
# Symbol value of each ASCII byte in canonical (upper-case) codes; 255 for anything else.
_BYTE_VALUES = np.full(256, 255, dtype=np.uint8)
_BYTE_VALUES[np.frombuffer(ALPHABET.encode("ascii"), dtype=np.uint8)] = np.arange(32)


def _check_value(compact: str) -> int:
    """Interim of the check over normalised symbols; 0 means a complete code checks out."""
    interim = 0
    for symbol in compact:
        interim = _TIMES2[interim] ^ _VALUES[symbol]
    return interim


def check_symbol(data: str) -> str:
    """The check symbol for 16 data symbols (given without dashes).

    >>> check_symbol("0000000000000000")
    '0'
    >>> check_symbol("0000000000000001")
    '2'
    """
    compact = normalize(data)
    if len(compact) != DATA_SYMBOLS:
        raise UnitCodeError(f"expected {DATA_SYMBOLS} data symbols, got {len(compact)}")
    # Appending c gives 2*interim XOR c, which is zero for c = 2*interim.
    return ALPHABET[_TIMES2[_check_value(compact)]]


def normalize(text: str) -> str:
    """Upper-case ``text``, drop spaces and dashes, and fold Crockford look-alikes.

    ``O`` becomes ``0``, ``I`` and ``L`` become ``1``. Characters outside the
    alphabet raise :class:`UnitCodeError`; length and check symbol are not
    checked here (see :func:`validate`).

    >>> normalize(" k7qx-9m2d-ab3f-gh45j ")
    'K7QX9M2DAB3FGH45J'
    >>> normalize("oil0")
    '0110'
    """
    compact = text.translate(_FOLD)
    if not _VALUES.keys() >= set(compact):
        position, char = next((i, c) for i, c in enumerate(compact, 1) if c not in _VALUES)
        hint = " (U is not used in unit codes)" if char == "U" else ""
        raise UnitCodeError(
            f"character {char!r} at position {position} is not allowed in a unit code{hint}"
        )
    return compact


def format_code(compact: str) -> str:
    """Group a 17-symbol compact code for printing: ``XXXX-XXXX-XXXX-XXXXX``."""
    if len(compact) != CODE_LENGTH:
        raise UnitCodeError(f"expected {CODE_LENGTH} symbols, got {len(compact)}")
    cuts = (0, *_DASH_AFTER, CODE_LENGTH)
    return "-".join(compact[start:end] for start, end in itertools.pairwise(cuts))


def validate(text: str) -> str:
    """Check a typed or scanned unit code and return its canonical form.

    Raises :class:`UnitCodeError` naming the problem: a character outside the
    alphabet, the wrong number of symbols, or a check symbol that does not match
    (a typo or two swapped characters).

    >>> validate("k7qx 9m2d ab3f gh45j")
    'K7QX-9M2D-AB3F-GH45J'
    >>> validate("K7QX-9M2D-AB3F-GH54J")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    UnitCodeError: check character does not match: a character was mistyped or two were swapped
    """
    if not text or not text.strip():
        raise UnitCodeError("no unit code given")
    compact = normalize(text)
    if len(compact) != CODE_LENGTH:
        raise UnitCodeError(
            f"a unit code has {CODE_LENGTH} characters (without dashes), got {len(compact)}"
        )
    if _check_value(compact) != 0:
        raise UnitCodeError(
            "check character does not match: a character was mistyped or two were swapped"
        )
    return format_code(compact)


def validate_many(texts: Iterable[str]) -> list[str]:
    """:func:`validate` for many codes: canonical ones are checked at once with NumPy.

    Codes read back from the database are canonical, so an export of a million
    checks them in a fraction of a second; any other text goes through
    :func:`validate`, which returns its canonical form or raises.

    >>> validate_many(["K7QX-9M2D-AB3F-GH45J", "k7qx 9m2d ab3f gh45j"])
    ['K7QX-9M2D-AB3F-GH45J', 'K7QX-9M2D-AB3F-GH45J']
    """
    texts = list(texts)
    canonical = np.zeros(len(texts), dtype=bool)
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    if texts and (lengths == FORMATTED_LENGTH).all():
        # "replace" keeps one byte per character, so rows stay aligned.
        raw = "".join(texts).encode("ascii", "replace")
        canonical = _canonical_rows(np.frombuffer(raw, dtype=np.uint8).reshape(len(texts), -1))
    return [
        text if ok else validate(text) for text, ok in zip(texts, canonical.tolist(), strict=True)
    ]


def _canonical_rows(chars: np.ndarray) -> np.ndarray:
    """Which rows of ``(n, 20)`` ASCII bytes are canonical codes with a matching check symbol."""
    dashes = [start + offset for offset, start in enumerate(_DASH_AFTER)]
    symbols = _BYTE_VALUES[np.delete(chars, dashes, axis=1)]
    ok = (chars[:, dashes] == ord("-")).all(axis=1) & (symbols < len(ALPHABET)).all(axis=1)
    symbols[~ok] = 0  # keep the table look-ups below in range
    interim = np.zeros(len(chars), dtype=np.uint8)
    for column in symbols.T:
        interim = _TIMES2_ARRAY[interim] ^ column
    return ok & (interim == 0)


def is_valid(text: str) -> bool:
    """Whether ``text`` is a valid unit code (see :func:`validate`)."""
    try:
        validate(text)
    except UnitCodeError:
        return False
    return True


def new_codes(n: int) -> list[str]:
    """Draw ``n`` new, distinct unit codes in canonical form.

    Vectorised: one call to :func:`secrets.token_bytes` supplies all the
    randomness and NumPy slices it into 5-bit symbols, so 100,000 codes take a
    fraction of a second. Codes are distinct within the batch; uniqueness
    against codes issued earlier is the database's unique index's job (a clash
    has probability about n * issued / 2^80).

    >>> codes = new_codes(3)
    >>> len(set(codes)), all(is_valid(code) for code in codes)
    (3, True)
    """
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    raw = _random_bytes(n)
    # Redraw duplicates; with 80 bits this loop body essentially never runs.
    while (duplicate := _duplicates(raw)).any():
        raw[duplicate] = _random_bytes(int(duplicate.sum()))
    return _format_batch(_symbols(raw))


def _random_bytes(n: int) -> np.ndarray:
    """An ``(n, 10)`` uint8 array: 80 random bits per code."""
    raw = np.frombuffer(secrets.token_bytes(n * DATA_SYMBOLS * 5 // 8), dtype=np.uint8)
    return raw.reshape(n, DATA_SYMBOLS * 5 // 8).copy()


def _duplicates(raw: np.ndarray) -> np.ndarray:
    """A mask of the rows of ``raw`` that repeat an earlier row."""
    duplicate = np.zeros(len(raw), dtype=bool)
    # Distinct 64-bit prefixes mean distinct codes, and sorting one integer per
    # code is many times faster than sorting rows; rows are compared only when
    # two prefixes coincide (probability about n^2 / 2^65).
    prefixes = np.ascontiguousarray(raw[:, :8]).view(np.uint64).ravel()
    if len(np.unique(prefixes)) == len(raw):
        return duplicate
    _, first = np.unique(raw, axis=0, return_index=True)
    duplicate[:] = True
    duplicate[first] = False
    return duplicate


def _symbols(raw: np.ndarray) -> np.ndarray:
    """The ``(n, 16)`` 5-bit symbols of ``(n, 10)`` random bytes."""
    bits = np.unpackbits(raw, axis=1).reshape(len(raw), DATA_SYMBOLS, 5)
    weights = np.array([16, 8, 4, 2, 1], dtype=np.uint8)
    return (bits * weights).sum(axis=2, dtype=np.uint8)


def _format_batch(data: np.ndarray) -> list[str]:
    n = len(data)
    times2 = np.array(_TIMES2, dtype=np.uint8)
    interim = np.zeros(n, dtype=np.uint8)
    for column in data.T:  # the check, vectorised over codes
        interim = times2[interim] ^ column
    symbols = np.column_stack([data, times2[interim]])
    ascii_alphabet = np.frombuffer(ALPHABET.encode("ascii"), dtype=np.uint8)
    chars = ascii_alphabet[symbols]
    chars = np.insert(chars, list(_DASH_AFTER), ord("-"), axis=1)
    text = chars.tobytes().decode("ascii")
    return [text[i : i + FORMATTED_LENGTH] for i in range(0, len(text), FORMATTED_LENGTH)]


def qr_payload(code: str, base_url: str | None = None) -> str:
    """What the QR code on a unit's label encodes.

    Without ``base_url`` it is the canonical code. With one (the public
    address of the server, e.g. ``https://vigil.example.org``) it is a link
    ``<base_url>/u/<code>`` that a phone's camera app opens directly.

    >>> qr_payload("k7qx 9m2d ab3f gh45j")
    'K7QX-9M2D-AB3F-GH45J'
    >>> qr_payload("K7QX-9M2D-AB3F-GH45J", "https://vigil.example.org/")
    'https://vigil.example.org/u/K7QX-9M2D-AB3F-GH45J'
    """
    canonical = validate(code)
    return canonical if base_url is None else unit_link_prefix(base_url) + canonical


@lru_cache(maxsize=8)
def unit_link_prefix(base_url: str) -> str:
    """What precedes the code in a unit link: ``<base_url>/u/``, once ``base_url`` is checked.

    >>> unit_link_prefix("https://vigil.example.org/")
    'https://vigil.example.org/u/'
    """
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"base_url must be an http(s) address, got {base_url!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"base_url must not carry a query or fragment, got {base_url!r}")
    return base_url.rstrip("/") + URL_PATH_PREFIX


def code_from_scan(text: str) -> str:
    """The canonical unit code in a scanned QR/barcode text or a typed entry.

    Accepts the bare code in any case or grouping, and links of the form
    ``http(s)://<any host>/.../u/<code>`` (query strings and fragments are
    ignored). Raises :class:`UnitCodeError` if there is no valid code.

    >>> code_from_scan("https://vigil.example.org/u/k7qx-9m2d-ab3f-gh45j?src=qr")
    'K7QX-9M2D-AB3F-GH45J'
    """
    stripped = text.strip()
    if "://" not in stripped:
        return validate(stripped)
    parts = urlsplit(stripped)
    if parts.scheme.lower() not in ("http", "https"):
        raise UnitCodeError(f"scanned link has scheme {parts.scheme!r}, not http(s)")
    path = unquote(parts.path).rstrip("/")
    # Case-insensitive: an all-upper-case link fits QR's compact alphanumeric mode.
    start = path.lower().rfind(URL_PATH_PREFIX)
    tail = path[start + len(URL_PATH_PREFIX) :] if start >= 0 else ""
    if not tail or "/" in tail:
        raise UnitCodeError(
            f"scanned link is not a unit link (expected …{URL_PATH_PREFIX}<code>): {stripped!r}"
        )
    return validate(tail)
