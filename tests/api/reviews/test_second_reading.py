"""Second reading, held decisions with undo, the queue's order and a reviewer's statistics."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from api.accounts import service as accounts
from api.accounts.tables import Role, User
from api.db.base import utcnow
from api.public_ids import TEST, decode, encode
from api.reviews import service
from api.reviews.service import cohen_kappa
from api.selftests.queries import latest_proposal
from api.selftests.tables import Proposal
from pipeline.reading import Explanation, LineReading, Reading


def clinician(world: Any, name: str) -> User:
    user = accounts.create_user(
        world.session,
        username=name,
        password="correct horse battery",
        role=Role.clinician,
        display_name=name,
        institution_id=world.institution_a.id,
    )
    world.session.commit()
    return user


def proposed(result: str = "positive", confidence: float = 0.93) -> Reading:
    t = result == "positive"
    return Reading(
        status="ok",
        result=result,  # type: ignore[arg-type]
        analytes={"SARS-CoV-2 antigen": "detected" if t else "not detected"},
        lines={
            "T": LineReading(t, 0.3 * t, 0.9, at=0.42 if t else None, expected_at=0.42),
            "C": LineReading(True, 0.5, 0.99, at=0.69, expected_at=0.69),
        },
        confidence=confidence,
        code=None,
        issues=[],
        model="fake@2",
        explanation=Explanation(
            window=np.full((12, 60, 3), 220, np.uint8),
            profile=np.linspace(0, 0.5, 60),
            locator="code",
            px_per_mm=8.0,
        ),
    )


def a_test_in_review(world: Any, flow: Any, code_index: int, reading: Reading) -> Any:
    world.ctx.vision.reader = lambda _photo, _kit: reading
    test = flow.claim(code_index=code_index)
    flow.upload(test)
    return test


def queue(client: TestClient, world: Any, user: User, query: str = "") -> list[dict[str, Any]]:
    response = client.get(f"/api/reviews/queue{query}", headers=world.headers(user))
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def review(
    client: TestClient, world: Any, user: User, proposal_id: int, **body: Any
) -> dict[str, Any]:
    response = client.post(
        f"/api/proposals/{proposal_id}/review", headers=world.headers(user), json=body
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def result_seen_by_patient(client: TestClient, world: Any, test: Any) -> Any:
    return client.get(
        f"/api/tests/{encode(TEST, test.id)}", headers=world.headers(world.patient_a)
    ).json()


def test_the_explanation_is_kept_with_the_proposal(world: Any, flow: Any) -> None:
    test = a_test_in_review(world, flow, 0, proposed())
    proposal = latest_proposal(world.session, test.id)
    assert proposal is not None
    kept = proposal.explanation
    assert kept is not None
    assert world.ctx.photos.exists(kept["window_sha256"])
    assert kept["window_size"] == [60, 12]
    assert len(kept["profile"]) == 60
    assert kept["lines"]["T"] == {
        "present": True,
        "intensity": 0.3,
        "at": 0.42,
        "expected_at": 0.42,
    }
    assert proposal.review_stage == 1


def test_a_confident_confirmation_releases_at_once(
    client: TestClient, world: Any, flow: Any
) -> None:
    test = a_test_in_review(world, flow, 0, proposed("negative"))
    item = queue(client, world, world.clinician_a)[0]
    assert item["round"] == 1
    done = review(client, world, world.clinician_a, item["proposal_id"], decision="confirm")
    assert (done["status"], done["released"]) == ("released", True)
    assert result_seen_by_patient(client, world, test)["result"] == "negative"


def test_an_unsure_model_needs_a_second_blind_reader(
    client: TestClient, world: Any, flow: Any
) -> None:
    test = a_test_in_review(world, flow, 0, proposed("positive", confidence=0.55))
    second = clinician(world, "second-reader")
    first_item = queue(client, world, world.clinician_a)[0]
    done = review(client, world, world.clinician_a, first_item["proposal_id"], decision="confirm")
    assert (done["status"], done["released"]) == ("second_reading", False)
    assert result_seen_by_patient(client, world, test)["status"] == "in_review"
    # The first reader does not get it again; the second one does, without the first decision.
    assert queue(client, world, world.clinician_a) == []
    item = queue(client, world, second)[0]
    assert item["round"] == 2
    assert item["earlier_readings"] == []
    assert "confirm" not in str(item)
    agreed = review(client, world, second, item["proposal_id"], decision="confirm", round=2)
    assert agreed["status"] == "released"
    assert result_seen_by_patient(client, world, test)["result"] == "positive"


def test_disagreeing_readers_go_to_a_third_who_sees_both(
    client: TestClient, world: Any, flow: Any
) -> None:
    test = a_test_in_review(world, flow, 0, proposed("positive"))
    second, third = clinician(world, "reader-2"), clinician(world, "reader-3")
    pid = queue(client, world, world.clinician_a)[0]["proposal_id"]
    changed = review(
        client,
        world,
        world.clinician_a,
        pid,
        decision="change",
        result="negative",
        reason="the T mark is a smudge",
    )
    assert changed["status"] == "second_reading"
    disagree = review(client, world, second, pid, decision="confirm")
    assert disagree["status"] == "third_reading"
    assert queue(client, world, second) == []
    item = queue(client, world, third)[0]
    assert item["round"] == 3
    assert [(e["round"], e["outcome"]) for e in item["earlier_readings"]] == [
        (1, "negative"),
        (2, "positive"),
    ]
    final = review(client, world, third, pid, decision="confirm")
    assert final["status"] == "released"
    assert result_seen_by_patient(client, world, test)["result"] == "positive"
    assert len(client.get("/api/reports", headers=world.headers(world.cdc_a)).json()["items"]) == 1


def test_a_stale_round_is_refused(client: TestClient, world: Any, flow: Any) -> None:
    a_test_in_review(world, flow, 0, proposed("positive", confidence=0.5))
    second = clinician(world, "reader-2")
    pid = queue(client, world, world.clinician_a)[0]["proposal_id"]
    review(client, world, world.clinician_a, pid, decision="confirm")
    response = client.post(
        f"/api/proposals/{pid}/review",
        headers=world.headers(second),
        json={"decision": "confirm", "round": 1},
    )
    assert response.status_code == 409
    assert "open it again" in response.json()["detail"]


def test_a_held_decision_can_be_undone_then_settles(
    client: TestClient, world: Any, flow: Any
) -> None:
    test = a_test_in_review(world, flow, 0, proposed("positive"))
    pid = queue(client, world, world.clinician_a)[0]["proposal_id"]
    held = review(client, world, world.clinician_a, pid, decision="confirm", hold_seconds=30)
    assert (held["status"], held["released"]) == ("held", False)
    assert queue(client, world, world.clinician_a) == []
    assert result_seen_by_patient(client, world, test)["status"] == "in_review"
    undo = client.post("/api/reviews/undo", headers=world.headers(world.clinician_a))
    assert undo.status_code == 200, undo.text
    assert undo.json()["proposal_id"] == pid
    assert [i["proposal_id"] for i in queue(client, world, world.clinician_a)] == [pid]
    # Decided again (retake this time), and the grace period passes.
    review(
        client,
        world,
        world.clinician_a,
        pid,
        decision="retake",
        reason="The photo is too dark.",
        hold_seconds=30,
    )
    assert service.settle_due(world.session, world.ctx, utcnow() + timedelta(seconds=31)) == 1
    world.session.commit()
    seen = result_seen_by_patient(client, world, test)
    assert (seen["status"], seen["retake_reasons"]) == ("retake", ["The photo is too dark."])
    late = client.post("/api/reviews/undo", headers=world.headers(world.clinician_a))
    assert late.status_code == 409
    assert "too late" in late.json()["detail"]


def test_nothing_to_undo_is_a_conflict(client: TestClient, world: Any) -> None:
    response = client.post("/api/reviews/undo", headers=world.headers(world.clinician_b))
    assert response.status_code == 409


def test_the_queue_puts_overdue_then_positives_and_unsure_items_first(
    client: TestClient, world: Any, flow: Any
) -> None:
    negative_new = a_test_in_review(world, flow, 0, proposed("negative"))
    positive = a_test_in_review(world, flow, 1, proposed("positive"))
    unsure = a_test_in_review(world, flow, 2, proposed("negative", confidence=0.6))
    negative_old = a_test_in_review(world, flow, 3, proposed("negative"))
    # The last negative has waited past the ageing cap.
    world.session.execute(
        update(Proposal)
        .where(Proposal.self_test_id == negative_old.id)
        .values(created_at=utcnow() - service.POLICY.ageing_cap - timedelta(minutes=1))
    )
    world.session.commit()
    order = [decode(TEST, i["test_id"]) for i in queue(client, world, world.clinician_a)]
    assert order == [negative_old.id, positive.id, unsure.id, negative_new.id]
    # Urgent means overdue, not merely positive: only the old one so far.
    urgent = [i["urgent"] for i in queue(client, world, world.clinician_a)]
    assert urgent == [True, False, False, False]
    positives = queue(client, world, world.clinician_a, "?result=positive")
    assert [decode(TEST, i["test_id"]) for i in positives] == [positive.id]
    low = queue(client, world, world.clinician_a, "?confidence=low")
    assert [decode(TEST, i["test_id"]) for i in low] == [unsure.id]
    old = queue(client, world, world.clinician_a, "?older_than_minutes=60")
    assert [decode(TEST, i["test_id"]) for i in old] == [negative_old.id]
    page1 = client.get("/api/reviews/queue?limit=2", headers=world.headers(world.clinician_a))
    page2 = queue(
        client, world, world.clinician_a, f"?limit=2&cursor={page1.json()['next_cursor']}"
    )
    assert [decode(TEST, i["test_id"]) for i in page2] == [unsure.id, negative_new.id]
    counts = client.get("/api/reviews/queue/counts", headers=world.headers(world.clinician_a))
    assert counts.json() | {"oldest": None} == {
        "total": 4,
        "urgent": 1,
        "positive": 1,
        "negative": 3,
        "invalid": 0,
        "low_confidence": 1,
        "second_readings": 0,
        "oldest": None,
    }
    # Another region's clinician sees none of it.
    assert queue(client, world, world.clinician_b) == []
    # Past their target waits, the positive (30 minutes) and the unsure one (1 hour) turn
    # urgent; a confident negative of the same age does not.
    for test, wait in (
        (positive, service.POLICY.positive_wait),
        (unsure, service.POLICY.unsure_wait),
        (negative_new, service.POLICY.unsure_wait),
    ):
        world.session.execute(
            update(Proposal)
            .where(Proposal.self_test_id == test.id)
            .values(created_at=utcnow() - wait - timedelta(minutes=1))
        )
    world.session.commit()
    items = queue(client, world, world.clinician_a)
    assert [(decode(TEST, i["test_id"]), i["urgent"]) for i in items] == [
        (negative_old.id, True),
        (unsure.id, True),
        (positive.id, True),
        (negative_new.id, False),
    ]


def test_skipping_walks_the_queue_in_order(world: Any, flow: Any) -> None:
    from api.scope import scope_for

    first = a_test_in_review(world, flow, 0, proposed("positive"))
    second = a_test_in_review(world, flow, 1, proposed("negative"))
    scope = scope_for(world.session, world.ctx, world.clinician_a)
    head = service.next_item(world.session, scope, world.clinician_a)
    assert head is not None
    assert head.self_test_id == first.id
    after = service.next_item(world.session, scope, world.clinician_a, after=head)
    assert after is not None
    assert after.self_test_id == second.id
    assert service.next_item(world.session, scope, world.clinician_a, after=after) is None


def test_a_reviewers_statistics(client: TestClient, world: Any, flow: Any) -> None:
    second = clinician(world, "reader-2")
    for index, (result, confidence) in enumerate(
        [("positive", 0.5), ("negative", 0.5), ("positive", 0.95)]
    ):
        a_test_in_review(world, flow, index, proposed(result, confidence))
    items = queue(client, world, world.clinician_a)
    # Reader A confirms the two unsure ones and changes the confident positive: all three
    # go to a second reading.
    for item, seconds in zip(items, (20, 40, 60), strict=True):
        body: dict[str, Any] = {"decision": "confirm", "seconds_spent": seconds}
        if item["confidence"] > 0.9:
            body |= {"decision": "change", "result": "negative", "reason": "no line"}
        assert review(client, world, world.clinician_a, item["proposal_id"], **body)["round"] == 1
    # Reader B confirms all three: agrees on two, disagrees on the changed one.
    for item in queue(client, world, second):
        review(client, world, second, item["proposal_id"], decision="confirm")
    stats = client.get("/api/reviews/stats", headers=world.headers(world.clinician_a)).json()
    assert stats["items"] == 3
    assert stats["median_seconds"] == 40
    assert stats["items_per_hour"] == pytest.approx(3 / (120 / 3600), rel=0.01)
    assert stats["changed"] == 1
    assert stats["changed_rate"] == pytest.approx(1 / 3, abs=1e-3)
    assert stats["double_read"] == 3
    assert stats["agreement"] == pytest.approx(2 / 3, abs=1e-3)
    pairs = [("positive", "positive"), ("negative", "negative"), ("negative", "positive")]
    assert stats["kappa"] == cohen_kappa(pairs)
    assert stats["by_outcome"] == {"positive": 1, "negative": 2}


def test_cohen_kappa() -> None:
    assert cohen_kappa([]) is None
    assert cohen_kappa([("p", "p"), ("n", "n")]) == 1.0
    assert cohen_kappa([("p", "n"), ("n", "p")]) == -1.0
    assert cohen_kappa([("p", "p"), ("p", "p")]) == 1.0  # one category, full agreement
    # 20 items: 15 agree; chance agreement from the margins (10/20, 10/20 and 10/20, 10/20).
    pairs = [("a", "a")] * 8 + [("b", "b")] * 7 + [("a", "b")] * 2 + [("b", "a")] * 3
    assert cohen_kappa(pairs) == pytest.approx(0.5, abs=1e-4)


def test_policy_thresholds_are_respected(world: Any, flow: Any) -> None:
    strict = replace(service.POLICY, confident=0.99)
    test = a_test_in_review(world, flow, 0, proposed("negative", confidence=0.95))
    proposal = latest_proposal(world.session, test.id)
    assert proposal is not None
    effect, stage = service.route(proposal, 1, "confirm", "negative", [], strict)
    assert (effect, stage) == (None, 2)
    assert service.route(proposal, 1, "confirm", "negative", []) == ("release", None)
