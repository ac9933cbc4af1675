"""A self-test's records: the test, its photos, the pipeline's proposals, the clinicians'
readings. Their states change only through ``api.selftests.lifecycle``."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from api.db.base import Base, utcnow


class TestStatus(StrEnum):
    __test__ = False  # not a pytest class

    awaiting_photo = "awaiting_photo"
    reading = "reading"
    retake = "retake"
    in_review = "in_review"
    released = "released"
    corrected = "corrected"
    withdrawn = "withdrawn"


class SelfTest(Base):
    """One unit used by one patient: from the scan to the released result."""

    __tablename__ = "self_tests"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), unique=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    # Kept here too so statistics need no join through units and batches.
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"))
    region_code: Mapped[str] = mapped_column(String(32), index=True)
    latitude: Mapped[float]
    longitude: Mapped[float]
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When the patient applied the sample: the kit's read window runs from here. None
    # until the patient says so; the window then runs from the scan (an upper bound).
    sample_applied_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16), default=TestStatus.awaiting_photo, index=True)
    result: Mapped[str | None] = mapped_column(String(10))
    released_at: Mapped[datetime | None] = mapped_column(index=True)
    released_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


# The clinicians' queue and its counts start from a region's tests in review (a few thousand at
# 10^6 stored tests), not from every proposal awaiting a reading (migration 0015).
_IN_REVIEW = SelfTest.status == "in_review"
Index(
    "ix_self_tests_in_review",
    SelfTest.region_code,
    SelfTest.id,
    postgresql_where=_IN_REVIEW,
    sqlite_where=_IN_REVIEW,
)


class Upload(Base):
    __tablename__ = "uploads"
    __table_args__ = (UniqueConstraint("self_test_id", "idempotency_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    self_test_id: Mapped[int] = mapped_column(ForeignKey("self_tests.id"), index=True)
    photo_sha256: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(40))
    size_bytes: Mapped[int]
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    taken_at: Mapped[datetime]
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Last time a task was queued for it; the sweep looks at this.
    queued_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    minutes_after_claim: Mapped[float]
    # Minutes from the sample being applied to the photo (None: no sample time given).
    minutes_after_sample: Mapped[float | None]
    # "early" / "late" when the photo missed the kit's read-time window.
    read_time_flag: Mapped[str | None] = mapped_column(String(8))
    # 64-bit difference hash of the photo (16 hex digits), set when it is read: the
    # same photo sent for another unit is found by it (api.readings.unit_check).
    photo_dhash: Mapped[str | None] = mapped_column(String(16))
    # The hash cut into three bands (api.readings.photo_bands), set with it: the same photo
    # is looked for by equality on these, not by reading every upload's hash.
    photo_band0: Mapped[int | None]
    photo_band1: Mapped[int | None]
    photo_band2: Mapped[int | None]


# With the upload time: the look-up wants only the last SAME_PHOTO_DAYS, and the table keeps
# every upload (migration 0017).
Index("ix_uploads_photo_band0_uploaded_at", Upload.photo_band0, Upload.uploaded_at)
Index("ix_uploads_photo_band1_uploaded_at", Upload.photo_band1, Upload.uploaded_at)
Index("ix_uploads_photo_band2_uploaded_at", Upload.photo_band2, Upload.uploaded_at)


class Proposal(Base):
    """The pipeline's reading of one upload; one per upload, so tasks are idempotent."""

    __tablename__ = "proposals"
    # The clinicians' queue: proposals awaiting a reading, by age.
    __table_args__ = (Index("ix_proposals_queue", "review_stage", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    upload_id: Mapped[int] = mapped_column(ForeignKey("uploads.id"), unique=True)
    self_test_id: Mapped[int] = mapped_column(ForeignKey("self_tests.id"), index=True)
    # The pipeline's status: "ok", "retake" or "by_eye" (a clinician reads it by eye).
    status: Mapped[str] = mapped_column(String(8))
    result: Mapped[str | None] = mapped_column(String(10))
    confidence: Mapped[float]
    model_version: Mapped[str] = mapped_column(String(200))
    reading: Mapped[dict[str, Any]] = mapped_column(JSON)
    issues: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # What lets a clinician check the reading: the rectified window (a PNG in the
    # photo store), the optical-density profile and where each line was found
    # and expected. Kept at proposal time, so pages never re-run the pipeline.
    explanation: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Whether the photo shows the unit claimed: "match" (its code decoded and is the
    # unit's), "no_code" (no code readable: a clinician checks the unit by eye) or
    # "other_unit" (refused: the code of another unit).
    unit_check: Mapped[str | None] = mapped_column(String(12))
    # Another test that was sent the same photo (by perceptual hash), for the clinician.
    same_photo_test_id: Mapped[int | None] = mapped_column(ForeignKey("self_tests.id"))
    # Which reading it awaits: 1 (first), 2 (second), 3 (third); None when no
    # clinician needs to read it (a retake, or decided).
    review_stage: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Review(Base):
    """One clinician's decision on one proposal.

    ``round`` 1 is the first reading; a second clinician reads (blind) when the
    first disagreed with a confident model or the model was unsure, and a third
    when those two disagree. ``effect`` is what the reading did to the test
    (``release`` / ``retake``; none while more readings are needed), made final
    at ``settles_at``: until then its reviewer may undo it.
    """

    __tablename__ = "reviews"
    __table_args__ = (
        # One reading per round, and no clinician reads the same proposal twice.
        UniqueConstraint("proposal_id", "round"),
        UniqueConstraint("proposal_id", "reviewer_id"),
        Index("ix_reviews_reviewer_created", "reviewer_id", "created_at"),
        Index("ix_reviews_pending", "settled_at", "settles_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id"), index=True)
    self_test_id: Mapped[int] = mapped_column(ForeignKey("self_tests.id"), index=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    round: Mapped[int] = mapped_column(default=1)
    decision: Mapped[str] = mapped_column(String(8))
    result: Mapped[str | None] = mapped_column(String(10))
    reason: Mapped[str | None] = mapped_column(Text)
    # Time the clinician spent on the item (from the page), for their statistics.
    seconds_spent: Mapped[float | None]
    effect: Mapped[str | None] = mapped_column(String(8))
    settles_at: Mapped[datetime] = mapped_column(default=utcnow)
    settled_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
