"""The self-test state machine: every legal step, and every other step refused with a 409."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.batches.tables import Unit, UnitState
from api.public_ids import PROPOSAL, TEST, encode
from api.selftests import lifecycle
from api.selftests.lifecycle import TRANSITIONS, Step, TransitionError
from api.selftests.queries import latest_proposal
from api.selftests.tables import Proposal, SelfTest, TestStatus


def _test_in(state: TestStatus) -> SelfTest:
    return SelfTest(status=state, unit_id=1, patient_id=1, product_id=1, batch_id=1)


@pytest.mark.parametrize("state", list(TestStatus))
@pytest.mark.parametrize("step", [Step.photo_received])
def test_only_listed_steps_are_allowed(state: TestStatus, step: Step) -> None:
    test = _test_in(state)
    if (state, step) in TRANSITIONS:
        lifecycle.photo_received(test)
        assert test.status == TRANSITIONS[(state, step)]
    else:
        with pytest.raises(TransitionError) as refused:
            lifecycle.photo_received(test)
        assert refused.value.status_code == 409
        assert test.status == state  # never half-moved


def test_finished_tests_take_no_photo_and_cannot_be_withdrawn() -> None:
    for state in (TestStatus.released, TestStatus.corrected, TestStatus.withdrawn):
        assert not lifecycle.allows(_test_in(state), Step.photo_received)
        assert not lifecycle.allows(_test_in(state), Step.withdraw)
    assert lifecycle.allows(_test_in(TestStatus.released), Step.correct)
    assert not lifecycle.allows(_test_in(TestStatus.in_review), Step.correct)


def test_only_a_released_result_can_be_retracted_as_entered_in_error() -> None:
    for state in TestStatus:
        allowed = state in (TestStatus.released, TestStatus.corrected)
        assert lifecycle.allows(_test_in(state), Step.retract) == allowed, state
    assert TRANSITIONS[(TestStatus.corrected, Step.retract)] == TestStatus.withdrawn


@pytest.mark.parametrize(
    ("status", "to", "stage"),
    [
        ("ok", TestStatus.in_review, 1),
        ("by_eye", TestStatus.in_review, 1),
        ("retake", "retake", None),
    ],
)
def test_a_proposal_sends_the_test_to_review_or_back_to_the_patient(
    status: str, to: str, stage: int | None
) -> None:
    test = _test_in(TestStatus.reading)
    proposal = Proposal(status=status, confidence=0.2)
    lifecycle.proposed(test, proposal)
    assert (test.status, proposal.review_stage) == (to, stage)


def test_review_stages_only_move_forward() -> None:
    test = _test_in(TestStatus.in_review)
    proposal = Proposal(status="ok", confidence=0.9, review_stage=2)
    with pytest.raises(TransitionError):
        lifecycle.next_reading(test, proposal, 2)
    with pytest.raises(TransitionError):
        lifecycle.next_reading(test, proposal, 4)
    lifecycle.next_reading(test, proposal, 3)
    lifecycle.next_reading(test, proposal, None)
    with pytest.raises(TransitionError):  # decided: no reading awaited
        lifecycle.next_reading(test, proposal, None)


def test_correct_and_withdraw_audit_and_spend_the_unit(world: Any, flow: Any) -> None:
    released = flow.released("negative", code_index=2)
    session = world.session
    previous = lifecycle.correct(session, world.clinician_a, released, "positive", "control faint")
    assert (previous, released.status, released.result) == ("negative", "corrected", "positive")
    with pytest.raises(TransitionError):
        lifecycle.withdraw(session, world.patient_a, released, "changed my mind")

    fresh = flow.claim(code_index=3)
    lifecycle.withdraw(session, world.patient_a, fresh, "cassette dropped")
    session.flush()
    assert session.get(Unit, fresh.unit_id).state == UnitState.used
    with pytest.raises(TransitionError):
        lifecycle.photo_received(fresh)


def test_an_illegal_step_over_http_is_a_409(
    client: TestClient, world: Any, flow: Any, png: Any
) -> None:
    test = flow.released("negative", code_index=4)
    answer = client.post(
        f"/api/tests/{encode(TEST, test.id)}/photos",
        headers=world.headers(world.patient_a),
        files={"photo": ("photo.png", png(), "image/png")},
    )
    assert answer.status_code == 409
    assert "finished" in answer.text


def test_a_by_eye_proposal_is_read_by_two_clinicians_who_give_the_result(
    client: TestClient, world: Any, flow: Any, fake_reader: Any
) -> None:
    fake_reader.queue.append("by_eye")
    test = flow.claim(code_index=6)
    flow.upload(test)
    proposal = latest_proposal(world.session, test.id)
    assert proposal is not None
    assert (proposal.status, proposal.result, proposal.review_stage) == ("by_eye", None, 1)
    queue = client.get("/api/reviews/queue", headers=world.headers(world.clinician_a)).json()[
        "items"
    ]
    assert [(item["proposal_id"], item["by_eye"]) for item in queue] == [
        (encode(PROPOSAL, proposal.id), True)
    ]
    headers = world.headers(world.clinician_a)
    url = f"/api/proposals/{encode(PROPOSAL, proposal.id)}/review"
    no_result = client.post(url, headers=headers, json={"decision": "confirm"})
    assert no_result.status_code == 422
    first = client.post(url, headers=headers, json={"decision": "confirm", "result": "negative"})
    assert first.json()["status"] == "second_reading"  # read by eye: always a second reader
