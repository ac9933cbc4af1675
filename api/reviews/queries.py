"""SQL for the clinicians' queue, their readings and their statistics."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, delete, exists, func, or_, select, update
from sqlalchemy.orm import Session

from api.accounts.tables import Role, User
from api.batches.tables import Batch
from api.products.tables import Product
from api.reviews.tables import GoldItem, GoldReading
from api.selftests.tables import Proposal, Review, SelfTest, TestStatus, Upload


@dataclass(frozen=True)
class QueueFilter:
    """What a clinician narrows the queue to; ``None`` means any."""

    result: str | None = None  # the proposed result
    confidence: str | None = None  # "low" (below the policy's mark) or "high"
    older_than: datetime | None = None  # proposed before this time
    stage: int | None = None  # 1 first readings, 2+ second and third readings


@dataclass(frozen=True)
class Ordering:
    """Where an item stands in the queue: rank 0 first, then 1, then 2, oldest first in each.

    0, *urgent*: past its target wait. A suspected positive waiting since before
    ``positive_before``, a photo read by eye or with low confidence since before
    ``unsure_before``, anything since before ``aged_before`` (so nothing waits forever).
    1: a suspected positive, a photo read by eye or with low confidence, not yet overdue.
    2: the rest.
    """

    low_confidence: float
    positive_before: datetime
    unsure_before: datetime
    aged_before: datetime

    def _positive(self) -> ColumnElement[bool]:
        return Proposal.result == "positive"

    def _unsure(self) -> ColumnElement[bool]:
        return or_(Proposal.status == "by_eye", Proposal.confidence < self.low_confidence)

    def urgent(self) -> ColumnElement[bool]:
        return or_(
            and_(self._positive(), Proposal.created_at < self.positive_before),
            and_(self._unsure(), Proposal.created_at < self.unsure_before),
            Proposal.created_at < self.aged_before,
        )

    def priority(self) -> ColumnElement[int]:
        return case((self.urgent(), 0), (or_(self._positive(), self._unsure()), 1), else_=2)

    def rank(self, proposal: Proposal) -> int:
        """``priority()`` of one loaded proposal (the same rule, in Python)."""
        positive = proposal.result == "positive"
        unsure = proposal.status == "by_eye" or proposal.confidence < self.low_confidence
        made = proposal.created_at
        if (
            (positive and made < self.positive_before)
            or (unsure and made < self.unsure_before)
            or made < self.aged_before
        ):
            return 0
        return 1 if positive or unsure else 2


def reviews_of(session: Session, proposal_id: int) -> Sequence[Review]:
    return session.scalars(
        select(Review).where(Review.proposal_id == proposal_id).order_by(Review.round)
    ).all()


def _awaiting(
    regions: Iterable[str] | None, reviewer_id: int | None, filters: QueueFilter, ordering: Ordering
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [
        Proposal.review_stage >= 1,  # uses ix_proposals_queue
        Proposal.status.in_(("ok", "by_eye")),  # lifecycle.READABLE
        SelfTest.status == TestStatus.in_review,
    ]
    if regions is not None:
        conditions.append(SelfTest.region_code.in_(list(regions)))
    if reviewer_id is not None:
        # Nobody reads the same item twice: second and third readers are other clinicians.
        read_it = exists().where(
            Review.proposal_id == Proposal.id, Review.reviewer_id == reviewer_id
        )
        conditions.append(~read_it)
    if filters.result:
        conditions.append(Proposal.result == filters.result)
    if filters.confidence == "low":
        conditions.append(Proposal.confidence < ordering.low_confidence)
    elif filters.confidence == "high":
        conditions.append(Proposal.confidence >= ordering.low_confidence)
    if filters.older_than is not None:
        conditions.append(Proposal.created_at < filters.older_than)
    if filters.stage == 1:
        conditions.append(Proposal.review_stage == 1)
    elif filters.stage is not None:
        conditions.append(Proposal.review_stage >= 2)
    return conditions


def _from_tests_in_review(query: Any, regions: Iterable[str] | None) -> Any:
    """``query`` over the proposals joined to their tests, started from the regions' tests
    in review when the caller has regions.

    PostgreSQL takes proposals awaiting a reading and tests in review for independent, so it
    expects a district's share of the nationwide queue to be a twentieth of what it is, and
    sorted every proposal awaiting a reading nationwide before keeping the district's (49,621
    rows at 10^6 stored tests; 6,259 of them in the district). Fetching the district's tests
    in review first (``ix_self_tests_in_review``), as a materialised step the planner cannot
    fold back into the join, makes it look up each one's proposal instead: the sort then sees
    the district's rows only (10^6 tests: a page 109 -> 51 ms, the counts 42 -> 23 ms).
    """
    if regions is None:
        return query.select_from(Proposal).join(SelfTest, SelfTest.id == Proposal.self_test_id)
    in_review = (
        select(SelfTest.id)
        .where(SelfTest.status == TestStatus.in_review, SelfTest.region_code.in_(list(regions)))
        .cte("region_in_review")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    return (
        query.select_from(in_review)
        .join(Proposal, Proposal.self_test_id == in_review.c.id)
        .join(SelfTest, SelfTest.id == Proposal.self_test_id)
    )


def _queue_select(
    regions: Iterable[str] | None, reviewer_id: int | None, filters: QueueFilter, ordering: Ordering
) -> Any:  # a Select of (Proposal, SelfTest, priority); its generics differ in SQLAlchemy 2.0/2.1
    priority = ordering.priority().label("priority")
    return (
        _from_tests_in_review(select(Proposal, SelfTest, priority), regions)
        .where(*_awaiting(regions, reviewer_id, filters, ordering))
        .order_by(priority, Proposal.created_at, Proposal.id)
    )


def queue(
    session: Session,
    regions: Iterable[str] | None,
    reviewer_id: int | None,
    ordering: Ordering,
    filters: QueueFilter = QueueFilter(),
    *,
    limit: int = 100,
    offset: int = 0,
) -> Sequence[tuple[Proposal, SelfTest, int]]:
    """One page of the proposals awaiting a reading by ``reviewer_id``, most urgent first."""
    query = _queue_select(regions, reviewer_id, filters, ordering).limit(limit).offset(offset)
    return [(p, t, int(prio)) for p, t, prio in session.execute(query).all()]


@dataclass(frozen=True)
class PageParts:
    """What a page of queue items shows beside the proposal and the test, by id."""

    uploads: dict[int, Upload]
    products: dict[int, Product]
    batches: dict[int, Batch]


def page_parts(session: Session, items: Sequence[tuple[Proposal, SelfTest]]) -> PageParts:
    """The page's uploads, products and batches in one query each, not three per item."""
    if not items:
        return PageParts({}, {}, {})
    uploads = session.scalars(select(Upload).where(Upload.id.in_({p.upload_id for p, _ in items})))
    products = session.scalars(
        select(Product).where(Product.id.in_({t.product_id for _, t in items}))
    )
    batches = session.scalars(select(Batch).where(Batch.id.in_({t.batch_id for _, t in items})))
    return PageParts(
        uploads={u.id: u for u in uploads},
        products={p.id: p for p in products},
        batches={b.id: b for b in batches},
    )


