"""Uploads, proposals, retakes, the read-time window, and recovery from lost work."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select

from api import vision
from api.accounts import service as accounts
from api.accounts.tables import Role
from api.audit.tables import AuditEntry
from api.public_ids import TEST, encode
from api.readings import service
from api.selftests.tables import Proposal, Upload


def upload(client: TestClient, world: Any, test_id: int, photo: bytes, **headers: str) -> Any:
    return client.post(
        f"/api/tests/{encode(TEST, test_id)}/photos",
        headers={**world.headers(world.patient_a), **headers},
        files={"photo": ("photo.png", photo, "image/png")},
    )


def read_back(client: TestClient, world: Any, response: Any) -> Any:
    """The upload as it is now: the 202 shows it as committed, before its reading."""
    assert response.status_code in (200, 202), response.text
    location = response.headers["Location"]
    assert location == f"/api/uploads/{response.json()['id']}"
    return client.get(location, headers=world.headers(world.patient_a)).json()


def count(session: Any, table: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(table)))


def test_retry_with_the_same_idempotency_key_returns_the_first_upload(
    client: TestClient, world: Any, flow: Any, png: Any, fake_reader: Any
) -> None:
    test = flow.claim()
    first = upload(client, world, test.id, png(), **{"Idempotency-Key": "retry-key-1"})
    again = upload(client, world, test.id, png(), **{"Idempotency-Key": "retry-key-1"})
    assert (first.status_code, again.status_code) == (202, 200)
    assert first.json()["id"] == again.json()["id"]
    assert count(world.session, Upload) == 1
    assert fake_reader.calls == 1
    other = upload(client, world, test.id, png(seed=9), **{"Idempotency-Key": "retry-key-1"})
    assert other.status_code == 409
    assert "different photo" in other.json()["detail"]


def test_a_second_photo_while_one_is_in_review_is_refused(
    client: TestClient, world: Any, flow: Any, png: Any
) -> None:
    test = flow.claim()
    assert upload(client, world, test.id, png()).status_code == 202
    second = upload(client, world, test.id, png(seed=2))
    assert second.status_code == 409
    assert "clinician" in second.json()["detail"]


def test_retake_goes_back_to_the_patient_who_uploads_again(
    client: TestClient, world: Any, flow: Any, png: Any, fake_reader: Any
) -> None:
    fake_reader.queue[:] = ["retake", "negative"]
    test = flow.claim()
    sent = upload(client, world, test.id, png())
    assert sent.json()["test_status"] == "reading"  # as committed, before the reading
    first = read_back(client, world, sent)
    assert first["test_status"] == "retake"
    assert first["retake_reasons"] == ["The photo is blurred: hold the phone still."]
    seen = client.get(
        f"/api/tests/{encode(TEST, test.id)}", headers=world.headers(world.patient_a)
    ).json()
    assert seen["retake_reasons"] == first["retake_reasons"]
    # Retakes never reach the clinicians' queue.
    queue = client.get("/api/reviews/queue", headers=world.headers(world.clinician_a)).json()[
        "items"
    ]
    assert queue == []
    second = read_back(client, world, upload(client, world, test.id, png(seed=3)))
    assert (second["test_status"], second["proposal_status"]) == ("in_review", "ok")


def test_clinician_asks_for_a_retake_with_a_reason(
    client: TestClient, world: Any, flow: Any, png: Any
) -> None:
    test = flow.claim()
    flow.upload(test)
    proposal = client.get("/api/reviews/queue", headers=world.headers(world.clinician_a)).json()[
        "items"
    ][0]
    no_reason = client.post(
        f"/api/proposals/{proposal['proposal_id']}/review",
        headers=world.headers(world.clinician_a),
        json={"decision": "retake"},
    )
    assert no_reason.status_code == 422
    review = client.post(
        f"/api/proposals/{proposal['proposal_id']}/review",
        headers=world.headers(world.clinician_a),
        json={"decision": "retake", "reason": "The window is out of focus."},
    ).json()
    assert review["released"] is False
    seen = client.get(
        f"/api/tests/{encode(TEST, test.id)}", headers=world.headers(world.patient_a)
    ).json()
    assert (seen["status"], seen["result"]) == ("retake", None)
    assert seen["retake_reasons"] == ["The window is out of focus."]
    assert upload(client, world, test.id, png(seed=4)).status_code == 202


def test_change_needs_a_result_and_a_reason_and_a_second_reader(
    client: TestClient, world: Any, flow: Any
) -> None:
    test = flow.claim()
    flow.upload(test)
    proposal_id = client.get("/api/reviews/queue", headers=world.headers(world.clinician_a)).json()[
        "items"
    ][0]["proposal_id"]
    url = f"/api/proposals/{proposal_id}/review"
    headers = world.headers(world.clinician_a)
    for body in (
        {"decision": "change", "reason": "faint"},
        {"decision": "change", "result": "negative"},
        {"decision": "change", "result": "positive", "reason": "same as proposed"},
    ):
        assert client.post(url, headers=headers, json=body).status_code == 422, body
    changed = client.post(
        url, headers=headers, json={"decision": "change", "result": "negative", "reason": "no T"}
    )
    assert changed.status_code == 200
    assert changed.json()["result"] == "negative"
    # Overruling a confident model needs a second clinician before release.
    assert changed.json()["status"] == "second_reading"
    assert changed.json()["released"] is False
    again = client.post(url, headers=headers, json={"decision": "confirm"})
    assert again.status_code == 409
    seen = client.get(
        f"/api/tests/{encode(TEST, test.id)}", headers=world.headers(world.patient_a)
    ).json()
    assert seen["result"] is None
    second = accounts.create_user(
        world.session,
        username="clinician-a2",
        password="correct horse battery",
        role=Role.clinician,
        display_name="Second reader",
        institution_id=world.institution_a.id,
    )
    world.session.commit()
    agreed = client.post(
        url,
        headers=world.headers(second),
        json={"decision": "change", "result": "negative", "reason": "no T line"},
    )
    assert agreed.json()["status"] == "released", agreed.text
    seen = client.get(
        f"/api/tests/{encode(TEST, test.id)}", headers=world.headers(world.patient_a)
    ).json()
    assert seen["result"] == "negative"
    assert client.get("/api/reports", headers=world.headers(world.cdc_a)).json()["items"] == []


def test_the_task_is_idempotent(world: Any, flow: Any, fake_reader: Any) -> None:
    test = flow.claim()
    stored = flow.upload(test)
    assert service.process_upload(world.ctx, stored.id) == "skipped"
    assert service.process_upload(world.ctx, 10_000_000) == "missing"
    assert fake_reader.calls == 1
    assert count(world.session, Proposal) == 1


def test_the_task_reads_a_kit_template_only_for_a_kit_not_decoded_yet(
    world: Any, flow: Any, fake_reader: Any
) -> None:
    """The template is a PNG of a few hundred KB: each photo loading it cost the worker
    its transfer and decoding, for a kit the process already holds."""
    sent: list[str] = []

    def keep(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    def template_loads(test: Any) -> int:
        sent.clear()
        flow.upload(test)  # read in-process after the upload's commit
        return sum("template_png" in statement for statement in sent)

    vision._stored_kit.cache_clear()  # a process that has decoded no kit yet
    event.listen(world.ctx.database.bind, "before_cursor_execute", keep)
    try:
        first = template_loads(flow.claim(code_index=0))
        again = template_loads(flow.claim(code_index=1))
    finally:
        event.remove(world.ctx.database.bind, "before_cursor_execute", keep)
    assert (first, again) == (1, 0)
    assert fake_reader.calls == 2
    assert count(world.session, Proposal) == 2


def test_a_crashed_reading_loses_no_upload_and_the_sweep_recovers_it(
    client: TestClient, world: Any, flow: Any, png: Any, fake_reader: Any
) -> None:
    fake_reader.fail = True
    test = flow.claim()
    response = upload(client, world, test.id, png())
    assert response.status_code == 202  # the photo is stored even though reading failed
    body = response.json()
    assert (body["test_status"], body["proposal_status"]) == ("reading", None)
    assert world.ctx.photos.exists(body["photo_sha256"])
    # Not stuck long enough yet: the sweep leaves it to the worker.
    assert service.sweep(world.ctx) == []
    fake_reader.fail = False
    swept = client.post(
        "/api/readings/sweep?older_than_seconds=0", headers=world.headers(world.operator)
    )
    assert swept.json() == {"requeued": [body["id"]]}
    after = client.get(f"/api/uploads/{body['id']}", headers=world.headers(world.patient_a))
    assert after.json()["proposal_status"] == "ok"
    assert service.sweep(world.ctx, timedelta(0)) == []
    actions = world.session.scalars(select(AuditEntry.action)).all()
    assert "sweep" in actions


def test_without_a_sample_time_the_read_time_runs_from_the_scan(world: Any, flow: Any) -> None:
    expected = {5: "early", 20: None, 45: "late"}
    for index, (minutes, flag) in enumerate(expected.items()):
        test = flow.claim(code_index=index, sample_minutes_ago=None)
        test.claimed_at -= timedelta(hours=1)  # so that "45 minutes later" is in the past
        world.session.commit()
        stored = flow.upload(test, taken_at=test.claimed_at + timedelta(minutes=minutes))
        assert stored.read_time_flag == flag, minutes  # flagged, not held: the time is a guess
        assert stored.minutes_after_claim == minutes
        assert stored.minutes_after_sample is None


def test_flag_reaches_the_clinician(client: TestClient, world: Any, flow: Any) -> None:
    test = flow.claim(sample_minutes_ago=None)
    flow.upload(test, taken_at=test.claimed_at + timedelta(minutes=2))
    queue = client.get("/api/reviews/queue", headers=world.headers(world.clinician_a)).json()[
        "items"
    ]
    assert queue[0]["read_time_flag"] == "early"
    assert queue[0]["minutes_after_claim"] == 2


def test_bad_uploads_are_refused_and_change_nothing(
    client: TestClient, world: Any, flow: Any, png: Any
) -> None:
    test = flow.claim()
    limit = len(png()) + 100
    world.ctx.settings = world.ctx.settings.model_copy(update={"max_upload_bytes": limit})
    big = png(width=400, height=400)
    assert len(big) > limit
    too_big = upload(client, world, test.id, big)
    assert too_big.status_code == 413
    not_image = upload(client, world, test.id, b"MZ\x90\x00 this is an executable" * 10)
    assert not_image.status_code == 415
    assert "photo" in not_image.json()["detail"]
    empty = upload(client, world, test.id, b"")
    assert empty.status_code == 422
    future = client.post(
        f"/api/tests/{encode(TEST, test.id)}/photos",
        headers=world.headers(world.patient_a),
        files={"photo": ("p.png", png(), "image/png")},
        data={"taken_at": "2999-01-01T00:00:00Z"},
    )
    assert future.status_code == 422
    stranger = client.post(
        f"/api/tests/{encode(TEST, test.id)}/photos",
        headers=world.headers(world.patient_b),
        files={"photo": ("p.png", png(), "image/png")},
    )
    assert stranger.status_code == 404  # not hers: as if absent
    assert count(world.session, Upload) == 0
    world.session.refresh(test)
    assert test.status == "awaiting_photo"


def test_a_pipeline_that_raises_sends_the_photo_to_be_read_by_eye(
    flow: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in the pipeline must not strand the patient's photo, nor answer a 500."""
    import pipeline.read

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("a bug in the pipeline")

    monkeypatch.setattr(pipeline.read, "read", broken)
    flow.world.ctx.vision.reader = None  # the real pipeline path, not a test's stand-in
    test = flow.claim()
    upload = flow.upload(test)
    proposal = flow.world.session.scalar(select(Proposal).where(Proposal.upload_id == upload.id))
    assert proposal is not None
    assert proposal.status == "by_eye"
    assert proposal.result is None
    assert proposal.issues[0]["code"] == "reader_error"
    # The same-photo check still has the photo's hash, as the reader would have taken it.
    stored = flow.world.session.get(Upload, upload.id)
    assert stored.photo_dhash is not None
    assert stored.photo_dhash == pipeline.read.photo_hash(
        flow.world.ctx.photos.get(stored.photo_sha256)
    )
