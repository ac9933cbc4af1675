"""Standard codes for what a product tests (LOINC) and what a result means (SNOMED CT).

The mapping is data: :func:`load_seed` reads the shipped ``code_seed.json``; the pages will
let operators extend it in the database. Anything with the :class:`CodeMapping` methods can
be passed to the message builders, so a database-backed mapping drops in unchanged.

A name with no binding is *unmapped*: the message carries the name as text and says that
no code is known. Nothing is inferred from similar names, and a code that fails the LOINC
check digit is treated as no code at all.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal, Protocol

from api.interop.schemas import Coding, ProductPart, ReleasedResult, Result

LOINC = "http://loinc.org"
SNOMED_CT = "http://snomed.info/sct"

UNMAPPED_NOTE = "No LOINC code is mapped for {text!r}; the test is named by text only."

_LOINC_SHAPE = re.compile(r"^([0-9]{1,7})-([0-9])$")


def is_loinc(code: str) -> bool:
    """Whether ``code`` has the shape of a LOINC code and its mod-10 check digit matches.

    Examples
    --------
    >>> is_loinc("94558-4"), is_loinc("94558-5"), is_loinc("94558")
    (True, False, False)
    """
    match = _LOINC_SHAPE.match(code)
    if match is None:
        return False
    total = 0
    # Luhn over the code part, doubling the rightmost digit first (LOINC Users' Guide, mod 10).
    for position, digit in enumerate(reversed(match.group(1))):
        value = int(digit) * (2 if position % 2 == 0 else 1)
        total += value // 10 + value % 10
    return (10 - total % 10) % 10 == int(match.group(2))


def normalise_name(name: str) -> str:
    """The key a test item or analyte name is looked up by: NFKC, case-folded, spaces collapsed.

    Examples
    --------
    >>> normalise_name("  SARS-CoV-2   Antigen ")
    'sars-cov-2 antigen'
    """
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


class CodeMapping(Protocol):
    """What the message builders need from a code mapping (seed file or database)."""

    def loinc_for(self, product_code: str | None, name: str) -> str | None:
        """The LOINC code bound to this test item or analyte name for exactly this product
        (``None``: the binding for any product); ``None`` when unbound."""
        ...

    def loinc_display(self, code: str) -> str | None:
        """The LOINC long common name of a code the mapping knows, else ``None``."""
        ...

    def snomed_for(self, result: Result) -> Coding | None:
        """The SNOMED CT qualifier value for a confirmed result, else ``None``."""
        ...


@dataclass(frozen=True)
class CodeTable:
    """An in-memory :class:`CodeMapping`, as read from the seed file."""

    test_items: Mapping[tuple[str | None, str], str]
    """(product code or ``None`` for any product, normalised name) -> LOINC code."""
    loinc_codes: Mapping[str, str]
    """LOINC code -> display."""
    results: Mapping[str, Coding]
    """Result -> SNOMED CT coding."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CodeTable:
        """Build a table from the seed file's structure, refusing malformed codes."""
        test_items: dict[tuple[str | None, str], str] = {}
        for entry in data["test_items"]:
            if not is_loinc(entry["loinc"]):
                raise ValueError(f"{entry['loinc']!r} is not a valid LOINC code")
            key = (entry["product_code"], normalise_name(entry["name"]))
            if key in test_items:
                raise ValueError(f"{entry['name']!r} is bound twice for the same products")
            test_items[key] = entry["loinc"]
        results = {
            result: Coding(system=SNOMED_CT, code=coding["code"], display=coding["display"])
            for result, coding in data["results"].items()
        }
        return cls(test_items=test_items, loinc_codes=dict(data["loinc_codes"]), results=results)

    def loinc_for(self, product_code: str | None, name: str) -> str | None:
        return self.test_items.get((product_code, normalise_name(name)))

    def loinc_display(self, code: str) -> str | None:
        return self.loinc_codes.get(code)

    def snomed_for(self, result: Result) -> Coding | None:
        return self.results.get(result)


@cache
def load_seed() -> CodeTable:
    """The mapping shipped with Vigil (``api/interop/code_seed.json``)."""
    text = resources.files("api.interop").joinpath("code_seed.json").read_text("utf-8")
    return CodeTable.from_json(json.loads(text))


CodeSource = Literal["mapping", "manufacturer", "unmapped"]


@dataclass(frozen=True)
class TestCode:
    """What a test item or analyte is called in a message.

    ``coding`` is ``None`` when no LOINC code is known; the builders then send ``text`` only
    and say so in the message.
    """

    __test__ = False  # not a pytest class

    text: str
    coding: Coding | None
    source: CodeSource


def _resolved(
    text: str, candidates: tuple[tuple[str | None, CodeSource], ...], mapping: CodeMapping
) -> TestCode:
    # The first well-formed candidate wins; a malformed one is skipped, never repaired.
    for code, source in candidates:
        if code is not None and is_loinc(code):
            coding = Coding(system=LOINC, code=code, display=mapping.loinc_display(code))
            return TestCode(text=text, coding=coding, source=source)
    return TestCode(text=text, coding=None, source="unmapped")


def item_code(product: ProductPart, mapping: CodeMapping) -> TestCode:
    """The code of the product's test item (the report as a whole).

    Order: the mapping's binding for this product, the LOINC code the manufacturer declared
    in the kit description, the mapping's binding for any product; else unmapped.
    """
    name = product.test_item_name
    candidates: tuple[tuple[str | None, CodeSource], ...] = (
        (mapping.loinc_for(product.product_code, name), "mapping"),
        (product.test_item_loinc, "manufacturer"),
        (mapping.loinc_for(None, name), "mapping"),
    )
    return _resolved(name, candidates, mapping)


def analyte_code(
    product: ProductPart, analyte: str, *, sole_analyte: bool, mapping: CodeMapping
) -> TestCode:
    """The code of one analyte's observation, in the order of :func:`item_code`.

    The manufacturer's declared test item code stands for the analyte only when the product
    has a single analyte; a multiplex product needs a binding per analyte.
    """
    candidates: tuple[tuple[str | None, CodeSource], ...] = (
        (mapping.loinc_for(product.product_code, analyte), "mapping"),
        (product.test_item_loinc if sole_analyte else None, "manufacturer"),
        (mapping.loinc_for(None, analyte), "mapping"),
    )
    return _resolved(analyte, candidates, mapping)


def message_notes(result: ReleasedResult, code: TestCode) -> list[str]:
    """What a message says in words about one test: that it is unmapped, why it was revised."""
    notes = []
    if code.coding is None:
        notes.append(UNMAPPED_NOTE.format(text=code.text))
    if result.reason is not None:
        notes.append(f"{result.report_status}: {result.reason}")
    return notes
