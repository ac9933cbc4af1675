"""Stored reports of confirmed positives to CDC offices and medical institutions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from api.db.base import Base, utcnow
from api.selftests.tables import SelfTest


class Report(Base):
    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    self_test_id: Mapped[int] = mapped_column(ForeignKey("self_tests.id"), index=True)
    cdc_office_id: Mapped[int | None] = mapped_column(ForeignKey("cdc_offices.id"), index=True)
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(32))
    result: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# The CDC's list of confirmed positives reads the newest released positives first;
# without this it sorts every released test (measured: 400 ms at 20,000 tests, 12 ms with).
Index("ix_self_tests_result_released_at", SelfTest.result, SelfTest.released_at)
