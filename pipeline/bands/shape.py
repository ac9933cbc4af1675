"""The shape of a line along a profile: the matched filter that measures a line's
amplitude over the membrane beside it, and the fit of a line's width and blur.

Both are built from the same model of a line: a box of the line's width blurred by a
Gaussian, ``0.5 * (erf((x + w/2) / (sqrt(2) s)) - erf((x - w/2) / (sqrt(2) s)))``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import ndimage, special


@lru_cache(maxsize=64)
def line_filter(width_px: float, blur_px: float | None = None) -> np.ndarray:
    """Local-contrast matched filter: the amplitude of a line over the membrane beside it.

    Correlating an OD profile with this filter gives, at each column, the
    least-squares amplitude of a line of the expected shape centred there on
    top of a straight local background (level and slope) fitted over a
    flank of half a line width each side. A line of OD ``a`` on any smooth
    background gives ``a``; a gradient, a step far away or a mark much
    wider than a line gives about nothing. That is the kit contract's
    definition: the line against the membrane *beside it*. Cached per width and blur:
    a kit's reads ask for the same few.

    Examples
    --------
    >>> x = np.arange(100.0)
    >>> line = 0.5 * (special.erf((x - 46) / 1.7) - special.erf((x - 54) / 1.7))  # 8 px wide
    >>> od = 0.002 * x + 0.3 * line   # on a ramp
    >>> response = matched(od, np.ones(100, bool), line_filter(8.0, 1.2))
    >>> int(np.argmax(response)), round(float(response.max()), 2)
    (50, 0.3)
    """
    sigma = max(0.5, 0.15 * width_px) if blur_px is None else max(0.35, blur_px)
    half = int(np.ceil(width_px / 2 + 2.0 * sigma + 0.5 * width_px))
    x = np.arange(-half, half + 1, dtype=np.float64)
    shape = 0.5 * (
        special.erf((x + width_px / 2) / (np.sqrt(2) * sigma))
        - special.erf((x - width_px / 2) / (np.sqrt(2) * sigma))
    )
    design = np.stack([shape, np.ones_like(x), x / half], axis=1)
    kernel = np.asarray(np.linalg.pinv(design)[0])
    kernel.setflags(write=False)  # cached: shared by every read at this width
    return kernel


def matched(od: np.ndarray, valid: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Correlate the OD profile (zero outside the interior) with a line filter
    (:func:`line_filter`)."""
    x = np.where(valid, od, 0.0)
    return np.asarray(ndimage.correlate1d(x, kernel, mode="constant", cval=0.0))


def fit_shape(od: np.ndarray, valid: np.ndarray, j: int, width_px: float) -> tuple[float, float]:
    """Width and blur of the line centred near column ``j``, by least squares on a grid.

    Blur is fitted at the kit's nominal width first; another width (0.6-1.6x)
    is taken only when it halves the residual, because width and blur trade
    off against each other once the blur nears the width.

    Examples
    --------
    >>> x = np.arange(80.0)
    >>> od = 0.2 * 0.5 * (special.erf((x - 36) / (np.sqrt(2) * 1.5))
    ...                   - special.erf((x - 44) / (np.sqrt(2) * 1.5)))   # 8 px, blur 1.5
    >>> width, blur = fit_shape(od, np.ones(80, bool), 40, 8.0)
    >>> round(width, 1), round(blur, 2)
    (8.0, 1.45)
    """
    half = int(np.ceil(1.6 * width_px / 2 + 1.5 * width_px + 2))
    lo, hi = max(0, j - half), min(od.size, j + half + 1)
    sel = valid[lo:hi]
    y = od[lo:hi][sel]
    x = np.arange(lo, hi)[sel] - j
    default = (width_px, max(0.5, 0.15 * width_px))
    if y.size < 5:
        return default
    yc = y - y.mean()
    syy = float(np.sum(yc**2))

    def best_for(widths: np.ndarray) -> tuple[float, float, float]:
        # With a free constant, the least-squares residual is Syy - Sky^2 / Skk.
        kc, skk, w_, s_ = _shape_candidates(x.astype(np.int64).tobytes(), widths.tobytes())
        resid = syy - (kc @ yc) ** 2 / skk
        i = int(np.argmin(resid))
        return float(resid[i]), float(w_[i]), float(s_[i])

    nominal = best_for(np.array([width_px]))
    free = best_for(width_px * np.linspace(0.6, 1.6, 11))
    chosen = free if free[0] < 0.5 * nominal[0] else nominal
    return chosen[1], chosen[2]


@lru_cache(maxsize=16)
def _shape_candidates(
    x_bytes: bytes, widths_bytes: bytes
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every (width, blur, sub-pixel offset) line shape :func:`fit_shape` tries at columns
    ``x`` (int64 bytes, relative to the line), centred, with its sum of squares, and each
    candidate's width and blur; cached, as a kit's reads fit the same columns and widths.
    """
    x = np.frombuffer(x_bytes, dtype=np.int64)
    widths = np.frombuffer(widths_bytes, dtype=np.float64)
    # Built as arrays, width by width (a list of thousands of tuples cost more than the fit).
    offsets = np.linspace(-1.0, 1.0, 9)
    sigmas = [np.arange(0.4, max(0.5 * w, 0.6), 0.15) for w in widths]
    w_ = np.concatenate(
        [np.full(s.size * offsets.size, w) for w, s in zip(widths, sigmas, strict=True)]
    )
    s_ = np.concatenate([np.repeat(s, offsets.size) for s in sigmas])
    o_ = np.tile(offsets, s_.size // offsets.size)
    w2, s2, o2 = w_[:, None], s_[:, None], o_[:, None]
    ea = (x[None, :] - o2 + w2 / 2) / (np.sqrt(2.0) * s2)
    eb = (x[None, :] - o2 - w2 / 2) / (np.sqrt(2.0) * s2)
    k = 0.5 * (special.erf(ea) - special.erf(eb))
    kc = k - k.mean(axis=1, keepdims=True)
    skk = np.maximum(np.sum(kc**2, axis=1), 1e-12)
    for array in (kc, skk, w_, s_):
        array.setflags(write=False)
    return kc, skk, w_, s_
