"""Patients; their personal data encrypted."""

from __future__ import annotations

from datetime import datetime

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
    # How the patient is told that a result is ready: "sms" (to the phone) or "email".
    notify_channel: Mapped[str] = mapped_column(String(8), default="sms", server_default="sms")
    email_enc: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
