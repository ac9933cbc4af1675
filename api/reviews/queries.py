"""SQL for the clinicians' queue and their reviews."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.patients.tables import SelfTest, TestStatus
from api.readings.tables import Proposal
from api.reviews.tables import Review


def review_for_proposal(session: Session, proposal_id: int) -> Review | None:
    return session.scalar(select(Review).where(Review.proposal_id == proposal_id))


def queue(
    session: Session, regions: Iterable[str] | None, limit: int = 100
) -> Sequence[tuple[Proposal, SelfTest]]:
    """Proposals awaiting a clinician, oldest first: readable, unreviewed, on a test in review."""
    query = (
        select(Proposal, SelfTest)
        .join(SelfTest, SelfTest.id == Proposal.self_test_id)
        .outerjoin(Review, Review.proposal_id == Proposal.id)
        .where(
            Proposal.status == "ok",
            Review.id.is_(None),
            SelfTest.status == TestStatus.in_review,
        )
        .order_by(Proposal.created_at, Proposal.id)
        .limit(limit)
    )
    if regions is not None:
        query = query.where(SelfTest.region_code.in_(list(regions)))
    return [(p, t) for p, t in session.execute(query).all()]
