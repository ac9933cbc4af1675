"""The photo must show the unit claimed: another unit's code is refused, a photo without a
readable code is flagged for the clinician, and the same photo sent for a second unit is
flagged; each goes to the audit log."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from api.audit.tables import AuditEntry
from api.public_ids import TEST, encode
from api.selftests.queries import latest_proposal
from api.selftests.tables import Upload


def audited(world: Any, action: str) -> list[dict[str, Any]]:
    rows = world.session.scalars(select(AuditEntry).where(AuditEntry.action == action)).all()
    return [dict(row.detail or {}) for row in rows]


def test_a_photo_of_another_unit_is_refused(
    client: TestClient, world: Any, flow: Any, fake_reader: Any
) -> None:
    fake_reader.code = f"https://vigil.example/u/{world.codes[5]}"  # the QR of another unit
    test = flow.claim(code_index=0)
    flow.upload(test)
    proposal = latest_proposal(world.session, test.id)
    assert proposal is not None
    assert (proposal.status, proposal.unit_check, proposal.result) == ("retake", "other_unit", None)
    mine = client.get(
        f"/api/tests/{encode(TEST, test.id)}", headers=world.headers(world.patient_a)
    ).json()
    assert mine["status"] == "retake"  # back to the patient, never to a clinician
    [reason] = mine["retake_reasons"]
    assert f"shows the test with code {world.codes[5]}, not the one you scanned" in reason
    assert f"({world.codes[0]})" in reason
    queue = client.get("/api/reviews/queue", headers=world.headers(world.clinician_a)).json()[
        "items"
    ]
    assert queue == []
    [entry] = audited(world, "wrong_unit")
    assert entry == {"test": test.id, "code": world.codes[5]}


def test_the_unit_s_own_code_matches(world: Any, flow: Any, fake_reader: Any) -> None:
    fake_reader.code = world.codes[0]
    test = flow.claim(code_index=0)
    flow.upload(test)
    proposal = latest_proposal(world.session, test.id)
    assert proposal is not None
    assert (proposal.status, proposal.unit_check) == ("ok", "match")
    assert audited(world, "wrong_unit") == audited(world, "unit_unverified") == []


def test_a_photo_without_a_readable_code_goes_to_the_clinician_flagged(
    client: TestClient, world: Any, flow: Any, fake_reader: Any
) -> None:
    fake_reader.code = None
    test = flow.claim(code_index=0)
    flow.upload(test)
    queue = client.get("/api/reviews/queue", headers=world.headers(world.clinician_a)).json()[
        "items"
    ]
    assert [(q["test_id"], q["unit_check"]) for q in queue] == [(encode(TEST, test.id), "no_code")]
    staff = client.get(
        f"/api/tests/{encode(TEST, test.id)}", headers=world.headers(world.clinician_a)
    ).json()
    assert staff["proposal"]["unit_check"] == "no_code"
    assert len(audited(world, "unit_unverified")) == 1


def test_the_same_photo_sent_for_a_second_unit_is_flagged(
    client: TestClient, world: Any, flow: Any, png: Any, real_pipeline: None
) -> None:
    """With the pipeline's hash: these photos show no test (retakes), and a retake's
    photo is hashed all the same."""
    from api.readings import service as readings

    photo = png(width=320, height=240, seed=7)
    first = flow.claim(code_index=0)
    readings.upload_photo(
        world.session,
        world.ctx,
        world.patient_a,
        first.id,
        photo,
        idempotency_key=None,
        taken_at=None,
    )
    world.session.commit()
    second = flow.claim(code_index=1, patient=world.patient_b)
    readings.upload_photo(
        world.session,
        world.ctx,
        world.patient_b,
        second.id,
        photo,
        idempotency_key=None,
        taken_at=None,
    )
    world.session.commit()
    world.session.expire_all()
    earlier = latest_proposal(world.session, first.id)
    later = latest_proposal(world.session, second.id)
    assert earlier is not None
    assert later is not None
    assert (earlier.status, later.status) == ("retake", "retake")
    assert earlier.same_photo_test_id is None
    assert later.same_photo_test_id == first.id
    entries = audited(world, "same_photo")
    assert entries == [{"test": second.id, "other_test": first.id}]
    other = png(width=320, height=240, seed=8)  # a different photo is not flagged
    third = flow.claim(code_index=2)
    readings.upload_photo(
        world.session,
        world.ctx,
        world.patient_a,
        third.id,
        other,
        idempotency_key=None,
        taken_at=None,
    )
    world.session.commit()
    world.session.expire_all()
    unflagged = latest_proposal(world.session, third.id)
    assert unflagged is not None
    assert unflagged.same_photo_test_id is None


def test_the_task_keeps_the_pipeline_s_hash_without_decoding_the_photo_again(
    world: Any, flow: Any, fake_reader: Any
) -> None:
    """The reading carries the hash of the photo the pipeline decoded; a hash no decode of
    this photo could give shows that the task stored the reading's, for a retake too."""
    for result, photo_hash in (("positive", "0123456789abcdef"), ("retake", "fedcba9876543210")):
        fake_reader.default, fake_reader.photo_hash = result, photo_hash
        test = flow.claim(code_index=0 if result == "positive" else 1)
        flow.upload(test)
        world.session.expire_all()
        [upload] = world.session.scalars(select(Upload).where(Upload.self_test_id == test.id))
        assert upload.photo_dhash == photo_hash
        proposal = latest_proposal(world.session, test.id)
        assert proposal is not None
        assert proposal.status == result.replace("positive", "ok")
