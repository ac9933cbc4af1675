"""Rectify the result window: template geometry plus a homography to a canonical strip.

The canonical window has the flow running left to right: column 0 is the
sample side, the last column the far (absorbent pad) side; rows run across
the flow. Every later step can then ignore the kit's ``flow``.
"""

from __future__ import annotations

import cv2
import numpy as np

from pipeline.kit import Kit


def window_to_template(kit: Kit, margin_mm: float = 0.0) -> np.ndarray:
    """Affine map from canonical window millimetres to template pixels.

    Parameters
    ----------
    kit : Kit
    margin_mm : float
        Widen the window by this much on every side (negative shrinks it).

    Returns
    -------
    ndarray
        3x3 matrix taking ``(u, v, 1)``, with ``u`` along the flow from the
        sample side and ``v`` across it (both in mm, measured from the
        widened window's corner), to template pixel coordinates.

    Examples
    --------
    >>> from pipeline.kit import load_kit
    >>> kit = load_kit("datasets/kits/demo/kit.json")   # flow "down"
    >>> m = window_to_template(kit)
    >>> (m @ [0.0, 0.0, 1.0])[:2]   # sample-side corner is the window's top
    array([145., 195.])
    """
    w = kit.window
    s = kit.px_per_mm
    d = margin_mm * s
    x0, y0, x1, y1 = w.x - d, w.y - d, w.x + w.w + d, w.y + w.h + d
    # Columns: template (x, y) per unit u, per unit v, and the origin.
    cols: tuple[tuple[float, float], tuple[float, float], tuple[float, float]]
    if kit.flow == "down":
        cols = ((0, s), (-s, 0), (x1, y0))
    elif kit.flow == "up":
        cols = ((0, -s), (s, 0), (x0, y1))
    elif kit.flow == "right":
        cols = ((s, 0), (0, s), (x0, y0))
    else:  # left
        cols = ((-s, 0), (0, -s), (x1, y1))
    (ux, uy), (vx, vy), (ox, oy) = cols
    return np.array([[ux, vx, ox], [uy, vy, oy], [0.0, 0.0, 1.0]])


def window_corners(kit: Kit, homography: np.ndarray, margin_mm: float = 0.0) -> np.ndarray:
    """The window's four corners in photo pixels (sample side first), shape (4, 2).

    Examples
    --------
    >>> from pipeline.kit import load_kit
    >>> kit = load_kit("datasets/kits/demo/kit.json")
    >>> window_corners(kit, np.eye(3)).round(1).tolist()[0]
    [145.0, 195.0]
    """
    length, width = _window_mm(kit, margin_mm)
    uv = np.array([[0, 0, 1], [0, width, 1], [length, width, 1], [length, 0, 1]], float).T
    pts = homography @ window_to_template(kit, margin_mm) @ uv
    return (pts[:2] / pts[2]).T


def window_px_per_mm(kit: Kit, homography: np.ndarray) -> float:
    """Photo pixels per millimetre on the result window (geometric mean of both axes).

    Examples
    --------
    >>> from pipeline.kit import load_kit
    >>> kit = load_kit("datasets/kits/demo/kit.json")
    >>> round(window_px_per_mm(kit, np.diag([0.5, 0.5, 1.0])), 3)
    5.0
    """
    length, width = _window_mm(kit)
    c = window_corners(kit, homography)
    along = (np.linalg.norm(c[3] - c[0]) + np.linalg.norm(c[2] - c[1])) / (2 * length)
    across = (np.linalg.norm(c[1] - c[0]) + np.linalg.norm(c[2] - c[3])) / (2 * width)
    return float(np.sqrt(along * across))


def rectify_window(
    image: np.ndarray,
    kit: Kit,
    homography: np.ndarray,
    *,
    px_per_mm: float = 10.0,
    margin_mm: float = 0.0,
) -> np.ndarray:
    """Warp the result window of a photo into the canonical strip.

    Parameters
    ----------
    image : ndarray
        The photo (any channel count), in the pixel frame ``homography`` maps to.
    kit : Kit
    homography : ndarray
        3x3 map from template pixels to photo pixels.
    px_per_mm : float
        Resolution of the output strip.
    margin_mm : float
        Widen (or, negative, shrink) the window on every side.

    Returns
    -------
    ndarray
        The window, ``round(width_mm * px_per_mm)`` rows by
        ``round(length_mm * px_per_mm)`` columns, sample side at column 0.

    Examples
    --------
    >>> from pipeline.kit import load_kit
    >>> kit = load_kit("datasets/kits/demo/kit.json")
    >>> strip = rectify_window(kit.template[:, :, :3], kit, np.eye(3))
    >>> strip.shape
    (50, 191, 3)
    """
    length, width = _window_mm(kit, margin_mm)
    out_w = max(2, round(length * px_per_mm))
    out_h = max(2, round(width * px_per_mm))
    # Output pixel (i, j) samples the window at the millimetre point of its centre.
    pixels_to_mm = np.diag([length / out_w, width / out_h, 1.0]) @ np.array(
        [[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1.0]]
    )
    m = homography @ window_to_template(kit, margin_mm) @ pixels_to_mm
    return cv2.warpPerspective(
        image,
        m,
        (out_w, out_h),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )


def _window_mm(kit: Kit, margin_mm: float = 0.0) -> tuple[float, float]:
    return kit.window_length_mm + 2 * margin_mm, kit.window_width_mm + 2 * margin_mm
