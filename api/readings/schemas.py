from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from api.public_ids import ProposalId, TestId, UploadId


class UploadOut(BaseModel):
    """A stored photo; ``proposal_status`` is set once the pipeline has read it."""

    id: UploadId
    test_id: TestId
    photo_sha256: str
    size_bytes: int
    taken_at: datetime
    uploaded_at: datetime
    minutes_after_claim: float
    minutes_after_sample: float | None
    read_time_flag: str | None
    test_status: str
    proposal_status: str | None
    retake_reasons: list[str]


class SweepOut(BaseModel):
    requeued: list[UploadId]


class ReadingRecord(BaseModel):
    """One proposal and what the clinician made of it, without any person's data."""

    proposal_id: ProposalId
    upload_id: UploadId
    model_version: str
    status: str
    proposed_result: str | None
    confidence: float
    reviewed_decision: str | None
    reviewed_result: str | None
    read_time_flag: str | None
    unit_check: str | None
    reading: dict[str, Any]
    created_at: datetime
