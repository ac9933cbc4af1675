from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Result = Literal["positive", "negative", "invalid"]


class QueueItem(BaseModel):
    """A proposal waiting for a clinician, with what they need to check it (no identity)."""

    proposal_id: int
    test_id: int
    upload_id: int
    region_code: str
    product_code: str
    product_name: str
    lot_number: str
    proposed_result: str | None
    confidence: float
    model_version: str
    reading: dict[str, Any]
    read_time_flag: str | None
    minutes_after_claim: float
    claimed_at: datetime
    taken_at: datetime
    photo_url: str


class ReviewIn(BaseModel):
    """Step 8: confirm the proposal, change its result (with a reason), or ask for a retake."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["confirm", "change", "retake"]
    result: Result | None = Field(None, description="the corrected result, for 'change'")
    reason: Annotated[str, Field(max_length=2000)] | None = Field(
        None, description="required for 'change' and 'retake'; a retake reason goes to the patient"
    )


class ReviewOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    proposal_id: int
    test_id: int
    decision: str
    result: str | None
    reason: str | None
    released: bool
    reports: int
    created_at: datetime
