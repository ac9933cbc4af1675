"""What a patient, a clinician or a CDC officer sees of a self-test."""

from __future__ import annotations

from sqlalchemy.orm import Session

from api.batches.tables import Batch, Unit
from api.products.tables import Product
from api.selftests import queries, read_time
from api.selftests.schemas import ProposalBrief, TestOut
from api.selftests.tables import Proposal, SelfTest, TestStatus, Upload


def _retake_reasons(session: Session, test: SelfTest, proposal: Proposal | None) -> list[str]:
    if test.status != TestStatus.retake or proposal is None:
        return []
    if proposal.status == "retake":
        return [str(issue.get("message", "")) for issue in proposal.issues]
    review = queries.latest_review(session, proposal.id)
    return [review.reason] if review is not None and review.reason else []


def test_view(session: Session, test: SelfTest, *, staff: bool) -> TestOut:
    unit = session.get(Unit, test.unit_id)
    batch = session.get(Batch, test.batch_id)
    product = session.get(Product, test.product_id)
    assert unit is not None
    assert batch is not None
    assert product is not None
    proposal = queries.latest_proposal(session, test.id)
    released = test.status == TestStatus.released
    base = {
        "id": test.id,
        "code": unit.code,
        "product_code": product.product_code,
        "product_name": product.name,
        "lot_number": batch.lot_number,
        "region_code": test.region_code,
        "claimed_at": test.claimed_at,
        "status": test.status,
        "result": test.result if released else None,
        "released_at": test.released_at,
        "retake_reasons": _retake_reasons(session, test, proposal),
        "sample_applied_at": test.sample_applied_at,
        "read_window": read_time.window(test, product.kit.read_time_minutes),
    }
    if not staff:
        return TestOut(**base)
    return TestOut(
        **base,
        latitude=test.latitude,
        longitude=test.longitude,
        proposal=proposal_brief(session, proposal, test, product) if proposal else None,
    )


def read_time_note(upload: Upload, test: SelfTest, product: Product) -> str:
    """The photo's timing in words (the review page, the CDC case, exports)."""
    minutes = upload.minutes_after_sample
    from_sample = minutes is not None
    return read_time.note(
        upload.read_time_flag,
        minutes if minutes is not None else upload.minutes_after_claim,
        from_sample,
        product.kit.read_time_minutes,
    )


def proposal_brief(
    session: Session, proposal: Proposal, test: SelfTest, product: Product
) -> ProposalBrief:
    upload = session.get(Upload, proposal.upload_id)
    assert upload is not None
    return ProposalBrief(
        id=proposal.id,
        upload_id=proposal.upload_id,
        status=proposal.status,
        result=proposal.result,
        confidence=proposal.confidence,
        model_version=proposal.model_version,
        issues=[{k: str(v) for k, v in issue.items()} for issue in proposal.issues],
        read_time_flag=upload.read_time_flag,
        minutes_after_claim=upload.minutes_after_claim,
        minutes_after_sample=upload.minutes_after_sample,
        read_time=read_time_note(upload, test, product),
        unit_check=proposal.unit_check,
        same_photo_test_id=proposal.same_photo_test_id,
        reviewed=queries.latest_review(session, proposal.id) is not None,
        created_at=proposal.created_at,
    )


def timing_of(upload: Upload | None, test: SelfTest, product: Product) -> tuple[str | None, str]:
    """The deciding (latest) photo's read-time flag and its timing in words (CDC cases)."""
    if upload is None:
        return None, "No photo."
    return upload.read_time_flag, read_time_note(upload, test, product)
