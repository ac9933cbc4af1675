"""Gold-standard items: photos with a known answer, read by clinicians like any other.

An operator seeds one from a test whose reading is over (released): its photo and the
model's proposal come back into the readers' flow, and each reader's answer is kept
here and scored against the known one. Nothing here touches the test: a gold reading
is never released to anyone nor reported.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from api.db.base import Base, utcnow


class GoldItem(Base):
    __tablename__ = "gold_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The reading that is shown again: its photo, window and the model's proposal.
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id"), unique=True)
    known_result: Mapped[str] = mapped_column(String(10))
    region_code: Mapped[str] = mapped_column(String(32), index=True)
    seeded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    retired_at: Mapped[datetime | None]


class GoldReading(Base):
    __tablename__ = "gold_readings"
    __table_args__ = (UniqueConstraint("gold_item_id", "reviewer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    gold_item_id: Mapped[int] = mapped_column(ForeignKey("gold_items.id"))
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # The reader's conclusion: a result, or "retake".
    outcome: Mapped[str] = mapped_column(String(10))
    correct: Mapped[bool]
    seconds_spent: Mapped[float | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
