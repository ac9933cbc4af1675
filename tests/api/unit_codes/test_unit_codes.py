import doctest
import re

import numpy as np
import pytest

from api.unit_codes import (
    CODE_LENGTH,
    UnitCodeError,
    check_symbol,
    code_from_scan,
    format_code,
    is_valid,
    new_codes,
    normalize,
    qr_payload,
    validate,
    validate_many,
)
from api.unit_codes import codes as codes_module
from api.unit_codes import exports as exports_module
from api.unit_codes.codes import ALPHABET

CANONICAL = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){2}-[0-9A-HJKMNP-TV-Z]{5}$")
KNOWN = "K7QX-9M2D-AB3F-GH45J"


@pytest.mark.parametrize("module", [codes_module, exports_module])
def test_docstring_examples_hold(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


def test_new_codes_are_distinct_canonical_and_valid():
    codes = new_codes(100_000)
    assert len(codes) == 100_000
    assert len(set(codes)) == 100_000
    assert all(CANONICAL.match(code) for code in codes[:2000])
    assert all(validate(code) == code for code in codes[:2000])


def test_new_codes_symbols_are_uniform():
    # A bit-slicing bug (a stuck bit, a skipped byte) shows up as missing or
    # lopsided symbols in some position.
    codes = new_codes(32_000)
    table = np.array([list(code.replace("-", "")) for code in codes])
    for position in range(CODE_LENGTH):
        counts = np.array([(table[:, position] == symbol).sum() for symbol in ALPHABET])
        assert counts.min() > 800, (position, counts.min())  # expected 1000 each
        assert counts.max() < 1200, (position, counts.max())


def test_new_codes_edge_counts():
    assert new_codes(0) == []
    assert len(new_codes(1)) == 1
    with pytest.raises(ValueError, match="non-negative"):
        new_codes(-1)


def test_new_codes_redraws_duplicates(monkeypatch):
    real = codes_module._random_bytes
    calls = []

    def clashing(n):
        calls.append(n)
        data = real(n)
        if len(calls) == 1:
            data[1::2] = data[0]  # every other row repeats the first
        return data

    monkeypatch.setattr(codes_module, "_random_bytes", clashing)
    codes = new_codes(6)
    assert len(set(codes)) == 6
    assert calls[0] == 6
    assert len(calls) >= 2


def test_new_codes_keeps_codes_that_share_only_a_prefix(monkeypatch):
    """Equal first 64 bits are compared in full: codes differing in the last 16 bits stay."""
    real = codes_module._random_bytes
    calls = []

    def same_prefix(n):
        calls.append(n)
        data = real(n)
        data[:, :8] = data[0, :8]
        data[:, 8:] = np.arange(n * 2, dtype=np.uint8).reshape(n, 2)  # distinct tails
        return data

    monkeypatch.setattr(codes_module, "_random_bytes", same_prefix)
    codes = new_codes(6)
    assert len(set(codes)) == 6
    assert calls == [6]  # nothing was redrawn


def test_check_symbol_known_values():
    assert check_symbol("0000000000000000") == "0"
    assert check_symbol("0000000000000001") == "2"
    assert check_symbol("K7QX9M2DAB3FGH45") == "J"
    with pytest.raises(UnitCodeError, match="16 data symbols"):
        check_symbol("K7QX")


def test_normalize_folds_case_separators_and_look_alikes():
    assert normalize(" k7qx-9m2d ab3f\tgh45j ") == "K7QX9M2DAB3FGH45J"
    assert normalize("OoIiLl") == "001111"
    assert normalize("a–b—c") == "ABC"  # en/em dashes from word processors


def test_normalize_rejects_foreign_characters():
    with pytest.raises(UnitCodeError, match=r"'U' at position 3.*U is not used"):
        normalize("ABU")
    with pytest.raises(UnitCodeError, match=r"'\*' at position 1"):
        normalize("*ABC")


def test_validate_accepts_typed_variants():
    assert validate(KNOWN) == KNOWN
    assert validate(KNOWN.lower()) == KNOWN
    assert validate(KNOWN.replace("-", "")) == KNOWN
    assert validate(" K7QX 9M2D AB3F GH45J ") == KNOWN
    assert validate("oi23-4567-89ab-cdefp") == "0123-4567-89AB-CDEFP"
    assert validate("LIOO OOOO OOOO OOOL6") == "1100-0000-0000-00016"
    assert is_valid(KNOWN)
    assert not is_valid(KNOWN[:-1])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no unit code given"),
        ("   ", "no unit code given"),
        ("K7QX-9M2D-AB3F-GH45", "17 characters .*got 16"),
        ("K7QX-9M2D-AB3F-GH45JJ", "17 characters .*got 18"),
        ("K7QX-9M2D-AB3F-GH4#J", "'#' at position 16"),
        ("K7QX-9M2D-AB3F-GH45K", "check character does not match"),
        ("K7QX-9M2D-AB3F-GH54J", "check character does not match"),
    ],
)
def test_validate_rejects_with_clear_message(text, message):
    with pytest.raises(UnitCodeError, match=message):
        validate(text)


