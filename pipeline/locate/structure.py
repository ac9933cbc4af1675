"""Image structure the locator compares: colour-blind edge strength, and its helpers."""

from __future__ import annotations

import math

import cv2
import numpy as np

from pipeline.color import channel_max


def blur_sigma(ppm: float) -> float:
    # About 0.3 mm of blur: robust to JPEG noise and texture, still sharp on the rim.
    return max(0.7, 0.3 * ppm)


def disk(radius: float) -> np.ndarray:
    r = max(1, round(radius))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def edge_strength(bgr: np.ndarray) -> np.ndarray:
    """Colour-blind edge strength: the strongest channel gradient, square-root compressed."""
    # Sobel reads uint8 as it reads its float32 copy (small integers, exact in float32).
    img = bgr if bgr.dtype == np.uint8 else bgr.astype(np.float32, copy=False)
    gx: np.ndarray = cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=3)
    gy: np.ndarray = cv2.Sobel(img, cv2.CV_32F, 0, 1, ksize=3)
    # numpy, not cv2.magnitude/cv2.sqrt: OpenCV's vector code rounds differently with the
    # array's memory alignment, so the same template gave other patches run to run.
    gx *= gx
    gy *= gy
    gx += gy
    # The strongest channel before the root: sqrt is monotone, so the same numbers.
    return np.sqrt(np.sqrt(channel_max(gx)))


def zncc(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    sel = mask if mask.dtype == bool else mask > 0
    if np.count_nonzero(sel) < 10:
        return 0.0
    x = a[sel].astype(np.float64)
    y = b[sel].astype(np.float64)
    x -= x.mean()
    y -= y.mean()
    den = math.sqrt(float((x * x).sum() * (y * y).sum()))
    return float((x * y).sum() / den) if den > 0 else 0.0


def _vertex(a: float, b: float, c: float) -> float:
    den = a - 2 * b + c
    if not den < 0:  # also false for NaN
        return 0.0
    return min(0.5, max(-0.5, 0.5 * (a - c) / den))


def subpixel_peak(res: np.ndarray, x: int, y: int) -> tuple[float, float]:
    """Parabola vertex through the correlation peak and its neighbours.

    Examples
    --------
    >>> res = np.array([[0, 0.4, 0], [0.6, 1.0, 0.2], [0, 0.6, 0]], np.float32)
    >>> [round(d, 3) for d in subpixel_peak(res, 1, 1)]
    [-0.167, 0.1]
    """
    h, w = res.shape
    # The neighbours as Python floats at once (tolist), not numpy scalars one by one.
    dx = _vertex(*res[y, x - 1 : x + 2].tolist()) if 0 < x < w - 1 else 0.0
    dy = _vertex(*res[y - 1 : y + 2, x].tolist()) if 0 < y < h - 1 else 0.0
    return dx, dy


def without_thin_lines(bgr: np.ndarray, width_px: int) -> np.ndarray:
    """The image with dark and light lines thinner than ``width_px`` wiped out.

    A closing (dark lines) then an opening (light ones) with a disk that wide: the
    ruling of paper, a table's grain and print finer than that go, broader areas keep
    their colour and outline.

    Examples
    --------
    >>> paper = np.full((40, 40, 3), 200, np.uint8)
    >>> paper[::8] = 90  # ruled lines, 1 px
    >>> paper[10:30, 15:25] = 40  # a dark area 10 px across
    >>> plain = without_thin_lines(paper, 5)
    >>> int(plain[8, 5, 0]), int(plain[20, 20, 0])
    (200, 40)
    """
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (width_px, width_px))
    return cv2.morphologyEx(cv2.morphologyEx(bgr, cv2.MORPH_CLOSE, k), cv2.MORPH_OPEN, k)
