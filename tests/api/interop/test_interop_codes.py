"""The code mapping: shipped seed, LOINC check digits, the order in which bindings count."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest

from api.interop.codes import (
    LOINC,
    SNOMED_CT,
    CodeTable,
    analyte_code,
    is_loinc,
    item_code,
    load_seed,
    normalise_name,
)
from api.interop.schemas import ProductPart


def seed_data() -> dict[str, Any]:
    text = resources.files("api.interop").joinpath("code_seed.json").read_text("utf-8")
    return dict(json.loads(text))


def product(**changes: Any) -> ProductPart:
    fields = {
        "product_code": "ACME-COV-AG",
        "name": "ACME SARS-CoV-2 Antigen Rapid Test",
        "manufacturer": "ACME Diagnostics",
        "test_item_name": "SARS-CoV-2 antigen",
        "test_item_loinc": None,
    } | changes
    return ProductPart(**fields)


def test_every_code_the_seed_ships_passes_the_loinc_check_digit() -> None:
    data = seed_data()
    codes = set(data["loinc_codes"]) | {entry["loinc"] for entry in data["test_items"]}
    assert codes == {"94558-4", "97097-0", "80382-5", "80383-3"}
    assert all(is_loinc(code) for code in codes)
    # Any other check digit is refused, so a mistyped code is never sent.
    for code in codes:
        body, check = code.split("-")
        assert [digit for digit in "0123456789" if is_loinc(f"{body}-{digit}")] == [check]


@pytest.mark.parametrize("text", ["", "94558", "94558-", "-4", "94558-44", "9455a-4", "94558 -4"])
def test_malformed_loinc_codes_are_refused(text: str) -> None:
    assert not is_loinc(text)


def test_the_seed_binds_results_to_snomed_ct() -> None:
    seed = load_seed()
    assert {result: seed.snomed_for(result) for result in ("positive", "negative", "invalid")} == {
        "positive": seed.results["positive"],
        "negative": seed.results["negative"],
        "invalid": seed.results["invalid"],
    }
    codes = {
        result: (coding.system, coding.code, coding.display)
        for result, coding in seed.results.items()
    }
    assert codes == {
        "positive": (SNOMED_CT, "260373001", "Detected"),
        "negative": (SNOMED_CT, "260415000", "Not detected"),
        "invalid": (SNOMED_CT, "455371000124106", "Invalid result"),
    }


def test_names_match_regardless_of_case_spacing_and_width_but_nothing_looser() -> None:
    seed = load_seed()
    assert seed.loinc_for(None, "  sars-cov-2   ANTIGEN ") == "94558-4"
    assert seed.loinc_for(None, "ＳＡＲＳ-CoV-2 antigen") == "94558-4"  # full-width letters
    assert seed.loinc_for(None, "SARS-CoV-2 antigens") is None
    assert seed.loinc_for(None, "SARS CoV 2 antigen") is None
    assert normalise_name("Influenza\tA  antigen") == "influenza a antigen"


def test_a_seed_with_a_bad_or_repeated_binding_is_refused() -> None:
    data = seed_data()
    broken = data | {"test_items": [{"product_code": None, "name": "x", "loinc": "94558-5"}]}
    with pytest.raises(ValueError, match="not a valid LOINC code"):
        CodeTable.from_json(broken)
    twice = data | {
        "test_items": [
            {"product_code": None, "name": "Flu A", "loinc": "80382-5"},
            {"product_code": None, "name": "flu  a", "loinc": "80383-3"},
        ]
    }
    with pytest.raises(ValueError, match="bound twice"):
        CodeTable.from_json(twice)


def test_bindings_count_in_order_product_then_manufacturer_then_any_product() -> None:
    seed = load_seed()
    for_this_product = CodeTable(
        test_items={**seed.test_items, ("ACME-COV-AG", "sars-cov-2 antigen"): "97097-0"},
        loinc_codes=seed.loinc_codes,
        results=seed.results,
    )
    declared = product(test_item_loinc="97097-0")
    undeclared = product()

    code = item_code(declared, seed)
    assert (code.source, code.coding and code.coding.code) == ("manufacturer", "97097-0")
    code = item_code(undeclared, seed)
    assert (code.source, code.coding and code.coding.code) == ("mapping", "94558-4")
    code = item_code(product(test_item_loinc="94558-4"), for_this_product)
    assert (code.source, code.coding and code.coding.code) == ("mapping", "97097-0")
    assert code.coding is not None
    assert code.coding.system == LOINC
    assert code.coding.display == seed.loinc_codes["97097-0"]


def test_a_declared_code_names_an_analyte_only_on_a_single_analyte_product() -> None:
    seed = load_seed()
    combo = product(test_item_name="Flu A/B antigen", test_item_loinc="95942-9")

    alone = analyte_code(combo, "Mystery antigen", sole_analyte=True, mapping=seed)
    among_others = analyte_code(combo, "Mystery antigen", sole_analyte=False, mapping=seed)
    assert alone.coding is not None
    assert alone.coding.code == "95942-9"
    assert alone.coding.display is None  # a code the mapping does not know gets no display
    assert among_others.coding is None
    assert among_others.source == "unmapped"
    assert among_others.text == "Mystery antigen"
    # A mapped analyte of the combination is still coded.
    flu_b = analyte_code(combo, "Influenza B antigen", sole_analyte=False, mapping=seed)
    assert flu_b.coding is not None
    assert flu_b.coding.code == "80383-3"
