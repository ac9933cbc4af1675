"""Read models of a self-test."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.public_ids import ProposalId, TestId, UploadId


class ReadWindow(BaseModel):
    """The kit's read window for one test, from when the sample was applied."""

    min_minutes: float
    max_minutes: float | None
    starts_at: datetime = Field(description="when the sample was applied, else the scan")
    from_sample: bool = Field(description="false: no sample time given; timed from the scan")
    read_from: datetime
    read_until: datetime | None


class SampleApplied(BaseModel):
    """The patient applied the sample (now, or at ``applied_at``): the read window starts."""

    model_config = ConfigDict(extra="forbid")

    applied_at: datetime | None = Field(None, description="with a time zone; default: now")


class ProposalBrief(BaseModel):
    id: ProposalId
    upload_id: UploadId
    status: Literal["ok", "retake", "by_eye"]
    result: str | None
    confidence: float
    model_version: str
    issues: list[dict[str, str]]
    read_time_flag: str | None
    minutes_after_claim: float | None
    minutes_after_sample: float | None
    read_time: str = Field(description="the photo's timing against the kit's read window")
    unit_check: str | None = Field(
        description="match: the photo's code is the unit's; no_code: check the unit by eye"
    )
    same_photo_test_id: TestId | None = Field(
        description="another test that was sent the same photo (perceptual hash)"
    )
    reviewed: bool
    created_at: datetime


class TestOut(BaseModel):
    """A self-test. Its patient sees the result only once a clinician released it; the
    location and the latest proposal are for clinicians and CDC officers only (``null`` for
    the patient): one shape whoever asks."""

    __test__ = False

    id: TestId
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
    sample_applied_at: datetime | None
    read_window: ReadWindow | None
    latitude: float | None = None
    longitude: float | None = None
    proposal: ProposalBrief | None = None
