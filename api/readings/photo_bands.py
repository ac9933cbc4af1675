"""Multi-index hashing: finding the photo hashes within a few bits of one without reading
every hash.

The 64-bit hash is cut into bands of 21, 21 and 22 bits, each stored in an indexed column.
Two hashes ``r`` bits apart differ in some band by at most ``r // 3`` bits (were every
band ``r // 3 + 1`` bits apart, the whole would be at least ``3 * (r // 3 + 1) > r``), so
every hash within ``r`` bits has, in some band, one of the values within ``r // 3`` bits
of that band's value: for ``r = 6``, 232 + 232 + 254 exact values, looked up by equality.
Three bands rather than four of 16 bits (radius 1, 17 values each): 718 look-ups instead
of 68, but each value matches 2^-21 instead of 2^-16 of the uploads, so three times fewer
candidates come back to be checked (at 3 x 10^7 hashes of random bits: ~10,000 against
~31,000).
"""

from __future__ import annotations

from functools import cache
from itertools import combinations

# Widths from the hash's high bits down; they add up to 64.
BAND_WIDTHS = (21, 21, 22)
_SHIFTS = tuple(sum(BAND_WIDTHS[i + 1 :]) for i in range(len(BAND_WIDTHS)))


def bands(photo_hash: str) -> tuple[int, ...]:
    """The hash's bands, high bits first.

    >>> bands("ffffffffffffffff") == (2**21 - 1, 2**21 - 1, 2**22 - 1)
    True
    >>> bands("0000000000000001")
    (0, 0, 1)
    """
    value = int(photo_hash, 16)
    return tuple(
        (value >> shift) & ((1 << width) - 1)
        for shift, width in zip(_SHIFTS, BAND_WIDTHS, strict=True)
    )


def band_radius(bits: int) -> int:
    """How far each band is searched for hashes within ``bits``: some band of such a hash
    is at most this far (the pigeonhole principle).

    >>> band_radius(6), band_radius(8)
    (2, 2)
    """
    return bits // len(BAND_WIDTHS)


def near_bands(photo_hash: str, bits: int) -> list[list[int]]:
    """For each band, every value within ``band_radius(bits)`` bits of the hash's value
    there: a hash within ``bits`` of this one has one of them in at least one band.

    >>> [len(values) for values in near_bands("0123456789abcdef", 6)]
    [232, 232, 254]
    >>> near_bands("0000000000000001", 3)[2][:3]
    [1, 0, 3]
    """
    radius = band_radius(bits)
    return [
        [value ^ mask for mask in flips(width, radius)]
        for value, width in zip(bands(photo_hash), BAND_WIDTHS, strict=True)
    ]


@cache
def flips(width: int, radius: int) -> tuple[int, ...]:
    """The masks that flip at most ``radius`` of ``width`` bits, no flip first, then one,
    two...: made once, as each photo's look-up needs the same ones.

    >>> flips(3, 1)
    (0, 1, 2, 4)
    """
    return tuple(
        sum(1 << p for p in positions)
        for flipped in range(radius + 1)
        for positions in combinations(range(width), flipped)
    )
