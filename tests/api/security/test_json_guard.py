"""Kit descriptions: size and depth are judged on the raw bytes, before parsing."""

from __future__ import annotations

import json
import tracemalloc

import pytest

from api.security.json_guard import (
    MAX_JSON_DEPTH,
    JsonShapeError,
    check_json_shape,
    loads_guarded,
)


def test_hundred_thousand_levels_deep_is_a_clear_error_not_a_recursion_error() -> None:
    raw = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(RecursionError):  # what the plain parser does (a 500 in a route)
        json.loads(raw)
    with pytest.raises(JsonShapeError, match="nested deeper than 32 levels"):
        loads_guarded(raw)


def test_deep_objects_are_refused_as_well_as_arrays() -> None:
    raw = '{"a":' * 50 + "1" + "}" * 50
    with pytest.raises(JsonShapeError, match="nested deeper"):
        loads_guarded(raw)


def test_exactly_the_limit_is_accepted() -> None:
    raw = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    value = loads_guarded(raw)
    for _ in range(MAX_JSON_DEPTH - 1):
        value = value[0]
    assert value == []
    with pytest.raises(JsonShapeError):
        loads_guarded(b"[" + raw + b"]")


def test_brackets_inside_strings_and_escaped_quotes_do_not_count() -> None:
    inner = '\\"' + "[" * 200 + "{" * 200  # escaped quote, then brackets, all inside a string
    document = {"label": inner, "other": "\\", "list": [["x"]]}
    raw = json.dumps(document).encode()
    assert loads_guarded(raw) == document


def test_escaped_backslash_before_a_closing_quote_ends_the_string() -> None:
    # "a\\" is a complete string; the brackets after it are real nesting.
    raw = b'["a\\\\",' + b"[" * 40 + b"]" * 40 + b"]"
    with pytest.raises(JsonShapeError, match="nested deeper"):
        check_json_shape(raw)


def test_size_is_checked_before_anything_is_built() -> None:
    raw = b'"' + b"x" * (256 * 1024) + b'"'
    tracemalloc.start()
    try:
        with pytest.raises(JsonShapeError, match="larger than"):
            loads_guarded(raw)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024


def test_parser_errors_come_back_as_the_same_error() -> None:
    for raw in (b"{", b"\xff\xfe\x00", b"[1,]", b"1" * 5000):
        with pytest.raises(JsonShapeError, match="not valid JSON"):
            loads_guarded(raw)


def test_a_real_kit_description_passes() -> None:
    from pathlib import Path

    kit = Path(__file__).resolve().parents[3] / "datasets" / "kits" / "demo" / "kit.json"
    raw = kit.read_bytes()
    assert loads_guarded(raw) == json.loads(raw)


def test_brackets_after_a_string_that_never_ends_are_not_nesting() -> None:
    raw = b'["open' + b'\\"[' * 100
    check_json_shape(raw)  # all of it is inside the unterminated string
    with pytest.raises(JsonShapeError, match="not valid JSON"):
        loads_guarded(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b'["a\\',  # ends in a backslash inside a string
        b'"' + b'\\"' * 40_000,  # escaped quotes, no end: each must not rescan the rest
        b'"' * 100_001,
    ],
)
def test_strings_that_never_end_are_judged_once_and_refused_by_the_parser(raw: bytes) -> None:
    check_json_shape(raw)
    with pytest.raises(JsonShapeError, match="not valid JSON"):
        loads_guarded(raw)
