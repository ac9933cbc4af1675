"""Refuse JSON documents that are too large or too deeply nested, before parsing.

``json.loads`` builds the whole document before anyone can look at it, and a
document nested 100,000 levels deep fails inside the parser with a
``RecursionError`` (a 500). A kit description is a few kilobytes and a handful
of levels deep, so the bytes are checked first: the size, then the bracket depth
found by scanning the raw text (skipping string contents and escapes), and
only then are they parsed.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_JSON_BYTES = 256 * 1024
"""A kit description is a few KB; 256 KB leaves room for long translations."""

MAX_JSON_DEPTH = 32
"""``rdt-kit/1`` nests about five levels; 32 is generous and far from the parser's limits."""

# Only these bytes change the nesting or the string state; everything else is skipped
# by the regular expression engine, which keeps the scan fast on 256 KB.
_STRUCTURAL = re.compile(rb'["\\\[\]{}]')


class JsonShapeError(ValueError):
    """The document is too large or too deeply nested to be parsed safely."""


def check_json_shape(
    raw: bytes, *, max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_JSON_DEPTH
) -> None:
    """Refuse ``raw`` if it is larger than ``max_bytes`` or nests deeper than ``max_depth``.

    The scan is linear and stops at the first level past the limit; it does not
    check that the text is valid JSON (the parser does that afterwards).

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
    depth = 0
    in_string = False
    escaped_at = -1  # index of the byte a backslash inside a string escapes
    for match in _STRUCTURAL.finditer(raw):
        at = match.start()
        if at == escaped_at:
            continue
        byte = raw[at]
        if in_string:
            if byte == 0x5C:  # backslash
                escaped_at = at + 1
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > max_depth:
                raise JsonShapeError(f"JSON is nested deeper than {max_depth} levels")
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1


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
