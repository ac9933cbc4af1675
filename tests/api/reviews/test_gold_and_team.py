"""The readers' lead through the API: seeding a gold-standard item, and the clinicians'
statistics a page at a time, with opaque ids and cursors."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from test_second_reading import a_test_in_review, proposed, review

from api.accounts.service import create_user
from api.accounts.tables import Role
from api.db.base import utcnow
from api.errors import ConflictError
from api.public_ids import PROPOSAL, TEST, encode
from api.reviews import service
from api.reviews.items import undoable
from api.reviews.schemas import ReviewIn
from api.reviews.tables import GoldItem, GoldReading
from api.scope import scope_for
from api.selftests.queries import latest_proposal


def test_the_operator_seeds_a_released_test_as_a_gold_item(
    client: TestClient, world: Any, flow: Any
) -> None:
    test = a_test_in_review(world, flow, 0, proposed("positive", 0.97))
    proposal = latest_proposal(world.session, test.id)
    assert proposal is not None
    body = {"test_id": encode(TEST, test.id), "known_result": "positive"}
    # Still in the flow: refused (it would be read twice).
    early = client.post("/api/reviews/gold", headers=world.headers(world.operator), json=body)
    assert early.status_code == 409
    done = review(
        client, world, world.clinician_a, encode(PROPOSAL, proposal.id), decision="confirm"
    )
    assert done["status"] == "released"
    seeded = client.post("/api/reviews/gold", headers=world.headers(world.operator), json=body)
    assert seeded.status_code == 201, seeded.text
    assert seeded.json()["proposal_id"] == encode(PROPOSAL, proposal.id)
    assert seeded.json()["test_id"] == encode(TEST, test.id)
    gold = world.session.scalars(select(GoldItem)).one()
    assert (gold.known_result, gold.region_code) == ("positive", test.region_code)
    bad = client.post(
        "/api/reviews/gold",
        headers=world.headers(world.operator),
        json={"test_id": str(test.id), "known_result": "positive"},
    )
    assert bad.status_code == 422  # a database number is not an id


def test_a_gold_reading_is_undoable_for_the_grace_period_only(
    client: TestClient, world: Any, flow: Any, ctx: Any
) -> None:
    test = a_test_in_review(world, flow, 0, proposed("positive", 0.97))
    proposal = latest_proposal(world.session, test.id)
    assert proposal is not None
    review(client, world, world.clinician_a, encode(PROPOSAL, proposal.id), decision="confirm")
    body = {"test_id": encode(TEST, test.id), "known_result": "negative"}
    seeded = client.post("/api/reviews/gold", headers=world.headers(world.operator), json=body)
    assert seeded.status_code == 201, seeded.text
    session = world.session
    # A second reader of the region, who has not read this test: it waits for them as gold.
    reader = create_user(
        session,
        username="clinician-a2",
        password="correct horse battery",
        role=Role.clinician,
        display_name="clinician-a2",
        institution_id=world.institution_a.id,
    )
    scope = scope_for(session, ctx, reader)
    gold = service.gold_waiting(session, scope, reader)
    assert gold is not None
    service.read_gold(
        session, reader, gold, ReviewIn(decision="change", result="negative", reason="no test line")
    )
    grace = timedelta(seconds=60)
    bar = undoable(session, reader, grace)
    assert bar is not None
    assert (bar.test_id, bar.said) == (test.id, "changed the result to negative")
    # Once the grace period is over it has taken effect, as a real decision would.
    assert undoable(session, reader, grace, now=utcnow() + grace) is None
    with pytest.raises(ConflictError, match="too late"):
        service.withdraw_last(session, reader, timedelta(0))
    last = service.withdraw_last(session, reader, grace)
    assert (last.proposal_id, last.decision, last.result) == (proposal.id, "change", "negative")
    assert session.scalars(select(GoldReading)).first() is None
    back = service.gold_waiting(session, scope, reader)
    assert back is not None
    assert back.id == gold.id  # unread again: it comes back
    with pytest.raises(ConflictError, match="no decision to undo"):
        service.withdraw_last(session, reader, grace)


def test_the_clinicians_statistics_page_by_page(client: TestClient, world: Any) -> None:
    headers = world.headers(world.operator)
    first = client.get("/api/reviews/reviewers?limit=1", headers=headers)
    assert first.status_code == 200, first.text
    page = first.json()
    assert page["has_more"] is True
    [one] = page["items"]
    assert one["reviewer_id"].startswith("usr_")
    assert set(one) >= {"stats", "gold_read", "gold_accuracy", "too_fast", "warning"}
    second = client.get(
        f"/api/reviews/reviewers?limit=1&cursor={page['next_cursor']}", headers=headers
    ).json()
    assert second["items"][0]["reviewer_id"] != one["reviewer_id"]
    forged = client.get("/api/reviews/reviewers?cursor=1", headers=headers)
    assert forged.status_code in (400, 422)
    assert forged.headers["content-type"] == "application/problem+json"
