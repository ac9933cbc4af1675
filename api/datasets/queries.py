"""Reading confirmed cases: proposals a clinician's reading has settled, with their context."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from api.batches.tables import Batch
from api.products.tables import Product
from api.selftests.tables import Proposal, Review, SelfTest, Upload


class CaseRow(NamedTuple):
    proposal: Proposal
    upload: Upload
    test: SelfTest
    product: Product
    lot: str


def _settled(proposal_id: object) -> object:
    return exists().where(
        Review.proposal_id == proposal_id,
        Review.effect.is_not(None),
        Review.settled_at.is_not(None),
    )


def confirmed_cases(
    session: Session,
    *,
    taken_from: datetime | None,
    taken_before: datetime | None,
    products: Sequence[str],
    regions: Sequence[str],
) -> list[CaseRow]:
    """Proposals with a settled clinician's reading, oldest photo first (a stable order)."""
    query = (
        select(Proposal, Upload, SelfTest, Product, Batch.lot_number)
        .join(Upload, Upload.id == Proposal.upload_id)
        .join(SelfTest, SelfTest.id == Proposal.self_test_id)
        .join(Product, Product.id == SelfTest.product_id)
        .join(Batch, Batch.id == SelfTest.batch_id)
        .where(_settled(Proposal.id))  # type: ignore[arg-type]
        .order_by(Upload.taken_at, Proposal.id)
    )
    if taken_from is not None:
        query = query.where(Upload.taken_at >= taken_from)
    if taken_before is not None:
        query = query.where(Upload.taken_at < taken_before)
    if products:
        query = query.where(Product.product_code.in_(products))
    if regions:
        query = query.where(SelfTest.region_code.in_(regions))
    return [CaseRow(*row) for row in session.execute(query).all()]


def reviews_by_proposal(session: Session, proposal_ids: Sequence[int]) -> dict[int, list[Review]]:
    out: dict[int, list[Review]] = defaultdict(list)
    for start in range(0, len(proposal_ids), 500):
        chunk = proposal_ids[start : start + 500]
        rows = session.scalars(
            select(Review).where(Review.proposal_id.in_(chunk)).order_by(Review.round)
        ).all()
        for review in rows:
            out[review.proposal_id].append(review)
    return out


def latest_upload_ids(session: Session, test_ids: Sequence[int]) -> set[int]:
    """The newest upload of each test (a correction after release applies to it)."""
    found: set[int] = set()
    for start in range(0, len(test_ids), 500):
        chunk = test_ids[start : start + 500]
        rows = session.execute(
            select(func.max(Upload.id))
            .where(Upload.self_test_id.in_(chunk))
            .group_by(Upload.self_test_id)
        ).all()
        found.update(int(r[0]) for r in rows)
    return found


def proposals_since(session: Session, since: datetime) -> list[CaseRow]:
    """Every proposal since ``since`` (retakes and unreviewed ones too), for drift."""
    rows = session.execute(
        select(Proposal, Upload, SelfTest, Product, Batch.lot_number)
        .join(Upload, Upload.id == Proposal.upload_id)
        .join(SelfTest, SelfTest.id == Proposal.self_test_id)
        .join(Product, Product.id == SelfTest.product_id)
        .join(Batch, Batch.id == SelfTest.batch_id)
        .where(Proposal.created_at >= since)
        .order_by(Proposal.id)
    ).all()
    return [CaseRow(*row) for row in rows]