def test_every_single_substitution_and_adjacent_swap_is_caught():
    for code in [KNOWN, *new_codes(5)]:
        compact = normalize(code)
        for position in range(CODE_LENGTH):
            for symbol in ALPHABET:
                if symbol == compact[position]:
                    continue
                typo = compact[:position] + symbol + compact[position + 1 :]
                assert not is_valid(typo), typo
        for position in range(CODE_LENGTH - 1):
            a, b = compact[position], compact[position + 1]
            if a != b:
                swapped = compact[:position] + b + a + compact[position + 2 :]
                assert not is_valid(swapped), swapped


def test_format_code_groups_by_four_with_check_in_last_group():
    assert format_code("K7QX9M2DAB3FGH45J") == KNOWN
    with pytest.raises(UnitCodeError, match="expected 17"):
        format_code("K7QX")


def test_qr_payload_forms():
    assert qr_payload(KNOWN.lower()) == KNOWN
    assert qr_payload(KNOWN, "https://vigil.example.org") == f"https://vigil.example.org/u/{KNOWN}"
    assert qr_payload(KNOWN, "https://h.example/app/") == f"https://h.example/app/u/{KNOWN}"
    with pytest.raises(ValueError, match="http"):
        qr_payload(KNOWN, "vigil.example.org")
    with pytest.raises(ValueError, match="query or fragment"):
        qr_payload(KNOWN, "https://vigil.example.org/?a=1")
    with pytest.raises(UnitCodeError):
        qr_payload("K7QX-9M2D-AB3F-GH45K", "https://vigil.example.org")


@pytest.mark.parametrize(
    "scanned",
    [
        KNOWN,
        f" {KNOWN.lower()}\n",
        f"https://vigil.example.org/u/{KNOWN}",
        f"https://vigil.example.org/u/{KNOWN}/",
        f"http://vigil.example.org/app/u/{KNOWN.lower()}?src=qr#x",
        f"HTTPS://VIGIL.EXAMPLE.ORG/U/{KNOWN}",
        f"https://vigil.example.org/u/{KNOWN.replace('-', '%20')}",
    ],
)
def test_code_from_scan_accepts_code_and_links(scanned):
    assert code_from_scan(scanned) == KNOWN


@pytest.mark.parametrize(
    ("scanned", "message"),
    [
        ("https://vigil.example.org/kits/demo", "not a unit link"),
        ("https://vigil.example.org/u/", "not a unit link"),
        (f"https://vigil.example.org/u/{KNOWN}/extra", "not a unit link"),
        (f"ftp://vigil.example.org/u/{KNOWN}", "not http"),
        ("https://vigil.example.org/u/K7QX-9M2D-AB3F-GH45K", "check character"),
        ("WIFI:S:home;T:WPA;P:secret;;", "not allowed"),
    ],
)
def test_code_from_scan_rejects_other_content(scanned, message):
    with pytest.raises(UnitCodeError, match=message):
        code_from_scan(scanned)


def explain(text):
    """The message :func:`validate` refuses ``text`` with."""
    with pytest.raises(UnitCodeError) as raised:
        validate(text)
    return str(raised.value)


def test_validate_many_agrees_with_validate():
    good = new_codes(500)
    code = good[0]
    swapped = code[:5] + code[6] + code[5] + code[7:]
    tricky = [
        code.lower(),  # canonical after folding
        code.replace("-", " ", 1) + " ",  # same length, a space for a dash... plus one
        code.replace("-", "", 1) + "0",  # right length, dash missing
        swapped,  # right shape, wrong check
        code[:-1] + "U",  # a symbol outside the alphabet
        code[:-1] + "\u00e9",  # non-ASCII at the right length
        code[:3] + "-" + code[4:],  # a dash moved
    ]
    assert validate_many(good) == good
    for text in tricky:
        if is_valid(text):
            assert validate_many([*good, text]) == [*good, validate(text)]
        else:
            with pytest.raises(UnitCodeError) as raised:
                validate_many([*good, text])
            assert str(raised.value) == explain(text)
    assert validate_many([]) == []
