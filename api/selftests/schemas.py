"""Read models of a self-test."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from api.public_ids import ProposalId, TestId, UploadId


class ReadWindow(BaseModel):
    min_minutes: float
    max_minutes: float | None
    read_from: datetime
    read_until: datetime | None


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
    read_window: ReadWindow | None
    latitude: float | None = None
    longitude: float | None = None
    proposal: ProposalBrief | None = None
