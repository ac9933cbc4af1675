from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.public_ids import ProposalId, ReviewId, TestId, TestRef, UploadId, UserId

Result = Literal["positive", "negative", "invalid"]
# What a reading concluded: a result, or that a new photo is needed.
Outcome = Literal["positive", "negative", "invalid", "retake"]
MAX_HOLD_SECONDS = 120


class EarlierReading(BaseModel):
    """Shown to the third reader only: what the two who disagreed concluded (not who)."""

    round: int
    outcome: Outcome
    reason: str | None


class QueueItem(BaseModel):
    """A proposal waiting for a clinician, with what they need to check it (no identity).

    A second reader is not shown the first reading; a third reader sees both.
    """

    proposal_id: ProposalId
    test_id: TestId
    upload_id: UploadId
    # Read by eye: the model could not read it; its attempt (if any) is a hint only.
    by_eye: bool = False
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
    read_time: str = Field(description="the photo's timing against the kit's read window")
    unit_check: str | None = Field(
        description="match: the photo's code is the unit's; no_code: check the unit by eye"
    )
    same_photo_test_id: TestId | None = Field(
        description="another test that was sent the same photo (perceptual hash)"
    )
    blind: bool = Field(
        False, description="a blind second reading: the model's answer is withheld; give a result"
    )
    claimed_at: datetime
    taken_at: datetime
    proposed_at: datetime
    photo_url: str
    has_window: bool = Field(
        False, description="a straightened window image was kept (the queue shows it small)"
    )
    round: int = Field(description="1 first reading, 2 second (blind), 3 third (arbitration)")
    urgent: bool = Field(
        description="past its target wait: a suspected positive over 30 minutes, a photo "
        "read by eye or with low confidence over 1 hour, anything over 2 hours"
    )
    earlier_readings: list[EarlierReading] = Field(default_factory=list)


class QueueCounts(BaseModel):
    total: int
    urgent: int
    positive: int
    negative: int
    invalid: int
    low_confidence: int
    second_readings: int
    oldest: datetime | None


class ReviewIn(BaseModel):
    """Step 8: confirm the proposal, change its result (with a reason), or ask for a retake."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["confirm", "change", "retake"]
    result: Result | None = Field(None, description="the corrected result, for 'change'")
    reason: Annotated[str, Field(max_length=2000)] | None = Field(
        None, description="required for 'change' and 'retake'; a retake reason goes to the patient"
    )
    round: Annotated[int, Field(ge=1, le=3)] | None = Field(
        None,
        description="the reading the clinician was shown (1-3); 409 if the item has moved on",
    )
    hold_seconds: Annotated[float, Field(ge=0, le=MAX_HOLD_SECONDS)] = Field(
        0, description="keep the decision undoable this long before it takes effect"
    )
    seconds_spent: Annotated[float, Field(ge=0)] | None = Field(
        None, description="time the clinician spent on the item, for their statistics"
    )
    read_time_ok: bool = Field(
        False,
        description="the photo was taken outside the kit's read window (read_time_flag) and "
        "the clinician confirms the reading stands anyway; required for a result then",
    )


class ReviewOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: ReviewId
    proposal_id: ProposalId
    test_id: TestId
    round: int
    decision: str
    result: str | None
    reason: str | None
    status: Literal["held", "released", "retake", "second_reading", "third_reading"] = Field(
        description="'held' until settles_at (undoable), then what the reading did"
    )
    released: bool
    reports: int
    settles_at: datetime
    created_at: datetime


class UndoOut(BaseModel):
    review_id: ReviewId
    proposal_id: ProposalId
    round: int


class ReviewerStats(BaseModel):
    """A clinician's own work over a period."""

    since: datetime
    items: int
    items_per_hour: float | None = Field(description="items over the time spent on them")
    median_seconds: float | None
    changed: int = Field(description="readings that changed the model's result")
    changed_rate: float | None
    retakes: int
    double_read: int = Field(description="items another clinician also read")
    agreement: float | None = Field(description="share of double-read items with the same outcome")
    kappa: float | None = Field(description="Cohen's kappa with the other readers")
    by_outcome: dict[str, int]


class ReviewerSummary(BaseModel):
    """One clinician's work over a period, for the lead: speed, agreement, gold scores."""

    reviewer_id: UserId
    name: str
    stats: ReviewerStats
    gold_read: int = Field(description="gold-standard items read (known answer, never released)")
    gold_correct: int = Field(description="of those, read as the known answer")
    gold_accuracy: float | None
    too_fast: bool = Field(description="median time per item implausibly short")
    warning: str | None = Field(description="what the lead should look at, in words")


class GoldIn(BaseModel):
    """Seed a known item: a released test's photo comes back into its region's readers' flow."""

    model_config = ConfigDict(extra="forbid")

    test_id: TestRef
    known_result: Result = Field(description="the answer the readings are scored against")


class GoldOut(BaseModel):
    proposal_id: ProposalId
    test_id: TestId
    known_result: Result
    region_code: str
    created_at: datetime
