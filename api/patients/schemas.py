from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.accounts.schemas import Password, Username

Latitude = Annotated[float, Field(ge=-90, le=90)]
Longitude = Annotated[float, Field(ge=-180, le=180)]


class PatientRegister(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=100, description="real name")]
    national_id: Annotated[str, Field(min_length=1, max_length=40)]
    phone: Annotated[str, Field(min_length=3, max_length=40)]
    username: Username
    password: Password


class PatientOut(BaseModel):
    id: int
    user_id: int
    name: str
    national_id_masked: str
    phone_masked: str


class PatientCodeLogin(BaseModel):
    """Log in by the code of a kit this patient scanned, plus their national ID number."""

    model_config = ConfigDict(extra="forbid")

    code: Annotated[str, Field(min_length=1, max_length=500)]
    national_id: Annotated[str, Field(min_length=1, max_length=40)]


class Claim(BaseModel):
    """Step 6: a scanned code and where the phone is."""

    model_config = ConfigDict(extra="forbid")

    code: Annotated[str, Field(min_length=1, max_length=500, description="typed or scanned text")]
    latitude: Latitude
    longitude: Longitude


class ReadWindow(BaseModel):
    min_minutes: float
    max_minutes: float | None
    read_from: datetime
    read_until: datetime | None


class ProposalBrief(BaseModel):
    id: int
    upload_id: int
    status: Literal["ok", "retake"]
    result: str | None
    confidence: float
    model_version: str
    issues: list[dict[str, str]]
    read_time_flag: str | None
    minutes_after_claim: float | None
    reviewed: bool
    created_at: datetime


class TestOut(BaseModel):
    """A self-test as its patient sees it: the result only once a clinician released it."""

    __test__ = False

    id: int
    code: str
    product_code: str
    product_name: str
    lot_number: str
    region_code: str
    claimed_at: datetime
    status: str
    result: str | None
    released_at: datetime | None
    retake_reasons: list[str]
    read_window: ReadWindow | None


class TestStaffOut(TestOut):
    """A self-test as clinicians and CDC officers see it, with the latest proposal."""

    latitude: float
    longitude: float
    proposal: ProposalBrief | None
