"""Patients (personal data encrypted) and their self-tests."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from api.db.base import Base, utcnow


class Patient(Base):
    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    # AES-GCM, each bound to its column (see PersonalDataCipher's ``context``).
    name_enc: Mapped[bytes] = mapped_column(LargeBinary)
    national_id_enc: Mapped[bytes] = mapped_column(LargeBinary)
    # Keyed hash: finds the patient by ID number without storing it in clear.
    national_id_hash: Mapped[str] = mapped_column(String(128), unique=True)
    phone_enc: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TestStatus(StrEnum):
    __test__ = False  # not a pytest class

    awaiting_photo = "awaiting_photo"
    reading = "reading"
    retake = "retake"
    in_review = "in_review"
    released = "released"


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
    status: Mapped[str] = mapped_column(String(16), default=TestStatus.awaiting_photo, index=True)
    result: Mapped[str | None] = mapped_column(String(10))
    released_at: Mapped[datetime | None] = mapped_column(index=True)
    released_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