def next_in_queue(
    session: Session,
    regions: Iterable[str] | None,
    reviewer_id: int,
    ordering: Ordering,
    filters: QueueFilter,
    after: Proposal | None = None,
) -> Proposal | None:
    """The item after ``after`` in queue order (the first one without ``after``)."""
    query = _queue_select(regions, reviewer_id, filters, ordering).limit(1)
    if after is not None:
        priority = ordering.priority()
        after_priority = ordering.rank(after)
        query = query.where(
            or_(
                priority > after_priority,
                and_(
                    priority == after_priority,
                    or_(
                        Proposal.created_at > after.created_at,
                        and_(Proposal.created_at == after.created_at, Proposal.id > after.id),
                    ),
                ),
            )
        )
    row = session.execute(query).first()
    return None if row is None else row[0]


def queue_counts(
    session: Session,
    regions: Iterable[str] | None,
    reviewer_id: int | None,
    ordering: Ordering,
    filters: QueueFilter = QueueFilter(),
) -> dict[str, Any]:
    """Totals over the (filtered) queue, in one pass."""

    def count_if(condition: ColumnElement[bool]) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    row = session.execute(
        _from_tests_in_review(
            select(
                func.count(Proposal.id),
                count_if(ordering.urgent()),
                count_if(Proposal.result == "positive"),
                count_if(Proposal.result == "negative"),
                count_if(Proposal.result == "invalid"),
                count_if(Proposal.confidence < ordering.low_confidence),
                count_if(Proposal.review_stage >= 2),
                func.min(Proposal.created_at),
            ),
            regions,
        ).where(*_awaiting(regions, reviewer_id, filters, ordering))
    ).one()
    total, urgent, positive, negative, invalid, low, second, oldest = row
    if isinstance(oldest, str):  # aggregates over SQLite come back untyped
        oldest = datetime.fromisoformat(oldest)
    return {
        "total": int(total),
        "urgent": int(urgent),
        "positive": int(positive),
        "negative": int(negative),
        "invalid": int(invalid),
        "low_confidence": int(low),
        "second_readings": int(second),
        "oldest": oldest,
    }


# Held decisions ------------------------------------------------------------


def due_reviews(session: Session, now: datetime, limit: int = 200) -> Sequence[Review]:
    return session.scalars(
        select(Review)
        .where(Review.settled_at.is_(None), Review.settles_at <= now)
        .order_by(Review.settles_at, Review.id)
        .limit(limit)
    ).all()


