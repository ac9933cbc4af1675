"""Refuse JSON documents that are too large or too deeply nested, before parsing.

``json.loads`` builds the whole document before anyone can look at it, and a
document nested 100,000 levels deep fails inside the parser with a
``RecursionError`` (a 500). A kit description is a few kilobytes and a handful
of levels deep, so the bytes are checked first: the size, then the bracket depth
found on the raw text (string contents and escapes skipped), and only then are
they parsed.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

MAX_JSON_BYTES = 256 * 1024
"""A kit description is a few KB; 256 KB leaves room for long translations."""

MAX_JSON_DEPTH = 32
"""``rdt-kit/1`` nests about five levels; 32 is generous and far from the parser's limits."""

# A whole string, possessive so that it never backtracks.
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
# Appended before strings are cut out, so that every string ends: an unterminated one then
# runs to the end of the document, as the parser sees it, and no attempt to match a string
# can fail after scanning the rest of the input (which would make the cut quadratic).
# The space keeps a trailing backslash from escaping the closing quote.
_END_ANY_STRING = b' "'

# +1 for an opening bracket, -1 for a closing one, 0 for every other byte.
_NESTING_STEP = np.zeros(256, dtype=np.int8)
_NESTING_STEP[[ord("["), ord("{")]] = 1
_NESTING_STEP[[ord("]"), ord("}")]] = -1


class JsonShapeError(ValueError):
    """The document is too large or too deeply nested to be parsed safely."""


def check_json_shape(
    raw: bytes, *, max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_JSON_DEPTH
) -> None:
    """Refuse ``raw`` if it is larger than ``max_bytes`` or nests deeper than ``max_depth``.

    The scan is linear and builds nothing but a copy of the bytes outside
    strings; it does not check that the text is valid JSON (the parser does
    that afterwards).

    Parameters
    ----------
    raw : bytes
        The document as received (UTF-8).
    max_bytes, max_depth : int
        Limits; arrays and objects each count one level.

    Raises
    ------
    JsonShapeError
        With a message fit to show the sender.

    Examples
    --------
    >>> check_json_shape(b'{"a": [1, "]]]", {"b": "\\\\"["}]}')
    >>> check_json_shape(b"[" * 40)
    Traceback (most recent call last):
    ...
    api.security.json_guard.JsonShapeError: JSON is nested deeper than 32 levels
    """
    if len(raw) > max_bytes:
        raise JsonShapeError(f"JSON document is larger than {max_bytes} bytes")
    # Strings are cut out first (their brackets are text); the depth after each byte is
    # then a running sum, computed in numpy rather than in a Python loop.
    outside = _STRING.sub(b"", raw + _END_ANY_STRING)
    steps = _NESTING_STEP[np.frombuffer(outside, dtype=np.uint8)]
    if steps.size and int(np.cumsum(steps, dtype=np.int32).max()) > max_depth:
        raise JsonShapeError(f"JSON is nested deeper than {max_depth} levels")


def loads_guarded(
    raw: bytes | str, *, max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_JSON_DEPTH
) -> Any:
    """Parse ``raw`` as JSON after :func:`check_json_shape`.

    Raises
    ------
    JsonShapeError
        When the document is too large, too deep, or not JSON at all (the
        parser's own errors, including over-long integers, come back as this
        one type so that a route has a single error to map to a 422).

    Examples
    --------
    >>> loads_guarded(b'{"kit": [1, 2]}')
    {'kit': [1, 2]}
    """
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    check_json_shape(data, max_bytes=max_bytes, max_depth=max_depth)
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        # RecursionError cannot happen after the depth check; kept so that a changed
        # limit can never turn into a 500.
        raise JsonShapeError(f"not valid JSON: {exc}") from None
