"""The code mapping operators maintain: test items and analytes to LOINC, results to
SNOMED CT. Seeded from ``code_seed.json`` by migration 0014; read by every message built."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from api.db.base import Base, utcnow

ANY_PRODUCT = ""
"""``product_code`` of a binding that holds for every product (a unique key needs no NULL)."""


class TestItemCode(Base):
    """A test item or analyte name, for one product or any, bound to a LOINC code."""

    __test__ = False  # not a pytest class
    __tablename__ = "test_item_codes"
    __table_args__ = (UniqueConstraint("product_code", "name_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    product_code: Mapped[str] = mapped_column(String(64), default=ANY_PRODUCT)
    name: Mapped[str] = mapped_column(String(200))
    # ``api.interop.codes.normalise_name(name)``: what a kit's names are matched by.
    name_key: Mapped[str] = mapped_column(String(200))
    loinc: Mapped[str] = mapped_column(String(10))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A plain id, as the audit log has the rest: the seed has no author.
    updated_by: Mapped[int | None]


class LoincCode(Base):
    """The long common name of a LOINC code Vigil knows (shown beside the code)."""

    __tablename__ = "loinc_codes"

    code: Mapped[str] = mapped_column(String(10), primary_key=True)
    display: Mapped[str] = mapped_column(String(400))


class ResultCode(Base):
    """A confirmed result (positive, negative, invalid) as a SNOMED CT qualifier value."""

    __tablename__ = "result_codes"

    result: Mapped[str] = mapped_column(String(10), primary_key=True)
    code: Mapped[str] = mapped_column(String(20))
    display: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[int | None]
