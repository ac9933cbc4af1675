from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from api.public_ids import PatientId, ReportId, TestId, UserId


class ReportOut(BaseModel):
    id: ReportId
    test_id: TestId
    region_code: str
    result: str
    product_code: str
    lot_number: str
    released_at: datetime | None
    created_at: datetime


class PositiveCase(BaseModel):
    """A confirmed positive with the personal details a CDC officer needs to act on it."""

    test_id: TestId
    patient_id: PatientId
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
    read_time_flag: str | None = Field(
        None, description="early / late: the photo missed the kit's read window"
    )
    read_time: str = Field("", description="the photo's timing against the kit's read window")


class PositiveBrief(BaseModel):
    """A confirmed positive without personal data: for lists and maps."""

    test_id: TestId
    region_code: str
    region_name: str
    tested_at: datetime
    released_at: datetime | None
    product_code: str
    lot_number: str


class CaseTest(BaseModel):
    """One test in a patient's history, as a CDC officer sees it."""

    test_id: TestId
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


class CorrectionIn(BaseModel):
    """A released result amended: a new result, or withdrawn as entered in error."""

    result: Literal["positive", "negative", "invalid"] | None = None
    entered_in_error: bool = False
    reason: Annotated[str, Field(min_length=1, max_length=500)]

    @model_validator(mode="after")
    def _one_change(self) -> CorrectionIn:
        if (self.result is None) == (not self.entered_in_error):
            raise ValueError("give either a corrected result or entered_in_error, not both")
        return self


class ResultVersion(BaseModel):
    """One version of a released result: the release, a correction or a withdrawal."""

    number: int
    report_status: Literal["final", "corrected", "entered-in-error"]
    result: str
    at: datetime
    clinician_id: UserId
    reason: str | None


class LinkedResult(BaseModel):
    """What a patient's result link shows: the result and its state, nothing personal."""

    status: Literal["released", "corrected", "withdrawn"]
    result: str
    product_name: str
    test_item: str
    released_at: datetime
    updated_at: datetime | None
    reason: str | None


class LinkRefused(BaseModel):
    """Why a result link did not open: unknown (or expired), mismatch, or locked."""

    refusal: Literal["unknown", "mismatch", "locked"]