def mark_settled(session: Session, review_id: int, now: datetime) -> bool:
    """Settle a review once: ``False`` when another process got there first (or it was undone)."""
    result = session.execute(
        update(Review)
        .where(Review.id == review_id, Review.settled_at.is_(None))
        .values(settled_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def delete_unsettled(session: Session, review_id: int) -> bool:
    result = session.execute(
        delete(Review)
        .where(Review.id == review_id, Review.settled_at.is_(None))
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def last_review_by(session: Session, reviewer_id: int) -> Review | None:
    return session.scalar(
        select(Review)
        .where(Review.reviewer_id == reviewer_id)
        .order_by(Review.created_at.desc(), Review.id.desc())
        .limit(1)
    )


def later_review_exists(session: Session, review: Review) -> bool:
    return bool(
        session.scalar(
            select(
                exists().where(
                    Review.proposal_id == review.proposal_id, Review.round > review.round
                )
            )
        )
    )


# Statistics ----------------------------------------------------------------


def reviews_by(session: Session, reviewer_id: int, since: datetime) -> Sequence[Review]:
    return session.scalars(
        select(Review)
        .where(Review.reviewer_id == reviewer_id, Review.created_at >= since)
        .order_by(Review.created_at, Review.id)
    ).all()


def paired_readings(
    session: Session, reviewer_id: int, since: datetime
) -> Sequence[tuple[Review, Review]]:
    """(mine, another clinician's) for every proposal both read."""
    mine = select(Review).where(Review.reviewer_id == reviewer_id, Review.created_at >= since)
    mine_sub = mine.subquery()
    from sqlalchemy.orm import aliased

    me = aliased(Review, mine_sub)
    other = aliased(Review)
    rows = session.execute(
        select(me, other)
        .join(other, and_(other.proposal_id == me.proposal_id, other.reviewer_id != reviewer_id))
        .order_by(me.id, other.round)
    ).all()
    return [(a, b) for a, b in rows]


# Gold-standard items ------------------------------------------------------------


def active_gold(session: Session, proposal_id: int) -> GoldItem | None:
    return session.scalar(
        select(GoldItem).where(GoldItem.proposal_id == proposal_id, GoldItem.retired_at.is_(None))
    )


def _gold_unread(regions: Iterable[str] | None, reviewer_id: int) -> list[ColumnElement[bool]]:
    """Active gold items ``reviewer_id`` has not read, nor read as the real test before."""
    conditions: list[ColumnElement[bool]] = [
        GoldItem.retired_at.is_(None),
        ~exists().where(
            GoldReading.gold_item_id == GoldItem.id, GoldReading.reviewer_id == reviewer_id
        ),
        ~exists().where(
            Review.proposal_id == GoldItem.proposal_id, Review.reviewer_id == reviewer_id
        ),
    ]
    if regions is not None:
        conditions.append(GoldItem.region_code.in_(list(regions)))
    return conditions


def gold_unread(
    session: Session, regions: Iterable[str] | None, reviewer_id: int, proposal_id: int | None
) -> GoldItem | None:
    """The oldest gold item waiting for ``reviewer_id`` (the one at ``proposal_id``)."""
    query = select(GoldItem).where(*_gold_unread(regions, reviewer_id))
    if proposal_id is not None:
        query = query.where(GoldItem.proposal_id == proposal_id)
    return session.scalar(query.order_by(GoldItem.created_at, GoldItem.id).limit(1))


def last_gold_reading_by(session: Session, reviewer_id: int) -> GoldReading | None:
    return session.scalar(
        select(GoldReading)
        .where(GoldReading.reviewer_id == reviewer_id)
        .order_by(GoldReading.created_at.desc(), GoldReading.id.desc())
        .limit(1)
    )


def delete_gold_reading(session: Session, reading_id: int) -> bool:
    result = session.execute(
        delete(GoldReading)
        .where(GoldReading.id == reading_id)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def gold_scores(session: Session, since: datetime) -> dict[int, tuple[int, int]]:
    """Per reviewer: (gold items read, read correctly) since ``since``."""
    rows = session.execute(
        select(
            GoldReading.reviewer_id,
            func.count(GoldReading.id),
            func.coalesce(func.sum(case((GoldReading.correct, 1), else_=0)), 0),
        )
        .where(GoldReading.created_at >= since)
        .group_by(GoldReading.reviewer_id)
    ).all()
    return {int(r): (int(n), int(ok)) for r, n, ok in rows}


def clinicians(session: Session, after_id: int | None, limit: int) -> Sequence[User]:
    query = select(User).where(User.role == Role.clinician).order_by(User.id).limit(limit)
    if after_id is not None:
        query = query.where(User.id > after_id)
    return session.scalars(query).all()


def gold_readings_by(session: Session, reviewer_id: int, since: datetime) -> Sequence[GoldReading]:
    return session.scalars(
        select(GoldReading)
        .where(GoldReading.reviewer_id == reviewer_id, GoldReading.created_at >= since)
        .order_by(GoldReading.created_at, GoldReading.id)
    ).all()
