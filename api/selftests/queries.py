"""SQL for self-tests, their uploads, proposals and readings."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.selftests.tables import Proposal, Review, SelfTest, Upload


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


def latest_uploads(session: Session, test_ids: Sequence[int]) -> dict[int, Upload]:
    """Each test's latest upload, by test id, in one query (a page of tests)."""
    if not test_ids:
        return {}
    newest = (
        select(func.max(Upload.id))
        .where(Upload.self_test_id.in_(list(test_ids)))
        .group_by(Upload.self_test_id)
    )
    return {u.self_test_id: u for u in session.scalars(select(Upload).where(Upload.id.in_(newest)))}


def latest_proposal(session: Session, test_id: int) -> Proposal | None:
    return session.scalar(
        select(Proposal)
        .where(Proposal.self_test_id == test_id)
        .order_by(Proposal.id.desc())
        .limit(1)
    )


def latest_review(session: Session, proposal_id: int) -> Review | None:
    """The last reading of a proposal (the deciding one, once decided)."""
    return session.scalar(
        select(Review)
        .where(Review.proposal_id == proposal_id)
        .order_by(Review.round.desc())
        .limit(1)
    )
