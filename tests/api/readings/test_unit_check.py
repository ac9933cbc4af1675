"""The photo must show the unit claimed: another unit's code is refused, a photo without a
readable code is flagged for the clinician, and the same photo sent for a second unit is
flagged; each goes to the audit log."""

from __future__ import annotations

from typing import Any

import numpy as np
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.audit.tables import AuditEntry
from api.public_ids import TEST, encode
from api.readings.unit_check import dhash, distance
from api.selftests.queries import latest_proposal


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
    client: TestClient, world: Any, flow: Any, png: Any
) -> None:
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


def test_the_hash_survives_re_encoding_and_tells_photos_apart() -> None:
    import cv2

    rng = np.random.default_rng(3)
    image = cv2.GaussianBlur(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8), (31, 31), 0)
    ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 60])
    assert ok
    again = cv2.resize(cv2.imdecode(jpeg, cv2.IMREAD_COLOR), (320, 240))
    first, second = dhash(image), dhash(again)
    assert first is not None
    assert second is not None
    assert distance(first, second) <= 6
    other = cv2.GaussianBlur(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8), (31, 31), 0)
    third = dhash(other)
    assert third is not None
    assert distance(first, third) > 6


def test_the_hash_from_an_eighth_size_decode_matches_the_full_photo(ctx: Any) -> None:
    """The worker hashes a reduced decode of the photo: the same bits as the full photo
    (hashes stored before still match), and photos are still told apart."""
    import cv2

    from api.readings.service import photo_dhash
    from api.readings.unit_check import SAME_PHOTO_BITS

    rng = np.random.default_rng(11)

    def phone_photo() -> np.ndarray:
        coarse = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
        return cv2.resize(coarse, (2048, 1536), interpolation=cv2.INTER_CUBIC)

    def jpeg(image: np.ndarray) -> bytes:
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
        assert ok
        return data.tobytes()

    image = phone_photo()
    reduced = photo_dhash(ctx, jpeg(image))
    full = dhash(cv2.imdecode(np.frombuffer(jpeg(image), np.uint8), cv2.IMREAD_COLOR))
    assert reduced is not None
    assert full is not None
    assert distance(reduced, full) <= 2
    assert photo_dhash(ctx, jpeg(image)) == reduced  # the same photo, the same hash
    smaller = photo_dhash(ctx, jpeg(cv2.resize(image, (1024, 768), interpolation=cv2.INTER_AREA)))
    assert smaller is not None
    assert distance(reduced, smaller) <= SAME_PHOTO_BITS
    other = photo_dhash(ctx, jpeg(phone_photo()))
    assert other is not None
    assert distance(reduced, other) > SAME_PHOTO_BITS
