"""Step 8 and 9: clinicians decide on proposals; a decision with a result releases it."""

from __future__ import annotations

from sqlalchemy.orm import Session

from api.accounts.tables import User
from api.audit.service import record
from api.batches import queries as batch_queries
from api.batches.tables import Batch, UnitState
from api.context import AppContext
from api.db.base import utcnow
from api.errors import ConflictError, InvalidError, NotFoundError
from api.patients import queries as patient_queries
from api.patients.tables import SelfTest, TestStatus
from api.products.tables import Product
from api.readings.tables import Proposal, Upload
from api.reports.service import report_positive
from api.reviews import queries
from api.reviews.schemas import QueueItem, ReviewIn
from api.reviews.tables import Review
from api.scope import Scope


def queue(session: Session, scope: Scope, limit: int = 100) -> list[QueueItem]:
    items = []
    for proposal, test in queries.queue(session, scope.regions, limit):
        upload = session.get(Upload, proposal.upload_id)
        product = session.get(Product, test.product_id)
        batch = session.get(Batch, test.batch_id)
        assert upload is not None
        assert product is not None
        assert batch is not None
        items.append(
            QueueItem(
                proposal_id=proposal.id,
                test_id=test.id,
                upload_id=upload.id,
                region_code=test.region_code,
                product_code=product.product_code,
                product_name=product.name,
                lot_number=batch.lot_number,
                proposed_result=proposal.result,
                confidence=proposal.confidence,
                model_version=proposal.model_version,
                reading=proposal.reading,
                read_time_flag=upload.read_time_flag,
                minutes_after_claim=upload.minutes_after_claim,
                claimed_at=test.claimed_at,
                taken_at=upload.taken_at,
                photo_url=f"/api/uploads/{upload.id}/photo",
            )
        )
    return items


def decide(
    session: Session,
    ctx: AppContext,
    clinician: User,
    scope: Scope,
    proposal_id: int,
    body: ReviewIn,
) -> tuple[Review, int]:
    """Record a clinician's decision; returns the review and the number of reports sent."""
    proposal = session.get(Proposal, proposal_id)
    if proposal is None:
        raise NotFoundError(f"no proposal with id {proposal_id}")
    test = session.get(SelfTest, proposal.self_test_id)
    assert test is not None
    scope.check(test.region_code, "this test")
    if queries.review_for_proposal(session, proposal.id) is not None:
        raise ConflictError("this proposal has already been reviewed")
    latest = patient_queries.latest_proposal(session, test.id)
    if (
        proposal.status != "ok"
        or test.status != TestStatus.in_review
        or latest is None
        or (latest.id != proposal.id)
    ):
        raise ConflictError(
            "this proposal is not awaiting review (a newer photo or a retake replaced it)"
        )
    reason = (body.reason or "").strip() or None
    if body.decision == "confirm":
        if body.result is not None and body.result != proposal.result:
            raise InvalidError("result: to change the result, use decision 'change' with a reason")
        result: str | None = proposal.result
    elif body.decision == "change":
        if body.result is None:
            raise InvalidError("result: 'change' needs the corrected result")
        if body.result == proposal.result:
            raise InvalidError("result: same as proposed; use decision 'confirm'")
        if reason is None:
            raise InvalidError("reason: changing a result needs a reason")
        result = body.result
    else:
        if reason is None:
            raise InvalidError("reason: tell the patient why a new photo is needed")
        if body.result is not None:
            raise InvalidError("result: a retake has no result")
        result = None
    review = Review(
        proposal_id=proposal.id,
        self_test_id=test.id,
        reviewer_id=clinician.id,
        decision=body.decision,
        result=result,
        reason=reason,
    )
    session.add(review)
    session.flush()
    record(
        session, clinician, "review", "proposal", proposal.id, decision=body.decision, result=result
    )
    if body.decision == "retake":
        test.status = TestStatus.retake
        return review, 0
    assert result is not None
    return review, release(session, ctx, clinician, test, result)


def release(session: Session, ctx: AppContext, clinician: User, test: SelfTest, result: str) -> int:
    """Step 9: give the patient the result; report a positive at once. Returns reports sent."""
    test.result = result
    test.status = TestStatus.released
    test.released_at = utcnow()
    test.released_by = clinician.id
    batch_queries.mark_unit(session, test.unit_id, UnitState.in_use, UnitState.used)
    record(session, clinician, "release", "self_test", test.id, result=result)
    if result != "positive":
        return 0
    return report_positive(session, ctx, clinician, test)
