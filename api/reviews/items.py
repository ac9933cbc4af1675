"""What the clinicians' review pages read: one item with its records, the decision still
undoable, a proposal's pictures. The pages hold no SQL of their own."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from api.accounts.schemas import Caller
from api.batches.tables import Batch
from api.db.base import utcnow
from api.errors import NotFoundError
from api.products.tables import Product
from api.readings.service import unit_code_of
from api.reviews import safeguards
from api.reviews.service import awaiting_reader, gold_waiting, last_decision
from api.scope import Scope
from api.selftests.service import read_time_note
from api.selftests.tables import Proposal, SelfTest, Upload


@dataclass(frozen=True)
class ReviewItem:
    """One proposal as a reader sees it, with the records the page shows."""

    proposal: Proposal
    test: SelfTest
    upload: Upload
    product: Product
    batch: Batch
    unit_code: str  # the code of the unit claimed, to check the photo by eye
    read_time: str  # the photo's timing in words
    blind: bool  # a blind second reading: the model's answer is withheld
    round: int  # 1 first reading, 2 second (blind), 3 third
    gold: bool  # a gold-standard item: shown as a first reading like any other, scored


@dataclass(frozen=True)
class Undoable:
    """A reader's last decision while it can still be undone."""

    proposal_id: int
    test_id: int
    label: str  # the test in words, beside its public id: its product and photo time
    said: str
    seconds_left: int


def review_item(
    session: Session, scope: Scope, reviewer: Caller, proposal_id: int, blind_setting: bool
) -> ReviewItem:
    """The item if ``reviewer`` may read it now (see ``awaiting_reader``), or the gold-standard
    item waiting for them there (its test's reading is over; it reads as a first reading)."""
    gold = gold_waiting(session, scope, reviewer, proposal_id) is not None
    if gold:
        proposal = proposal_of(session, proposal_id)
        test = session.get(SelfTest, proposal.self_test_id)
        assert test is not None
        stage = 1
    else:
        proposal, test = awaiting_reader(session, scope, reviewer, proposal_id)
        stage = proposal.review_stage or 1
    upload = session.get(Upload, proposal.upload_id)
    product = session.get(Product, test.product_id)
    batch = session.get(Batch, test.batch_id)
    assert upload is not None
    assert product is not None
    assert batch is not None
    return ReviewItem(
        proposal=proposal,
        test=test,
        upload=upload,
        product=product,
        batch=batch,
        unit_code=unit_code_of(session, test),
        read_time=read_time_note(upload, test, product),
        blind=safeguards.blind_to_model(blind_setting, stage),
        round=stage,
        gold=gold,
    )


def proposal_of(session: Session, proposal_id: int) -> Proposal:
    found = session.get(Proposal, proposal_id)
    if found is None:
        raise NotFoundError("no such proposal")
    return found


def visible_proposal(session: Session, scope: Scope, proposal_id: int) -> tuple[Proposal, Upload]:
    """A proposal and its photo, if its test is in ``scope`` (for the pictures)."""
    found = proposal_of(session, proposal_id)
    upload = session.get(Upload, found.upload_id)
    test = session.get(SelfTest, found.self_test_id)
    assert upload is not None
    assert test is not None
    scope.check(test.region_code, "this test")
    return found, upload


def undoable(
    session: Session,
    reviewer: Caller,
    gold_grace: timedelta = timedelta(0),
    now: datetime | None = None,
) -> Undoable | None:
    """``reviewer``'s last decision while it is still held (undoable), naming its test; a gold
    reading shows the same, held for ``gold_grace`` (see ``last_decision``)."""
    last = last_decision(session, reviewer, gold_grace)
    if last is None or last.settled:
        return None
    left = (last.settles_at - (now or utcnow())).total_seconds()
    if left <= 0:
        return None
    if last.decision == "retake":
        said = "asked for a new photo"
    elif last.decision == "confirm":
        said = f"confirmed {last.result}"
    else:
        said = f"changed the result to {last.result}"
    read = proposal_of(session, last.proposal_id)
    test = session.get(SelfTest, last.test_id)
    upload = session.get(Upload, read.upload_id)
    assert test is not None
    assert upload is not None
    product = session.get(Product, test.product_id)
    assert product is not None
    return Undoable(
        proposal_id=last.proposal_id,
        test_id=last.test_id,
        label=f"{product.name}, photo taken {upload.taken_at:%H:%M} UTC",
        said=said,
        seconds_left=int(left + 0.999),
    )
