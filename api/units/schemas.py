from __future__ import annotations

from datetime import date

from pydantic import BaseModel


class LineCriterion(BaseModel):
    name: str
    role: str
    at: float
    analyte: str | None
    present_means: str


class Interpretation(BaseModel):
    """How to read the kit: its lines and when to read it."""

    lines: list[LineCriterion]
    read_time_minutes: dict[str, float | None] | None
    rules: list[str]


class UnitLookup(BaseModel):
    """What anyone holding the cassette may know: the product, never a person."""

    code: str
    state: str
    product_code: str
    product_name: str
    manufacturer: str
    test_item: str
    test_item_loinc: str | None
    registration_certificate_no: str
    lot_number: str
    expiry_date: date
    interpretation: Interpretation
