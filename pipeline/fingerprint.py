"""``dhash``: a photo's 64-bit difference hash, to find the same photo sent twice.

Re-encoding, resizing or lightly cropping a photo changes few of its bits; distinct
photos of the same kit differ in far more. :func:`pipeline.read.read` hashes the photo
it decodes anyway, so nobody decodes it a second time for the hash.
"""

from __future__ import annotations

import cv2
import numpy as np

# A hash with almost no bits set (or almost all) comes from a featureless image: two
# such images are alike without being the same photo.
_FLAT_BITS = 4


def dhash(image: np.ndarray) -> str | None:
    """The 64-bit difference hash of an image (16 hex digits); ``None`` for a flat image.

    The image, in grey, shrunk to 9 x 8 by area averaging; each bit says whether a pixel
    is brighter than its right-hand neighbour.

    Parameters
    ----------
    image : numpy.ndarray
        BGR or grey ``uint8`` image, at any size (the averages barely depend on it).

    Returns
    -------
    str or None
        16 lower-case hex digits, the first row's bits first; ``None`` when at most four
        bits are set, or at most four are not.

    Examples
    --------
    >>> falling = np.arange(0, 225, 25, dtype=np.uint8)[::-1]
    >>> image = np.vstack([np.tile(falling, (4, 1)), np.tile(falling[::-1], (4, 1))])
    >>> dhash(image)  # the top half falls to the right (1 bits), the bottom half rises
    'ffffffff00000000'
    >>> dhash(np.full((40, 40), 128, np.uint8)) is None
    True
    """
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    small = cv2.resize(grey, (9, 8), interpolation=cv2.INTER_AREA).astype(np.int16)
    bits = (small[:, :-1] > small[:, 1:]).flatten()
    set_bits = int(bits.sum())
    if set_bits <= _FLAT_BITS or set_bits >= bits.size - _FLAT_BITS:
        return None
    return f"{int(''.join('1' if b else '0' for b in bits), 2):016x}"
