"""Released results in the page tests' demo database, made through the services."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from review_ui_helpers import user_named
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.context import AppContext
from api.patients.service import patient_of
from api.readings import service as readings
from api.reviews.schemas import ReviewIn
from api.reviews.service import decide
from api.scope import scope_for
from api.selftests.queries import latest_proposal
from api.selftests.tables import SelfTest
from pipeline.reading import LineReading, Reading


def fake_reading(result: str) -> Reading:
    positive = result == "positive"
    control = result != "invalid"
    return Reading(
        status="ok",
        result=result,  # type: ignore[arg-type]
        analytes={"SARS-CoV-2 antigen": "detected" if positive else "not detected"},
        lines={
            "T": LineReading(present=positive, intensity=0.3 * positive, p_present=0.97),
            "C": LineReading(present=control, intensity=0.5 * control, p_present=0.99),
        },
        confidence=0.97,
        code=None,
        issues=[],
        model="fake@1",
    )


def png(seed: int) -> bytes:
    image = np.random.default_rng(seed).integers(0, 255, (64, 96, 3), dtype=np.uint8)
    ok, buffer = cv2.imencode(".png", image)
    assert ok
    return buffer.tobytes()


def release(
    session: Session, ctx: AppContext, patient: str, clinician: str, result: str
) -> SelfTest:
    """Take ``patient``'s claimed demo test through upload, reading and a confirming review."""
    patient_user = user_named(session, patient)
    test = session.scalar(
        select(SelfTest)
        .where(SelfTest.patient_id == patient_of(session, patient_user).id)
        .order_by(SelfTest.id.desc())
    )
    assert test is not None
    previous = ctx.vision.reader
    ctx.vision.reader = lambda _photo, _kit: fake_reading(result)
    try:
        readings.upload_photo(
            session, ctx, patient_user, test.id, png(test.id), idempotency_key=None, taken_at=None
        )
        session.commit()  # the reading runs in-process after the commit
    finally:
        ctx.vision.reader = previous
    session.expire_all()
    proposal = latest_proposal(session, test.id)
    assert proposal is not None
    reviewer = user_named(session, clinician)
    decide(
        session,
        ctx,
        reviewer,
        scope_for(session, ctx, reviewer),
        proposal.id,
        # The demo's claims are minutes old by now: whatever the timing, release it.
        ReviewIn(decision="confirm", read_time_ok=True),
    )
    session.commit()
    session.refresh(test)
    assert test.status == "released", test.status
    return test


def released_world(session: Session, ctx: AppContext) -> dict[str, Any]:
    """A positive in the north (patient1) and a negative in the south (patient2)."""
    positive = release(session, ctx, "patient1", "clinician-north", "positive")
    negative = release(session, ctx, "patient2", "clinician-south", "negative")
    return {"positive": positive, "negative": negative}
