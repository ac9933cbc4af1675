"""Clinicians' readings of proposals: one, two or three per proposal (second reading)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from api.db.base import Base, utcnow


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
