"""Optical-density profile of a rectified window: the lines' channel, background, noise.

Optical density follows ``rdt-reading/1``: ``-log10(R_line / R_membrane)``
in the channel the lines absorb most, with ``R`` the pixel value *as encoded*
(sRGB): that is how the kit contract's reference photos define their truth
(their ODs match encoded ratios within a few per cent, linear-light ratios
are 2.2 times larger) and how ``datasets.render`` defines its own. Lighting
and exposure are multiplicative and sRGB is close to a power law over
membrane tones, so the encoded ratio is as stable as the linear one. Pass
``domain="linear"`` to undo the sRGB curve first (physical reflectance).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from pipeline.bands.baseline import arpls
from pipeline.bands.placement import ANCHOR_SNR, MAX_TILT_DEG, SEARCH_MM
from pipeline.bands.shape import fit_shape, line_filter, matched
from pipeline.bands.tilt import mark_tilt, shear_window
from pipeline.color import line_color_channel, srgb_to_linear
from pipeline.kit import Kit

Domain = Literal["encoded", "linear"]

BGR_NAMES = ("blue", "green", "red")
# Baseline smoothness, in line widths (arPLS lambda = (this * width)^4).
BASELINE_STIFFNESS = 0.8
# Floor on the matched-filter noise: JPEG quantisation and renderer noise
# floors make estimates below this meaningless.
NOISE_FLOOR = 1e-3
# Marks this close to straight across are read as they are: units tilt their lines
# up to 2 degrees, which blurs a line's profile by under 0.2 mm across a 5-mm window.
STRAIGHT_DEG = 2.0


@dataclass(frozen=True)
class Profile:
    """Optical density along the flow of one rectified window.

    Attributes
    ----------
    od : ndarray
        Background-corrected OD per window column (float64), in ``channel``.
    baseline : ndarray
        Membrane reflectance (0..1) that was removed, per column.
    channel : int
        BGR index of the channel the lines absorb most.
    noise : float
        Robust standard deviation of ``response`` on the membrane away from
        lines (OD units): the unit of every SNR.
    px_per_mm : float
        Columns per millimetre along the flow.
    margin_mm : float
        Margin the window was rectified with (lines' ``at`` is measured from
        the window proper, not from column 0).
    interior : tuple of int
        ``[start, stop)`` columns of clean membrane (rim and its shadow excluded).
    response : ndarray
        Matched-filter OD amplitude per column: a line of OD ``a`` centred on a
        column gives ``a`` there.
    line_width_px, blur_px : float
        Line shape used by the matched filter: a box this wide (columns) seen
        through a Gaussian blur of this sigma, fitted on the strongest line
        when one stands out, else the kit's nominal width.
    band_od : ndarray
        ``(n_bands, n_columns)`` OD of row bands across the width.
    band_response : ndarray
        ``(n_bands, n_columns)`` matched-filter response of each row band.
    band_noise : ndarray
        ``(n_bands,)`` noise of each band's response.
    channel_response : ndarray
        ``(3, n_columns)`` matched-filter response in each of B, G, R.
    noise_along, noise_across : float
        The two noise estimates ``noise`` is made from: the spread of the
        response along the flow between lines, and half the difference of the
        two halves of the width (lines cancel there).
    tilt_deg : float
        Angle of the window's clear marks against the across-flow direction
        (0 when no mark is clear enough to tell): lines run straight across a
        window placed on the unit's window (see :func:`mark_tilt`).
    """

    od: np.ndarray
    baseline: np.ndarray
    channel: int
    noise: float
    px_per_mm: float
    margin_mm: float
    interior: tuple[int, int]
    response: np.ndarray
    line_width_px: float
    blur_px: float
    band_od: np.ndarray
    band_response: np.ndarray
    band_noise: np.ndarray
    channel_response: np.ndarray
    noise_along: float = 0.0
    noise_across: float = 0.0
    tilt_deg: float = 0.0

    @property
    def channel_name(self) -> str:
        """``"blue"``, ``"green"`` or ``"red"``."""
        return BGR_NAMES[self.channel]

    def column_of(self, at: float, length_mm: float) -> float:
        """Column (pixel-centre convention) of window fraction ``at``."""
        return (self.margin_mm + at * length_mm) * self.px_per_mm - 0.5

    def at_of(self, column: float, length_mm: float) -> float:
        """Window fraction of a column; inverse of :meth:`column_of`."""
        return ((column + 0.5) / self.px_per_mm - self.margin_mm) / length_mm


def _to_reflectance(window: np.ndarray, domain: Domain) -> np.ndarray:
    w = np.asarray(window)
    if w.ndim == 2:
        w = np.repeat(w[:, :, None], 3, axis=2)
    w = w[:, :, :3]
    if w.dtype == np.uint8:
        v = w.astype(np.float64) / 255.0
    elif w.dtype == np.uint16:
        v = w.astype(np.float64) / 65535.0
    else:
        v = w.astype(np.float64)
    v = np.clip(v, 0.0, 1.0)
    if domain == "linear":
        v = srgb_to_linear(v)
    # Half a code value keeps log10 finite on fully dark pixels.
    return np.clip(v, 0.5 / 255.0 / 12.92, None)


def median(x: np.ndarray) -> float:
    """``np.median`` of a 1-D float64 array, the same number, without its per-call dispatch
    (a read takes some 50 medians of short profiles).

    Examples
    --------
    >>> median(np.array([3.0, 1.0, 2.0, 10.0])), median(np.array([3.0, np.nan, 1.0]))
    (2.5, nan)
    """
    n = x.size
    if n == 0:
        return math.nan
    h = n // 2
    # As np.median: the middle one or two, and the largest (where a NaN sorts).
    part = np.partition(x, [h, n - 1] if n % 2 else [h - 1, h, n - 1])
    if np.isnan(part[-1]):
        return math.nan
    return float(part[h]) if n % 2 else float((part[h - 1] + part[h]) / 2)


def robust_sigma(x: np.ndarray) -> float:
    if x.size < 3:
        return 0.0
    return float(1.4826 * median(np.abs(x - median(x))))


def _response_noise(response: np.ndarray, valid: np.ndarray, width_px: float) -> float:
    """Noise of the matched response, ignoring line-like peaks (positive outliers).

    Peaks above 3 sigma and a line width around them are excluded, growing
    the exclusion until no new peak appears: with several lines in a short
    window the first estimate is far too high.
    """
    grow = max(1, round(width_px))
    excluded = np.zeros_like(valid)
    sigma = robust_sigma(response[valid])
    for _ in range(6):
        keep = valid & ~excluded
        if keep.sum() < max(8, 0.25 * valid.sum()):
            break
        sigma = robust_sigma(response[keep])
        found = valid & (response > median(response[keep]) + 3.0 * sigma)
        found = _grown(found, grow) & valid
        if not (found & ~excluded).any():
            break
        excluded |= found
    return max(sigma, NOISE_FLOOR)


def _grown(mask: np.ndarray, by: int) -> np.ndarray:
    """A 1-D boolean mask grown by ``by`` columns each way (``binary_dilation`` with
    ``iterations=by``, beyond the ends nothing), as one sliding count.

    Examples
    --------
    >>> _grown(np.array([0, 0, 0, 1, 0, 0, 0, 0, 1], bool), 2).astype(int).tolist()
    [0, 1, 1, 1, 1, 1, 1, 1, 1]
    """
    counts = np.convolve(mask.astype(np.int64), np.ones(2 * by + 1, np.int64))
    return np.asarray(counts[by : by + mask.size] > 0)


def _membrane(absorbance: np.ndarray, valid: np.ndarray, width_px: float) -> np.ndarray:
    """Membrane absorbance under the lines: follows staining gradients, not lines.

    Asymmetrically reweighted penalized least squares (arPLS, Baek et al.
    2015, :func:`pipeline.bands.baseline.arpls`): a smooth curve that down-weights points
    standing above it by more than the noise, so any number of lines (a
    three-line kit fills most of a short window) is left out, while staining
    gradients a few line widths long are followed. The smoothness scales with
    the line width so a gap of about two widths is bridged stiffly. Columns
    outside the interior hold the nearest interior value.
    """
    n = absorbance.size
    idx = np.arange(n)
    lo, hi = int(idx[valid][0]), int(idx[valid][-1]) + 1
    y = absorbance[lo:hi]
    if y.size >= 5:
        inner = arpls(y, float((BASELINE_STIFFNESS * width_px) ** 4))
    else:
        inner = np.full(y.size, median(y))
    return np.asarray(np.interp(idx, np.arange(lo, hi), inner))


def _interior(
    gray: np.ndarray, start: float, stop: float, px_per_mm: float, trim_mm: float = 0.5
) -> tuple[int, int]:
    """Columns of clean membrane: the window minus its rim and the rim's shadow.

    Starts ``trim_mm`` inside the expected edges, then creeps inward while the
    gray absorbance still falls steeply away from the edge (rim or shadow
    reaching further in than expected), at most 1 mm more.
    """
    n = gray.size
    s = int(np.clip(np.ceil(start + trim_mm * px_per_mm), 0, n - 2))
    e = int(np.clip(np.floor(stop - trim_mm * px_per_mm), s + 2, n))
    if e - s < 8:
        return s, e
    ref = median(gray[s:e])
    tau = max(0.01, 3.0 * robust_sigma(np.diff(gray[s:e])) / np.sqrt(2))
    k = max(1, round(0.2 * px_per_mm))
    limit = round(1.0 * px_per_mm)
    for _ in range(limit):
        if s + k < e and gray[s] - ref > tau and gray[s] - gray[s + k] > tau / 2:
            s += 1
        else:
            break
    for _ in range(limit):
        if e - 1 - k > s and gray[e - 1] - ref > tau and gray[e - 1] - gray[e - 1 - k] > tau / 2:
            e -= 1
        else:
            break
    return s, e


def _rows(width_rows: int, margin_px: float, width_mm: float, px_per_mm: float) -> tuple[int, int]:
    """Rows across the flow clear of the rim (and a locator's error on it).

    The rim's shade on the membrane varies across the flow only, so it is a
    per-row gain that cancels in a line's OD: only the rim itself is left out.
    """
    trim_mm = min(max(0.45, 0.08 * width_mm), 0.3 * width_mm)
    r0 = int(np.ceil(margin_px + trim_mm * px_per_mm))
    r1 = int(np.floor(margin_px + (width_mm - trim_mm) * px_per_mm))
    r0 = int(np.clip(r0, 0, width_rows - 1))
    r1 = int(np.clip(r1, r0 + 1, width_rows))
    return r0, r1


def _trimmed_mean(x: np.ndarray, axis: int, cut: float = 0.2) -> np.ndarray:
    """Mean after dropping the ``cut`` fraction at each end (streaks, glare specks)."""
    n = x.shape[axis]
    k = int(np.floor(cut * n))
    if k == 0 or n - 2 * k < 1:
        return np.asarray(np.mean(x, axis=axis))
    s = np.sort(x, axis=axis)
    return np.asarray(np.mean(np.take(s, np.arange(k, n - k), axis=axis), axis=axis))


def optical_density_profile(
    window_bgr: np.ndarray,
    kit: Kit,
    px_per_mm: float,
    *,
    margin_mm: float = 0.0,
    domain: Domain = "encoded",
    n_bands: int = 4,
) -> Profile:
    """Background-corrected optical density along the flow of a rectified window.

    Parameters
    ----------
    window_bgr : ndarray
        Rectified window (rows across the flow, flow left to right), BGR
        ``uint8`` (or float in ``[0, 1]``), as made by ``rectify_window``.
    kit : Kit
        The kit, for line width, line positions and colour.
    px_per_mm : float
        Resolution the window was rectified at (the array's own shape is
        trusted when it disagrees, as ``rectify_window`` rounds).
    margin_mm : float
        The ``margin_mm`` the window was rectified with.
    domain : {"encoded", "linear"}
        Measure OD on the pixel values as encoded (the contract's unit), or in
        linear light after undoing the sRGB curve.
    n_bands : int
        Number of row bands across the width, for the consistency features.

    Returns
    -------
    Profile
        When the window's clear marks run askew (a window found a little
        turned: more than ``STRAIGHT_DEG`` and at most ``MAX_TILT_DEG``), the
        profile is read along them, the window sheared straight; its
        ``tilt_deg`` is the tilt found.

    Examples
    --------
    >>> from pipeline.kit import load_kit
    >>> kit = load_kit("datasets/kits/demo/kit.json")
    >>> window = np.full((50, 191, 3), 230, np.uint8)
    >>> window[:, 130:140] = (200, 120, 190)          # a purple line near C
    >>> p = optical_density_profile(window, kit, 10.0)
    >>> p.channel_name, round(float(p.od[135]), 3), round(float(p.response.max()), 3)
    ('green', 0.283, 0.283)
    """
    profile = _profile(window_bgr, kit, px_per_mm, margin_mm, domain, n_bands)
    tilt = profile.tilt_deg
    if STRAIGHT_DEG < abs(tilt) <= MAX_TILT_DEG:
        across = np.asarray(window_bgr).shape[0] / (kit.window_width_mm + 2 * margin_mm)
        straight = shear_window(window_bgr, -tilt, profile.px_per_mm / across)
        profile = replace(
            _profile(straight, kit, px_per_mm, margin_mm, domain, n_bands), tilt_deg=tilt
        )
    return profile


def _profile(
    window_bgr: np.ndarray,
    kit: Kit,
    px_per_mm: float,
    margin_mm: float,
    domain: Domain,
    n_bands: int,
) -> Profile:
    refl = _to_reflectance(window_bgr, domain)
    n_rows, n_cols = refl.shape[:2]
    length_mm = kit.window_length_mm + 2 * margin_mm
    width_mm = kit.window_width_mm
    ppm = n_cols / length_mm if px_per_mm <= 0 else _trusted_ppm(px_per_mm, n_cols, length_mm)
    ppm_across = n_rows / (width_mm + 2 * margin_mm)
    width_px = kit.line_width_mm * ppm
    kernel = line_filter(width_px)

    r0, r1 = _rows(n_rows, margin_mm * ppm_across, width_mm, ppm_across)
    central = refl[r0:r1]
    # Per-column reflectance, robust to streaks along the flow and glare specks.
    per_channel = -np.log10(_trimmed_mean(central, axis=0))  # (n_cols, 3)
    gray = per_channel.mean(axis=1)
    edges = (margin_mm * ppm, (margin_mm + kit.window_length_mm) * ppm)
    interior = _interior(gray, edges[0], edges[1], ppm)
    valid = np.zeros(n_cols, bool)
    valid[interior[0] : interior[1]] = True

    baselines = [_membrane(per_channel[:, c], valid, width_px) for c in range(3)]
    channel_od = np.stack([per_channel[:, c] - b for c, b in enumerate(baselines)])
    channel_response = np.stack([matched(channel_od[c], valid, kernel) for c in range(3)])
    if kit.description.line_color is not None:
        channel = line_color_channel(kit.description.line_color)
        # Only the lines' channel's noise counts: the others' only pick the channel.
        noise = _response_noise(channel_response[channel], valid, width_px)
    else:
        noises = np.array([_response_noise(r, valid, width_px) for r in channel_response])
        channel = _channel_from_data(kit, channel_response, noises, valid, ppm, margin_mm)
        noise = float(noises[channel])
    base = baselines[channel]
    od = channel_od[channel]
    response = channel_response[channel]

    # Fit the real line shape (width, blur) on the strongest line so amplitudes
    # are the OD at the line centre even in a soft photo.
    line_w, blur = width_px, max(0.5, 0.15 * width_px)
    j = int(np.argmax(np.where(valid, response, -np.inf)))
    if response[j] / noise >= 20:
        line_w, blur = fit_shape(od, valid, j, width_px)
        kernel = line_filter(line_w, blur)
        response = matched(od, valid, kernel)
        channel_response = np.stack([matched(channel_od[c], valid, kernel) for c in range(3)])

    # Row bands across the width, each with its own baseline.
    n_bands = max(1, min(n_bands, (r1 - r0) // 2))
    band_od = np.empty((n_bands, n_cols))
    band_response = np.empty((n_bands, n_cols))
    for i, rows in enumerate(np.array_split(central[:, :, channel], n_bands, axis=0)):
        a = -np.log10(np.mean(rows, axis=0))
        b = _membrane(a, valid, width_px)  # the bands' noise comes from their differences
        band_od[i] = a - b
        band_response[i] = matched(band_od[i], valid, kernel)

    # Noise two ways. Along the flow: the response's spread between lines (it
    # includes mottle, the enemy of specificity) but it is inflated when lines
    # crowd a short window. Across the flow: half the difference of the two
    # halves of the width, where full-width lines cancel.
    along = _response_noise(response, valid, line_w)
    across = along
    if n_bands >= 2:
        h = n_bands // 2
        diff = band_response[:h].mean(axis=0) - band_response[h:].mean(axis=0)
        across = max(robust_sigma(diff[valid]) / 2, NOISE_FLOOR)
    noise = float(np.clip(along, across, 2.0 * across))
    band_noise = np.full(n_bands, noise * np.sqrt(n_bands))
    tilt = mark_tilt(band_response, valid, float(band_noise[0]), ppm, (r1 - r0) / ppm_across)

    return Profile(
        od=od,
        baseline=10.0 ** (-base),
        channel=channel,
        noise=noise,
        px_per_mm=ppm,
        margin_mm=margin_mm,
        interior=interior,
        response=response,
        line_width_px=line_w,
        blur_px=blur,
        band_od=band_od,
        band_response=band_response,
        band_noise=band_noise,
        channel_response=channel_response,
        noise_along=along,
        noise_across=across,
        tilt_deg=tilt,
    )


def _trusted_ppm(px_per_mm: float, n_cols: int, length_mm: float) -> float:
    """``rectify_window`` rounds the strip length: the array's own scale is exact."""
    exact = n_cols / length_mm
    return exact if abs(exact - px_per_mm) <= 0.1 * px_per_mm + 1.0 / length_mm else px_per_mm


def _channel_from_data(
    kit: Kit,
    channel_response: np.ndarray,
    noises: np.ndarray,
    valid: np.ndarray,
    ppm: float,
    margin_mm: float,
) -> int:
    """The channel where the control line (else any line) is strongest; green by default.

    Ranked by OD amplitude, not SNR: the kit contract asks for the channel the
    line absorbs most.
    """
    length = kit.window_length_mm
    reach = SEARCH_MM * ppm
    for roles in (("control",), ("control", "test")):
        best = np.zeros(3)
        for line in kit.lines:
            if line.role not in roles:
                continue
            x = (margin_mm + line.at * length) * ppm - 0.5
            lo = int(max(0, np.floor(x - reach)))
            hi = int(min(valid.size, np.ceil(x + reach) + 1))
            sel = valid[lo:hi]
            if not sel.any():
                continue
            for c in range(3):
                seg = channel_response[c, lo:hi][sel]
                best[c] = max(best[c], float(seg.max()))
        snr = best / noises
        if snr.max() >= ANCHOR_SNR:
            return int(np.argmax(np.where(snr >= ANCHOR_SNR, best, -np.inf)))
    return 1
