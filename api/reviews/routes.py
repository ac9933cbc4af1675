from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from api.db.base import utcnow
from api.deps import Clinician, CtxDep, Operator, ScopeDep, SessionDep
from api.pagination import Page, PagerDep
from api.public_ids import ProposalPath
from api.reviews import service
from api.reviews.queries import QueueFilter
from api.reviews.schemas import (
    GoldIn,
    GoldOut,
    QueueCounts,
    QueueItem,
    Result,
    ReviewerStats,
    ReviewerSummary,
    ReviewIn,
    ReviewOut,
    UndoOut,
)

router = APIRouter(tags=["reviews"])
# Ten years: far beyond any queue item, and ``now - age`` stays a date (a 500 otherwise).
MAX_AGE_MINUTES = 10 * 366 * 24 * 60


def queue_filter(
    result: Result | None = None,
    confidence: Literal["low", "high"] | None = None,
    older_than_minutes: int | None = None,
    stage: int | None = None,
) -> QueueFilter:
    older = utcnow() - timedelta(minutes=older_than_minutes) if older_than_minutes else None
    return QueueFilter(result=result, confidence=confidence, older_than=older, stage=stage)


@router.get(
    "/reviews/queue",
    response_model=Page[QueueItem],
    summary="Step 8: proposals of the clinician's region awaiting their reading, most urgent first",
)
def review_queue(
    session: SessionDep,
    ctx: CtxDep,
    user: Clinician,
    scope: ScopeDep,
    page: PagerDep,
    result: Result | None = None,
    confidence: Literal["low", "high"] | None = None,
    older_than_minutes: Annotated[int | None, Query(ge=1, le=MAX_AGE_MINUTES)] = None,
    stage: Annotated[int | None, Query(ge=1, le=2, description="1 first, 2 second/third")] = None,
) -> Page[QueueItem]:
    """Suspected positives, low confidence and items waiting past the ageing cap first, then
    oldest first. Items this clinician already read are not shown (second readings are blind).

    Urgency changes as items age, so this list has no fixed sort key: its cursor holds a
    position in the queue (an item decided meanwhile shifts the rest by one)."""
    filters = queue_filter(result, confidence, older_than_minutes, stage)
    offset = page.after_value() or 0
    rows = service.queue(
        session,
        scope,
        user,
        filters,
        limit=page.limit + 1,
        offset=offset,
        blind_setting=ctx.settings.blind_second_reader,
    )
    return page.page(rows, lambda _item: (offset + page.limit,))


@router.get(
    "/reviews/queue/counts",
    response_model=QueueCounts,
    summary="Totals over the clinician's queue (same filters as the queue)",
)
def review_queue_counts(
    session: SessionDep,
    user: Clinician,
    scope: ScopeDep,
    result: Result | None = None,
    confidence: Literal["low", "high"] | None = None,
    older_than_minutes: Annotated[int | None, Query(ge=1, le=MAX_AGE_MINUTES)] = None,
    stage: Annotated[int | None, Query(ge=1, le=2)] = None,
) -> QueueCounts:
    filters = queue_filter(result, confidence, older_than_minutes, stage)
    return service.counts(session, scope, user, filters)


@router.post(
    "/proposals/{proposal_id}/review",
    response_model=ReviewOut,
    summary="Step 8: confirm, change (with a reason) or ask for a retake; releases the result "
    "unless a second reading is needed",
)
def review_proposal(
    session: SessionDep,
    ctx: CtxDep,
    user: Clinician,
    scope: ScopeDep,
    proposal_id: ProposalPath,
    body: ReviewIn,
) -> ReviewOut:
    review, reports = service.decide(session, ctx, user, scope, proposal_id, body)
    return service.review_out(review, reports)


@router.post(
    "/reviews/undo",
    response_model=UndoOut,
    summary="Take back the caller's last decision while it is held (see hold_seconds)",
)
def undo_review(session: SessionDep, ctx: CtxDep, user: Clinician) -> UndoOut:
    undone = service.undo_last(session, ctx, user)
    return undone


@router.get(
    "/reviews/stats",
    response_model=ReviewerStats,
    summary="The caller's own review statistics (items per hour, changes, Cohen's kappa)",
)
def my_review_stats(
    session: SessionDep,
    user: Clinician,
    days: Annotated[int, Query(ge=1, le=366)] = 30,
) -> ReviewerStats:
    return service.reviewer_stats(session, user, utcnow() - timedelta(days=days))


@router.get(
    "/reviews/reviewers",
    response_model=Page[ReviewerSummary],
    summary="For the operator (the readers' lead): each clinician's time per item, agreement "
    "with second readers and gold-standard items, and a warning when implausibly fast",
)
def reviewers(
    session: SessionDep,
    _user: Operator,
    page: PagerDep,
    days: Annotated[int, Query(ge=1, le=366)] = 30,
) -> Page[ReviewerSummary]:
    """Clinicians in account order; the cursor holds the last one shown."""
    rows = service.team_stats(
        session,
        utcnow() - timedelta(days=days),
        after_id=page.after_value(),
        limit=page.limit + 1,
    )
    return page.page(rows, lambda row: (row.reviewer_id,))


@router.post(
    "/reviews/gold",
    response_model=GoldOut,
    status_code=201,
    summary="Seed a gold-standard item: a released test's photo, read again by its region's "
    "clinicians like any other item, scored against the known answer, never released",
)
def seed_gold(session: SessionDep, user: Operator, body: GoldIn) -> GoldOut:
    return service.seed_gold(session, user, body.test_id, body.known_result)
