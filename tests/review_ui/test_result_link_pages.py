"""The page a patient's SMS links to: the result opens with the kit code and ID digits."""

from __future__ import annotations

from review_ui_helpers import (
    PageClient,
    fake_reading,
    new_patient,
    send_photo,
    start_test,
    tiny_png,
    user_named,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.batches.tables import Unit
from api.context import AppContext
from api.outbox.service import BODY_CONTEXT
from api.outbox.tables import OutboxDelivery
from api.reports.releases import amend
from api.reports.schemas import CorrectionIn
from api.reviews.schemas import ReviewIn
from api.reviews.service import decide
from api.scope import scope_for
from api.selftests import queries as test_queries


def _newest_link(session: Session, ctx: AppContext) -> str:
    """The token of the link in the newest SMS."""
    sms = session.scalars(
        select(OutboxDelivery).where(OutboxDelivery.channel == "sms").order_by(OutboxDelivery.id)
    ).all()[-1]
    return ctx.cipher.decrypt(sms.body_enc, BODY_CONTEXT).split("/r/")[1].split()[0]


def _released_with_link(session: Session, ctx: AppContext) -> tuple[str, str, str]:
    """A positive released through the review; returns the SMS link's token, the kit code
    and the patient's ID number."""
    ctx.vision.reader = lambda _photo, _kit: fake_reading("positive", 0.93)
    user, national_id = new_patient(session, ctx)
    test = start_test(session, ctx, user)
    proposal = send_photo(session, ctx, user, test, tiny_png())
    clinician = user_named(session, "clinician-north")
    scope = scope_for(session, ctx, clinician)
    decide(session, ctx, clinician, scope, proposal.id, ReviewIn(decision="confirm"))
    session.commit()
    token = _newest_link(session, ctx)
    code = session.scalar(select(Unit.code).where(Unit.id == test.unit_id))
    assert code is not None
    return token, code, national_id


def test_result_link_opens_with_the_right_second_factor_only(
    pages: PageClient, session: Session, ctx: AppContext
) -> None:
    token, code, national_id = _released_with_link(session, ctx)
    form = pages.get(f"/r/{token}")
    assert form.status_code == 200
    assert 'name="second_factor"' in form.text

    wrong = pages.post(f"/r/{token}", {"kit_code": code, "second_factor": "9999"})
    assert wrong.status_code == 403
    assert "The code or the second answer is not right" in wrong.text
    assert "Positive" not in wrong.text

    # The code as printed, in lower case with a space: still the same code.
    typed = code.lower()[:4] + " " + code.lower()[4:]
    opened = pages.post(f"/r/{token}", {"kit_code": typed, "second_factor": national_id[-4:]})
    assert opened.status_code == 200, opened.text
    assert "Positive" in opened.text
    assert "was found. A clinician has checked your photo." in opened.text
    assert 'id="result-change"' not in opened.text  # a first release: nothing changed


def test_unknown_link_is_refused_clearly(pages: PageClient) -> None:
    pages.get("/r/not-a-token")
    refused = pages.post("/r/not-a-token", {"kit_code": "X", "second_factor": "1990-01-01"})
    assert refused.status_code == 404
    assert "This link is not valid any more" in refused.text


def test_link_locks_after_repeated_wrong_tries(
    pages: PageClient, session: Session, ctx: AppContext
) -> None:
    token, code, national_id = _released_with_link(session, ctx)
    pages.get(f"/r/{token}")
    for _ in range(5):
        pages.post(f"/r/{token}", {"kit_code": code, "second_factor": "0000"})
    locked = pages.post(f"/r/{token}", {"kit_code": code, "second_factor": national_id[-4:]})
    assert locked.status_code == 423
    assert "locked" in locked.text


def test_a_corrected_result_says_so(pages: PageClient, session: Session, ctx: AppContext) -> None:
    first, code, national_id = _released_with_link(session, ctx)
    clinician = user_named(session, "clinician-north")
    unit_id = session.scalar(select(Unit.id).where(Unit.code == code))
    assert unit_id is not None
    test = test_queries.test_for_unit(session, unit_id)
    assert test is not None
    scope = scope_for(session, ctx, clinician)
    amend(
        session,
        ctx,
        clinician,
        scope,
        test.id,
        CorrectionIn(result="negative", reason="faint line"),
    )
    session.commit()
    token = _newest_link(session, ctx)
    assert token != first  # the patient is told again, with a new link
    pages.get(f"/r/{token}")
    opened = pages.post(f"/r/{token}", {"kit_code": code, "second_factor": national_id[-4:]})
    assert opened.status_code == 200, opened.text
    assert "Negative" in opened.text
    assert "A clinician has corrected this result (faint line)." in opened.text
