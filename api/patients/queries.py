"""SQL for patients."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.patients.tables import Patient


def patient_by_user(session: Session, user_id: int) -> Patient | None:
    return session.scalar(select(Patient).where(Patient.user_id == user_id))


def patient_by_id_hash(session: Session, id_hash: str) -> Patient | None:
    return session.scalar(select(Patient).where(Patient.national_id_hash == id_hash))
