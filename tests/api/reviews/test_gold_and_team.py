"""The readers' lead through the API: seeding a gold-standard item, and the clinicians'
statistics a page at a time, with opaque ids and cursors."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from test_second_reading import a_test_in_review, proposed, review

from api.public_ids import PROPOSAL, TEST, encode
from api.reviews.tables import GoldItem
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
