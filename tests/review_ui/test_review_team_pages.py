"""The readers' lead (an operator): gold-standard items seeded into the flow and scored,
and each clinician's speed and agreement, with a warning when implausibly fast."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.accounts.tables import User
from api.audit.tables import AuditEntry
from api.db.base import utcnow
from api.products.tables import Product
from api.public_ids import PROPOSAL, TEST, encode
from api.reports.tables import Report
from api.reviews.service import reviewer_stats
from api.reviews.tables import GoldReading
from api.selftests.tables import Proposal, Review, SelfTest, TestStatus, Upload


def _released(session: Session, proposal: Proposal, result: str) -> SelfTest:
    """A test whose reading is over, as a clinician's release leaves it."""
    test = session.get(SelfTest, proposal.self_test_id)
    assert test is not None
    test.status = TestStatus.released
    test.result = result
    test.released_at = utcnow()
    session.commit()
    return test


def test_a_gold_item_is_read_like_any_other_scored_and_never_released(
    pages: Any, review_item: Callable[..., Any], session: Session
) -> None:
    proposal = review_item("positive")  # the model says positive
    test = _released(session, proposal, "positive")
    reports = session.query(Report).count()
    pages.log_in("operator")
    pages.get("/review/team")
    seeded = pages.post(
        "/review/team/gold", {"test_ref": encode(TEST, test.id), "known": "negative"}
    )
    assert seeded.status_code == 303
    assert "Seeded" in pages.get(seeded.headers["location"]).text
    again = pages.post(
        "/review/team/gold", {"test_ref": encode(TEST, test.id), "known": "negative"}
    )
    assert again.status_code == 409
    assert "already seeded" in again.text
    # A test still in the flow cannot be seeded: it would be read twice.
    waiting = review_item("negative")
    refused = pages.post(
        "/review/team/gold",
        {"test_ref": encode(TEST, waiting.self_test_id), "known": "negative"},
    )
    assert refused.status_code == 409

    # The region's clinician meets it in the flow, as a first reading like any other.
    north = session.scalars(select(User).where(User.username == "clinician-north")).one()
    since = utcnow() - timedelta(days=1)
    items_before = reviewer_stats(session, north, since).items
    pages.log_in("clinician-north")
    nxt = pages.get("/review/next", follow_redirects=False)
    assert nxt.headers["location"] == f"/review/items/{encode(PROPOSAL, proposal.id)}"
    page = pages.get(nxt.headers["location"]).text
    assert "Confirm positive" in page
    assert "gold" not in page.lower()
    done = pages.post(
        f"/review/items/{encode(PROPOSAL, proposal.id)}/decision",
        {"choice": "confirm", "round": "1", "opened_at": "0"},
    )
    assert done.status_code == 303
    # Held for the grace period and undoable, as a real decision is: the next item shows the
    # same undo bar, naming the test (its public id, product and photo time).
    upload = session.get(Upload, proposal.upload_id)
    product = session.get(Product, test.product_id)
    assert upload is not None
    assert product is not None
    bar = pages.get(f"/review/items/{encode(PROPOSAL, waiting.id)}").text
    assert 'class="alert alert--success undo-bar"' in bar
    assert (
        f"You confirmed positive on test <code>{encode(TEST, test.id)}</code> "
        f"({product.name}, photo taken {upload.taken_at:%H:%M} UTC)"
    ) in bar
    # Undo withdraws the gold reading, recorded like any undo; the item comes back to be read.
    undo = pages.post("/review/undo", {"filters": ""})
    assert undo.headers["location"] == f"/review/items/{encode(PROPOSAL, proposal.id)}"
    session.expire_all()
    assert session.query(GoldReading).count() == 0
    undone = session.scalars(
        select(AuditEntry).where(
            AuditEntry.action == "undo_review", AuditEntry.actor_id == north.id
        )
    ).one()
    assert undone.object_id == str(proposal.id)
    assert (undone.detail["decision"], undone.detail["result"]) == ("confirm", "positive")
    back = pages.get(undo.headers["location"]).text
    assert "Confirm positive" in back
    assert "undo-bar" not in back  # nothing left to undo
    nxt = pages.get("/review/next", follow_redirects=False)
    assert nxt.headers["location"] == f"/review/items/{encode(PROPOSAL, proposal.id)}"
    done = pages.post(
        f"/review/items/{encode(PROPOSAL, proposal.id)}/decision",
        {"choice": "confirm", "round": "1", "opened_at": "0"},
    )
    assert done.status_code == 303
    # Scored against the known answer (wrong here); the test is untouched, nothing reported.
    scored = session.scalars(select(GoldReading)).one()
    assert (scored.outcome, scored.correct) == ("positive", False)
    session.expire_all()
    assert (test.status, test.result) == (TestStatus.released, "positive")
    assert session.query(Review).filter_by(proposal_id=proposal.id).count() == 0
    assert session.query(Report).count() == reports
    # Counted in their statistics like any other item (and timed, so speed warnings see it).
    after = reviewer_stats(session, north, since)
    assert after.items == items_before + 1
    assert after.by_outcome.get("positive", 0) >= 1
    # Read once: it does not come back to the same reader.
    nxt = pages.get("/review/next", follow_redirects=False)
    assert encode(PROPOSAL, proposal.id) not in nxt.headers["location"]

    pages.log_in("operator")
    team = pages.get("/review/team").text
    row = re.search(
        rf"<th scope=\"row\">{re.escape(north.display_name)}</th>(.*?)</tr>", team, re.S
    )
    assert row is not None
    assert "0 of 1 (0%)" in row.group(1)


def test_the_lead_is_warned_of_an_implausibly_fast_reader(
    pages: Any, review_item: Callable[..., Any], session: Session
) -> None:
    fast = session.scalars(select(User).where(User.username == "clinician-north-2")).one()
    now = utcnow()
    for n in range(6):
        proposal = review_item("negative")
        session.add(
            Review(
                proposal_id=proposal.id,
                self_test_id=proposal.self_test_id,
                reviewer_id=fast.id,
                round=1,
                decision="confirm",
                result="negative",
                seconds_spent=1.5,  # as the page measured: opened, then C at once
                effect="release",
                settles_at=now,
                settled_at=now,
                created_at=now - timedelta(minutes=n),
            )
        )
    session.commit()
    pages.log_in("operator")
    page = pages.get("/review/team").text
    assert 'id="too-fast"' in page
    assert f"{fast.display_name}: 1.5 s per item (median of 6)" in page
    north = session.scalars(select(User).where(User.username == "clinician-north")).one()
    assert f"{north.display_name}: " not in page.split('id="too-fast"')[1].split("</div>")[0]
    # Clinicians do not see their colleagues' figures.
    pages.log_in("clinician-north")
    assert pages.get("/review/team").status_code == 403
