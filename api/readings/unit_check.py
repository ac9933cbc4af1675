"""Does the photo show the unit the patient claimed? Its decoded code, and its likeness
to photos sent for other units.

A photo whose code is another unit's is refused (the patient is asked for a photo of
the test they scanned); a photo with no readable code is read, flagged so that the
clinician checks the unit by eye; the same photo sent for a second unit (a 64-bit
difference hash within a few bits) is flagged with the other test. Each goes to the
audit log.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Literal

import numpy as np
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
# A hash with almost no bits set (or almost all) comes from a featureless image: two
# such images are alike without being the same photo.
_FLAT_BITS = 4


def dhash(image: np.ndarray) -> str | None:
    """The 64-bit difference hash of an image (16 hex digits); ``None`` for a flat image.

    The image, in grey, shrunk to 9 x 8; each bit says whether a pixel is brighter than
    its right-hand neighbour. Re-encoding or resizing a photo changes few bits.

    >>> falling = np.arange(0, 225, 25, dtype=np.uint8)[::-1]
    >>> image = np.vstack([np.tile(falling, (4, 1)), np.tile(falling[::-1], (4, 1))])
    >>> dhash(image)  # the top half falls to the right (1 bits), the bottom half rises
    'ffffffff00000000'
    >>> dhash(np.full((40, 40), 128, np.uint8)) is None
    True
    """
    import cv2

    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    small = cv2.resize(grey, (9, 8), interpolation=cv2.INTER_AREA).astype(np.int16)
    bits = (small[:, :-1] > small[:, 1:]).flatten()
    set_bits = int(bits.sum())
    if set_bits <= _FLAT_BITS or set_bits >= bits.size - _FLAT_BITS:
        return None
    return f"{int(''.join('1' if b else '0' for b in bits), 2):016x}"


def distance(a: str, b: str) -> int:
    """Bits that differ between two hashes.

    >>> distance("00000000000000ff", "000000000000000f")
    4
    """
    return (int(a, 16) ^ int(b, 16)).bit_count()


def same_photo_test(session: Session, test_id: int, photo_hash: str | None) -> int | None:
    """Another test recently sent the same photo (the nearest one), if any."""
    if photo_hash is None:
        return None
    since = utcnow() - timedelta(days=SAME_PHOTO_DAYS)
    nearest: tuple[int, int] | None = None
    candidates = queries.photo_hashes_near(session, photo_hash, SAME_PHOTO_BITS, since, test_id)
    for other_test, other_hash in candidates:
        bits = distance(photo_hash, other_hash)
        if bits <= SAME_PHOTO_BITS and (nearest is None or bits < nearest[0]):
            nearest = (bits, other_test)
    return nearest[1] if nearest else None


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
