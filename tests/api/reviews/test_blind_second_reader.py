"""A second reader is blind to the first decision and, by default, to the model's answer:
they give the result they read, and the server works out whether it agrees."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from test_second_reading import a_test_in_review, clinician, proposed, queue, review

from api.public_ids import PROPOSAL, decode
from api.reviews.safeguards import BLIND_REASON
from api.selftests.queries import latest_review


def second_round(client: TestClient, world: Any, flow: Any) -> tuple[Any, dict[str, Any], Any]:
    """A positive the model was unsure of, confirmed by the first reader: to a second."""
    test = a_test_in_review(world, flow, 0, proposed("positive", confidence=0.55))
    second = clinician(world, "second-reader")
    first = queue(client, world, world.clinician_a)[0]
    review(client, world, world.clinician_a, first["proposal_id"], decision="confirm")
    return test, queue(client, world, second)[0], second


def test_the_second_reader_is_not_shown_the_model_s_answer(
    client: TestClient, world: Any, flow: Any
) -> None:
    _test, item, _second = second_round(client, world, flow)
    assert item["round"] == 2
    assert item["blind"] is True
    assert item["proposed_result"] is None
    assert item["reading"] == {}
    assert item["earlier_readings"] == []
    assert "positive" not in str(item)


def test_a_blind_reading_that_agrees_confirms_and_one_that_differs_changes(
    client: TestClient, world: Any, flow: Any
) -> None:
    test, item, second = second_round(client, world, flow)
    done = review(client, world, second, item["proposal_id"], decision="confirm", result="negative")
    assert done["decision"] == "change"  # it differs from the model's positive
    assert done["reason"] == BLIND_REASON
    assert done["status"] == "third_reading"  # the two readers disagree
    last = latest_review(world.session, decode(PROPOSAL, item["proposal_id"]) or 0)
    assert last is not None
    assert (last.round, last.result) == (2, "negative")
    assert test.id == last.self_test_id


def test_with_the_setting_off_the_second_reader_sees_the_model(
    client: TestClient, world: Any, flow: Any
) -> None:
    world.ctx.settings = world.ctx.settings.model_copy(update={"blind_second_reader": False})
    _test, item, second = second_round(client, world, flow)
    assert item["blind"] is False
    assert item["proposed_result"] == "positive"
    done = review(client, world, second, item["proposal_id"], decision="confirm")
    assert (done["decision"], done["status"]) == ("confirm", "released")
