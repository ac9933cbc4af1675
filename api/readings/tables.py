"""Photo uploads and the pipeline's proposals."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from api.db.base import Base, utcnow


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
    # "early" / "late" when the photo missed the kit's read-time window.
    read_time_flag: Mapped[str | None] = mapped_column(String(8))


class Proposal(Base):
    """The pipeline's reading of one upload; one per upload, so tasks are idempotent."""

    __tablename__ = "proposals"
    # The clinicians' queue: proposals awaiting a reading, by age.
    __table_args__ = (Index("ix_proposals_queue", "review_stage", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    upload_id: Mapped[int] = mapped_column(ForeignKey("uploads.id"), unique=True)
    self_test_id: Mapped[int] = mapped_column(ForeignKey("self_tests.id"), index=True)
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
    # Which reading it awaits: 1 (first), 2 (second), 3 (third); None when no
    # clinician needs to read it (a retake, or decided).
    review_stage: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
