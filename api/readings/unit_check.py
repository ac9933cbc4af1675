"""Does the photo show the unit the patient claimed? Its decoded code, and its likeness
to photos sent for other units.

A photo whose code is another unit's is refused (the patient is asked for a photo of
the test they scanned); a photo with no readable code is read, flagged so that the
clinician checks the unit by eye; the same photo sent for a second unit (a 64-bit
difference hash, :func:`pipeline.fingerprint.dhash`, within a few bits) is flagged with
the other test. Each goes to the audit log.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Literal

from sqlalchemy.orm import Session

from api.db.base import utcnow
from api.readings import queries
from api.unit_codes import UnitCodeError, code_from_scan

if TYPE_CHECKING:
    from pipeline.kit import Kit

UnitCheck = Literal["match", "no_code", "other_unit"]

# Hashes this many bits apart or fewer are the same photo (re-encoded, resized, or
# lightly cropped); distinct photos of the same kit differ in far more bits.
SAME_PHOTO_BITS = 6
# A photo reused for another unit is looked for among this many days of uploads.
SAME_PHOTO_DAYS = 30


def distance(a: str, b: str) -> int:
    """Bits that differ between two hashes.

    >>> distance("00000000000000ff", "000000000000000f")
    4
    """
    return (int(a, 16) ^ int(b, 16)).bit_count()


def same_photo_test(session: Session, test_id: int, photo_hash: str | None) -> int | None:
    """Another test recently sent the same photo (the nearest one), if any."""
    return same_photo_tests(session, [(test_id, photo_hash)])[0]


def same_photo_tests(
    session: Session, photos: Sequence[tuple[int, str | None]]
) -> list[int | None]:
    """``same_photo_test`` for each (test id, photo hash) of ``photos``, looked up in one
    statement."""
    since = utcnow() - timedelta(days=SAME_PHOTO_DAYS)
    hashed = [(photo_hash, test_id) for test_id, photo_hash in photos if photo_hash is not None]
    candidates = iter(queries.photo_hashes_near_each(session, hashed, SAME_PHOTO_BITS, since))
    found: list[int | None] = []
    for _test_id, photo_hash in photos:
        nearest: tuple[int, int] | None = None
        if photo_hash is not None:
            for other_test, other_hash in next(candidates):
                bits = distance(photo_hash, other_hash)
                if bits <= SAME_PHOTO_BITS and (nearest is None or bits < nearest[0]):
                    nearest = (bits, other_test)
        found.append(nearest[1] if nearest else None)
    return found


def code_check(
    kit: Kit, decoded: str | None, unit_code: str
) -> tuple[UnitCheck | None, str | None]:
    """Whether the code read from the photo is the claimed unit's; (check, canonical code)."""
    if kit.description.format != "cassette":
        return None, None  # a bare strip: its code is on the pouch, not in the photo
    if not decoded:
        return "no_code", None
    try:
        code = code_from_scan(decoded)
    except UnitCodeError:
        return "no_code", None  # some other symbol in the picture, not a unit code
    return ("match" if code == unit_code else "other_unit"), code


def other_unit_message(decoded: str, unit_code: str) -> str:
    """What the patient reads when the photo shows another unit's code."""
    return (
        f"This photo shows the test with code {decoded}, not the one you scanned "
        f"({unit_code}). Take the photo of the test you scanned."
    )
