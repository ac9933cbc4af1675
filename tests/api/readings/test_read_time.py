"""The kit's read window runs from the sample: an early photo is held with the minutes to
wait, a late one is flagged, and a clinician confirms either only on purpose."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.db.base import utcnow
from api.public_ids import TEST, encode
from api.selftests.tables import Upload


def sample_applied(client: TestClient, world: Any, test_id: int, **body: Any) -> Any:
    return client.post(
        f"/api/tests/{encode(TEST, test_id)}/sample-applied",
        headers=world.headers(world.patient_a),
        json={k: v.isoformat() for k, v in body.items()},
    )


def send(client: TestClient, world: Any, test_id: int, photo: bytes, **data: str) -> Any:
    return client.post(
        f"/api/tests/{encode(TEST, test_id)}/photos",
        headers=world.headers(world.patient_a),
        files={"photo": ("photo.png", photo, "image/png")},
        data=data,
    )


def uploads(world: Any) -> int:
    return int(world.session.scalar(select(func.count()).select_from(Upload)))


def test_the_window_runs_from_the_sample_the_patient_applied(
    client: TestClient, world: Any, flow: Any
) -> None:
    test = flow.claim(sample_minutes_ago=None)
    before = client.get(
        f"/api/tests/{encode(TEST, test.id)}", headers=world.headers(world.patient_a)
    ).json()
    assert before["read_window"]["from_sample"] is False  # timed from the scan until told
    applied = utcnow() - timedelta(minutes=3)
    answer = sample_applied(client, world, test.id, applied_at=applied)
    assert answer.status_code == 200, answer.text
    window = answer.json()["read_window"]
    assert window["from_sample"] is True
    assert window["starts_at"] == applied.isoformat().replace("+00:00", "Z")
    # The demo kit reads from 15 to 30 minutes after the sample.
    opens = applied + timedelta(minutes=15)
    assert window["read_from"] == opens.isoformat().replace("+00:00", "Z")


def test_an_early_photo_is_held_with_the_minutes_to_wait(
    client: TestClient, world: Any, flow: Any, png: Any
) -> None:
    test = flow.claim(sample_minutes_ago=None)
    sample_applied(client, world, test.id, applied_at=utcnow() - timedelta(minutes=6))
    early = send(client, world, test.id, png())
    assert early.status_code == 409
    assert early.headers["content-type"] == "application/problem+json"
    problem = early.json()
    assert problem["code"] == "too_early"
    assert problem["wait_minutes"] == 9  # 15 - 6
    assert "wait 9 more minutes, then take the photo" in problem["detail"]
    assert early.headers["Retry-After"] == str(9 * 60)
    assert uploads(world) == 0  # nothing kept: the patient sends it again later
    state = client.get(
        f"/api/tests/{encode(TEST, test.id)}", headers=world.headers(world.patient_a)
    ).json()
    assert state["status"] == "awaiting_photo"


def test_a_photo_in_the_window_is_read_and_a_late_one_flagged(
    client: TestClient, world: Any, flow: Any, png: Any
) -> None:
    on_time = flow.claim(code_index=0, sample_minutes_ago=20)
    assert send(client, world, on_time.id, png()).status_code == 202
    late = flow.claim(code_index=1, sample_minutes_ago=40)
    response = send(client, world, late.id, png(seed=1))
    assert response.status_code == 202
    flags = dict(world.session.execute(select(Upload.self_test_id, Upload.read_time_flag)).all())
    assert flags == {on_time.id: None, late.id: "late"}
    minutes = world.session.scalar(
        select(Upload.minutes_after_sample).where(Upload.self_test_id == late.id)
    )
    assert 40 <= minutes < 41


def test_the_sample_time_is_given_once_before_the_photo(
    client: TestClient, world: Any, flow: Any, png: Any
) -> None:
    test = flow.claim(sample_minutes_ago=None)
    future = sample_applied(client, world, test.id, applied_at=utcnow() + timedelta(hours=1))
    assert future.status_code == 422
    long_ago = sample_applied(client, world, test.id, applied_at=utcnow() - timedelta(hours=3))
    assert long_ago.status_code == 422
    applied = utcnow() - timedelta(minutes=20)
    assert sample_applied(client, world, test.id, applied_at=applied).status_code == 200
    assert sample_applied(client, world, test.id, applied_at=applied).status_code == 200  # retry
    moved = sample_applied(client, world, test.id, applied_at=applied + timedelta(minutes=1))
    assert moved.status_code == 409
    assert send(client, world, test.id, png()).status_code == 202
    after_photo = sample_applied(client, world, test.id, applied_at=applied)
    assert after_photo.status_code == 409
    stranger = client.post(
        f"/api/tests/{encode(TEST, test.id)}/sample-applied",
        headers=world.headers(world.patient_b),
        json={},
    )
    assert stranger.status_code == 404  # not hers: as if absent


def review(client: TestClient, world: Any, proposal_id: str, **body: Any) -> Any:
    return client.post(
        f"/api/proposals/{proposal_id}/review",
        headers=world.headers(world.clinician_a),
        json=body,
    )


def test_confirming_a_late_reading_needs_an_explicit_second_key(
    client: TestClient, world: Any, flow: Any
) -> None:
    test = flow.claim(sample_minutes_ago=40)
    flow.upload(test)
    queue = client.get("/api/reviews/queue", headers=world.headers(world.clinician_a)).json()[
        "items"
    ]
    assert queue[0]["read_time_flag"] == "late"
    assert "after the sample was applied: too late" in queue[0]["read_time"]
    proposal_id = queue[0]["proposal_id"]
    refused = review(client, world, proposal_id, decision="confirm")
    assert refused.status_code == 422
    assert refused.json()["code"] == "invalid"
    assert "read_time_ok" in refused.json()["detail"]
    confirmed = review(client, world, proposal_id, decision="confirm", read_time_ok=True)
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "released"


def test_a_retake_of_an_early_photo_needs_no_second_key(
    client: TestClient, world: Any, flow: Any
) -> None:
    test = flow.claim(sample_minutes_ago=None)
    flow.upload(test)  # seconds after the scan: early, and flagged
    queue = client.get("/api/reviews/queue", headers=world.headers(world.clinician_a)).json()[
        "items"
    ]
    asked = review(
        client, world, queue[0]["proposal_id"], decision="retake", reason="too early to read"
    )
    assert asked.status_code == 200, asked.text
    assert asked.json()["status"] == "retake"
