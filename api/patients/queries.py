"""SQL for patients and self-tests."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.patients.tables import Patient, SelfTest
from api.readings.tables import Proposal, Upload


def patient_by_user(session: Session, user_id: int) -> Patient | None:
    return session.scalar(select(Patient).where(Patient.user_id == user_id))


def patient_by_id_hash(session: Session, id_hash: str) -> Patient | None:
    return session.scalar(select(Patient).where(Patient.national_id_hash == id_hash))


def test_for_unit(session: Session, unit_id: int) -> SelfTest | None:
    return session.scalar(select(SelfTest).where(SelfTest.unit_id == unit_id))


def self_tests(
    session: Session,
    *,
    patient_id: int | None = None,
    regions: Iterable[str] | None = None,
    status: str | None = None,
    limit: int = 200,
    before_id: int | None = None,
) -> Sequence[SelfTest]:
    query = select(SelfTest).order_by(SelfTest.id.desc()).limit(limit)
    if patient_id is not None:
        query = query.where(SelfTest.patient_id == patient_id)
    if regions is not None:
        query = query.where(SelfTest.region_code.in_(list(regions)))
    if status:
        query = query.where(SelfTest.status == status)
    if before_id is not None:
        query = query.where(SelfTest.id < before_id)
    return session.scalars(query).all()


def latest_upload(session: Session, test_id: int) -> Upload | None:
    return session.scalar(
        select(Upload).where(Upload.self_test_id == test_id).order_by(Upload.id.desc()).limit(1)
    )


def latest_proposal(session: Session, test_id: int) -> Proposal | None:
    return session.scalar(
        select(Proposal)
        .where(Proposal.self_test_id == test_id)
        .order_by(Proposal.id.desc())
        .limit(1)
    )
