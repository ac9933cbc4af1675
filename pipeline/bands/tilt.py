"""The tilt of a window's marks: how far askew they run, and the shear that straightens them.

A window found at a slightly wrong turn shows its lines askew; :func:`mark_tilt` measures the
angle from the row bands' responses and :func:`shear_window` undoes it before the profile is
read again (:func:`pipeline.bands.profile.optical_density_profile`).
"""

from __future__ import annotations

import cv2
import numpy as np

# A mark tells the window's tilt from this SNR on (in both outer row bands), and
# is looked for this far along the flow from one band to the other.
TILT_SNR = 4.0
TILT_REACH_MM = 3.0


def shear_window(window: np.ndarray, degrees: float, aspect: float = 1.0) -> np.ndarray:
    """Shear a window so that marks running ``degrees`` from straight across turn by that much.

    Rows keep their place; each row slides along the flow in proportion to its
    distance from the middle row. ``aspect`` is columns per millimetre over
    rows per millimetre. Edges are extended.

    Examples
    --------
    >>> w = np.zeros((20, 40), np.uint8)
    >>> w[:, 20] = 255
    >>> int(np.argmax(shear_window(w, 45.0)[0])), int(np.argmax(shear_window(w, 45.0)[19]))
    (10, 29)
    """
    w = np.asarray(window)
    t = np.tan(np.radians(degrees)) * aspect
    cy = (w.shape[0] - 1) / 2
    m = np.array([[1.0, -t, t * cy], [0.0, 1.0, 0.0]])
    return np.asarray(
        cv2.warpAffine(
            w,
            m,
            (w.shape[1], w.shape[0]),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE,
        )
    )


def mark_tilt(
    band_response: np.ndarray,
    valid: np.ndarray,
    band_noise: float,
    px_per_mm: float,
    height_mm: float,
    min_snr: float = TILT_SNR,
) -> float:
    """Angle of the clear marks from straight across the window, in degrees.

    The outermost row bands across the window's width are compared: a line
    running straight across sits in the same column in both, a mark running
    askew (a window read at the wrong turn) sits further along in one. The
    lag that best aligns the two bands' matched responses (positive parts,
    sub-column by a parabola through the peak), over the distance between the
    bands' centres, gives the angle. 0 when either band has no mark of
    ``min_snr`` times its noise: noise has no direction.

    Parameters
    ----------
    band_response : ndarray
        ``(n_bands, n_columns)`` matched responses of the row bands, top to bottom.
    valid : ndarray
        Columns of clean membrane.
    band_noise : float
        Noise of one band's response.
    px_per_mm : float
        Columns per millimetre.
    height_mm : float
        Height of the rows the bands split.

    Examples
    --------
    >>> bands = np.zeros((4, 100))
    >>> bands[0, 40:43] = bands[3, 44:47] = 0.2        # a mark 4 px further in the last band
    >>> round(mark_tilt(bands, np.ones(100, bool), 0.004, 10.0, 4.0), 1)
    7.6
    """
    n_bands = band_response.shape[0]
    if n_bands < 2:
        return 0.0
    a = np.where(valid, np.clip(band_response[0], 0.0, None), 0.0)
    b = np.where(valid, np.clip(band_response[-1], 0.0, None), 0.0)
    if min(a.max(), b.max()) < min_snr * band_noise:
        return 0.0
    reach = max(2, round(TILT_REACH_MM * px_per_mm))
    lags = range(-reach, reach + 1)
    n = a.size
    corr = np.array(
        [float(np.dot(a[max(0, -k) : n - max(0, k)], b[max(0, k) : n - max(0, -k)])) for k in lags]
    )
    i = int(np.argmax(corr))
    lag = float(lags[i])
    if 0 < i < len(lags) - 1:
        den = corr[i - 1] - 2 * corr[i] + corr[i + 1]
        if den < 0:
            lag += 0.5 * (corr[i - 1] - corr[i + 1]) / den
    apart_mm = height_mm * (n_bands - 1) / n_bands
    return float(np.degrees(np.arctan2(lag / px_per_mm, apart_mm)))
