from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class ReportOut(BaseModel):
    id: int
    test_id: int
    region_code: str
    result: str
    product_code: str
    lot_number: str
    released_at: datetime | None
    created_at: datetime


class PositiveCase(BaseModel):
    """A confirmed positive with the personal details a CDC officer needs to act on it."""

    test_id: int
    patient_id: int
    name: str
    national_id: str
    phone: str
    latitude: float
    longitude: float
    region_code: str
    region_name: str
    tested_at: datetime
    released_at: datetime | None
    product_code: str
    product_name: str
    test_item: str
    lot_number: str


class CountRow(BaseModel):
    day: str
    region_code: str
    product_code: str
    result: str
    count: int


class Statistics(BaseModel):
    scope: list[str] | None
    since: datetime | None
    until: datetime | None
    total: int
    by_result: dict[str, int]
    by_day: dict[str, dict[str, int]]
    by_region: dict[str, dict[str, int]]
    by_product: dict[str, dict[str, int]]
    positivity_rate: float | None
    rows: list[CountRow]


class PositiveBrief(BaseModel):
    """A confirmed positive without personal data: for lists and maps."""

    test_id: int
    region_code: str
    region_name: str
    tested_at: datetime
    released_at: datetime | None
    product_code: str
    lot_number: str


class CaseTest(BaseModel):
    """One test in a patient's history, as a CDC officer sees it."""

    test_id: int
    region_code: str
    region_name: str
    tested_at: datetime
    status: str
    result: str | None
    released_at: datetime | None
    product_code: str
    product_name: str
    test_item: str
    lot_number: str
    latitude: float
    longitude: float


class PatientCase(BaseModel):
    """A confirmed positive with the patient's identity, contact and test history in scope."""

    case: PositiveCase
    history: list[CaseTest]
    tests_elsewhere: int  # the patient's tests outside the officer's scope, not shown
