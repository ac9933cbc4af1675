"""Normalised cross-correlation over a mask, at every shift, from plain correlations.

OpenCV's masked ``TM_CCOEFF_NORMED`` costs several times its unmasked mode on the small
images the locator compares (patches of the print, the window's rim band). With a 0/1
mask the same numbers follow from three plain correlations: the pattern centred on its
mask against the image, and the mask against the image and its square (the image's
mean and spread under the mask at each shift).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

FLAT_STD = 0.01
"""Spread under the mask (per pixel, in the image's units) at or below which an area is
flat: structure (blurred edge strength) of any real surface varies by tenths; float32
sums of a constant area leave about 1e-6."""


@dataclass(frozen=True)
class MaskedPattern:
    """A pattern ready for :func:`masked_zncc` over its 0/1 mask: the pattern centred on
    the mask (zero outside it), the mask, its pixel count and the pattern's spread on it."""

    centred: np.ndarray
    mask: np.ndarray
    n: float
    spread: float


def masked_pattern(pattern: np.ndarray, mask: np.ndarray) -> MaskedPattern | None:
    """``pattern`` (float32) ready to correlate over ``mask`` (float32 0/1, same shape);
    None where the mask has fewer than 10 pixels.

    Examples
    --------
    >>> ones = np.ones((3, 4), np.float32)
    >>> p = masked_pattern(np.arange(12, dtype=np.float32).reshape(3, 4), ones)
    >>> p.n, float(p.centred.sum())
    (12.0, 0.0)
    """
    n = float(mask.sum())
    if n < 10:
        return None
    centred = (pattern - float((pattern * mask).sum()) / n) * mask
    return MaskedPattern(centred, mask, n, float(np.sqrt((centred * centred).sum())))


class Area:
    """A search area ready for :func:`masked_zncc`: centred on its mean, and squared.

    Centred first: the variance under the mask is a difference of large sums otherwise.
    """

    def __init__(self, area: np.ndarray) -> None:
        self.centred = area - float(area.mean())
        self.squared = self.centred * self.centred

    def cut(self, top: int, left: int, rows: int, columns: int) -> Area:
        """The part of this area from (``top``, ``left``), ``rows`` x ``columns``, centred
        as this one (not on its own mean): the same numbers where a pattern's mask covers
        only part of it."""
        part = Area.__new__(Area)
        part.centred = self.centred[top : top + rows, left : left + columns]
        part.squared = self.squared[top : top + rows, left : left + columns]
        return part


def masked_zncc(
    area: Area,
    pattern: MaskedPattern | None,
    shape: tuple[int, ...],
    *,
    flat_value: float | None = None,
) -> np.ndarray:
    """Normalised cross-correlation over the pattern's mask only, at every shift of a
    pattern of ``shape`` in ``area`` (as ``cv2.TM_CCOEFF_NORMED`` with a 0/1 mask), in
    -1..1. ``pattern`` None (too small a mask): -1 everywhere.

    Where the area is flat under the mask (a spread under :data:`FLAT_STD` a pixel: black
    beyond the picture, unseen pixels filled with one value) there is nothing to
    normalise by: ``flat_value`` there when given (OpenCV divides by zero); otherwise the
    spread's floor of 1e-6 leaves about 0, no evidence either way (the window search's
    unseen rim sides: -1 there turned units of the right product into another product).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> pattern = rng.random((20, 30)).astype(np.float32)
    >>> mask = np.ones_like(pattern)
    >>> mask[5:15, 5:25] = 0
    >>> area = rng.random((26, 36)).astype(np.float32)
    >>> area[2:22, 4:34] = 3 * pattern + 1
    >>> res = masked_zncc(Area(area), masked_pattern(pattern, mask), pattern.shape)
    >>> [int(i) for i in np.unravel_index(res.argmax(), res.shape)], round(float(res.max()), 3)
    ([2, 4], 1.0)
    """
    if pattern is None:
        return no_agreement(area.centred, shape)
    num = cv2.matchTemplate(area.centred, pattern.centred, cv2.TM_CCORR)
    s1 = cv2.matchTemplate(area.centred, pattern.mask, cv2.TM_CCORR)
    s2 = cv2.matchTemplate(area.squared, pattern.mask, cv2.TM_CCORR)
    var = s2 - s1 * s1 / pattern.n
    res = num / (np.sqrt(np.maximum(var, 1e-6)) * max(pattern.spread, 1e-6))
    if flat_value is not None:
        res[var <= FLAT_STD**2 * pattern.n] = flat_value
    return np.clip(res, -1.0, 1.0).astype(np.float32)


def no_agreement(area: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """-1 at every shift of a pattern of ``shape`` in ``area``: nothing to judge by."""
    out = (area.shape[0] - shape[0] + 1, area.shape[1] - shape[1] + 1)
    return np.full(out, -1.0, np.float32)
