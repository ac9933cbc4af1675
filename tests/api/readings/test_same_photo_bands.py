"""The banded look-up of the same photo gives the answers of reading every hash: the same
hashes within 6 bits, the same nearest test, hashes 6 bits apart found however their
differing bits fall across the bands, 7 bits apart never."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from api.db.base import utcnow
from api.readings import queries
from api.readings.photo_bands import BAND_WIDTHS
from api.readings.unit_check import (
    SAME_PHOTO_BITS,
    SAME_PHOTO_DAYS,
    distance,
    same_photo_test,
    same_photo_tests,
)
from api.selftests.tables import Upload

_STARTS = [sum(BAND_WIDTHS[:i]) for i in range(len(BAND_WIDTHS))]  # from the high bit


def flipped(photo_hash: str, positions: list[int]) -> str:
    """The hash with the bits at ``positions`` (0 = the highest bit) flipped."""
    mask = sum(1 << (63 - p) for p in positions)
    return f"{int(photo_hash, 16) ^ mask:016x}"


def split_flips(rng: random.Random, per_band: tuple[int, ...]) -> list[int]:
    """Bit positions flipping exactly ``per_band[i]`` bits in band i."""
    return [
        p
        for start, width, n in zip(_STARTS, BAND_WIDTHS, per_band, strict=True)
        for p in rng.sample(range(start, start + width), n)
    ]


def variants(rng: random.Random, base: str) -> list[str]:
    """Hashes 1 to 8 bits from ``base`` with the bits anywhere, and 6 and 7 bits from it
    with the bits spread over the bands as evenly as they can be (the pigeonhole's edge)."""
    anywhere = [flipped(base, rng.sample(range(64), d)) for d in range(1, 9)]
    spreads = [(2, 2, 2), (3, 3, 0), (0, 3, 3), (6, 0, 0), (3, 2, 2), (2, 2, 3), (3, 3, 1)]
    return anywhere + [flipped(base, split_flips(rng, s)) for s in spreads]


def test_the_banded_look_up_finds_what_the_full_scan_finds(world: Any, flow: Any) -> None:
    rng = random.Random(13)
    mine, *others = [flow.claim(code_index=i) for i in range(6)]
    now = utcnow()
    bases = [f"{rng.getrandbits(64):016x}" for _ in range(30)]
    stored: list[tuple[int, str, bool]] = []  # (test, hash, within the 30 days)
    uploads = []
    for photo_hash in [h for base in bases for h in [base, *variants(rng, base)]]:
        test = rng.choice([mine, *others, *others])  # some are the asking test's own
        recent = rng.random() > 0.15
        days_ago = rng.uniform(0, SAME_PHOTO_DAYS - 1) if recent else SAME_PHOTO_DAYS + 1
        at = now - timedelta(days=days_ago)
        upload = Upload(
            self_test_id=test.id,
            photo_sha256=f"{rng.getrandbits(256):064x}",
            content_type="image/jpeg",
            size_bytes=1000,
            taken_at=at,
            uploaded_at=at,
            minutes_after_claim=20.0,
        )
        uploads.append((upload, photo_hash))
        stored.append((test.id, photo_hash, recent))
    world.session.add_all([u for u, _ in uploads])
    world.session.flush()
    for upload, photo_hash in uploads:
        queries.set_photo_dhashes(world.session, {upload.id: photo_hash})
    assert len(stored) > 400

    asked = [*bases, *(variants(rng, b)[0] for b in bases[:10])]
    asked += [f"{rng.getrandbits(64):016x}" for _ in range(20)]  # like nothing stored
    since = now - timedelta(days=SAME_PHOTO_DAYS)
    apart = dict.fromkeys(range(65), 0)  # pairs compared, by distance
    for photo_hash in asked:
        scan = [(t, h) for t, h, recent in stored if recent and t != mine.id]
        expected = {(t, h) for t, h in scan if distance(photo_hash, h) <= SAME_PHOTO_BITS}
        candidates = queries.photo_hashes_near(
            world.session, photo_hash, SAME_PHOTO_BITS, since, mine.id
        )
        got = {(t, h) for t, h in candidates if distance(photo_hash, h) <= SAME_PHOTO_BITS}
        assert got == expected, photo_hash
        assert len(candidates) < len(scan) // 4  # a look-up, not a scan
        nearest: tuple[int, int] | None = None  # the old loop, over every hash in upload order
        for t, h in scan:
            bits = distance(photo_hash, h)
            if bits <= SAME_PHOTO_BITS and (nearest is None or bits < nearest[0]):
                nearest = (bits, t)
        expected_test = nearest[1] if nearest else None
        assert same_photo_test(world.session, mine.id, photo_hash) == expected_test
        for _, h in scan:
            apart[distance(photo_hash, h)] += 1
    # All asked at once (as the photos a task writes back together, each for its test), a
    # photo without a hash among them: one statement, the same answers.
    photos = [(rng.choice([mine, *others]).id, h) for h in asked]
    one_by_one = [same_photo_test(world.session, t, h) for t, h in photos]
    assert same_photo_tests(world.session, [*photos, (mine.id, None)]) == [*one_by_one, None]
    assert any(one_by_one)
    assert None in one_by_one
    # The edges were there: pairs exactly 6 bits apart (found) and 7 (not found).
    assert apart[SAME_PHOTO_BITS] >= 20
    assert apart[SAME_PHOTO_BITS + 1] >= 20


def test_a_hash_cleared_leaves_no_bands(world: Any, flow: Any) -> None:
    test = flow.claim(code_index=0)
    upload = flow.upload(test)
    queries.set_photo_dhashes(world.session, {upload.id: "0123456789abcdef"})
    queries.set_photo_dhashes(world.session, {upload.id: None})
    world.session.expire_all()
    row = world.session.get(Upload, upload.id)
    assert (row.photo_dhash, row.photo_band0, row.photo_band1, row.photo_band2) == (None,) * 4
