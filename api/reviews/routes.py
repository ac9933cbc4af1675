from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import Clinician, CtxDep, ScopeDep, SessionDep
from api.reviews import service
from api.reviews.schemas import QueueItem, ReviewIn, ReviewOut

router = APIRouter(tags=["reviews"])


@router.get(
    "/reviews/queue",
    response_model=list[QueueItem],
    summary="Step 8: proposals of the clinician's region awaiting review",
)
def review_queue(
    session: SessionDep,
    _user: Clinician,
    scope: ScopeDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[QueueItem]:
    return service.queue(session, scope, limit)


@router.post(
    "/proposals/{proposal_id}/review",
    response_model=ReviewOut,
    summary="Step 8: confirm, change (with a reason) or ask for a retake; releases the result",
)
def review_proposal(
    session: SessionDep,
    ctx: CtxDep,
    user: Clinician,
    scope: ScopeDep,
    proposal_id: int,
    body: ReviewIn,
) -> ReviewOut:
    review, reports = service.decide(session, ctx, user, scope, proposal_id, body)
    session.commit()
    return ReviewOut(
        id=review.id,
        proposal_id=review.proposal_id,
        test_id=review.self_test_id,
        decision=review.decision,
        result=review.result,
        reason=review.reason,
        released=review.decision != "retake",
        reports=reports,
        created_at=review.created_at,
    )
