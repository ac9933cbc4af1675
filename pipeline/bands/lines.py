"""Find the kit's lines on a profile: the pattern anchored on the control line."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pipeline.bands.placement import ANCHOR_SNR, ANCHORED_MM, LOCAL_MM, SEARCH_MM, TOLERANCE_MM
from pipeline.bands.profile import Profile
from pipeline.kit import Kit

# A line votes for a pattern shift from this SNR on, saturating at VOTE_CAP;
# each millimetre of shift costs SHIFT_COST (SNR units).
VOTE_MIN = 4.0
VOTE_CAP = 8.0
SHIFT_COST = 0.5
CONTROL_BONUS = 0.25


@dataclass(frozen=True)
class LineMeasurement:
    """What was measured for one kit line.

    Attributes
    ----------
    name, role : str
        From the kit.
    expected : float
        Column of the template position.
    anchored : float
        Column predicted from the pattern shift (control anchor + kit spacing).
    position : float
        Column where the line was measured (after the local search).
    od : float
        Matched-filter OD amplitude at ``position``.
    snr : float
        ``od / profile.noise``.
    at : float
        ``position`` as a fraction of the window length from the sample side.
    """

    name: str
    role: str
    expected: float
    anchored: float
    position: float
    od: float
    snr: float
    at: float


def find_lines(
    profile: Profile, kit: Kit, px_per_mm: float | None = None
) -> dict[str, LineMeasurement]:
    """Locate and measure every kit line on an OD profile.

    The whole line pattern is shifted as one (cassettes misplace lines by up
    to 1.5 mm but keep their spacing): the shift maximises the summed
    matched-filter response of all lines, control lines weighted double.
    Lines that stand out clearly then fix the shift precisely, and each line
    is measured at its anchored place after a small local search, so a faint
    test line is found where the control says it must be. With no clear line
    at all (e.g. an invalid test without lines), the template positions are used.

    Parameters
    ----------
    profile : Profile
        From :func:`optical_density_profile`.
    kit : Kit
    px_per_mm : float, optional
        Ignored (the profile knows its scale); accepted for call symmetry.

    Returns
    -------
    dict of str to LineMeasurement
        Keyed by line name, in the kit's order.

    Examples
    --------
    >>> from pipeline.bands.profile import optical_density_profile
    >>> from pipeline.kit import load_kit
    >>> kit = load_kit("datasets/kits/demo/kit.json")
    >>> window = np.full((50, 191, 3), 230, np.uint8)
    >>> window[:, 140:150] = (200, 120, 190)          # C, 1.3 mm past its place
    >>> lines = find_lines(optical_density_profile(window, kit, 10.0), kit)
    >>> round(lines["C"].at, 3), bool(lines["T"].snr < 3)
    (0.759, True)
    """
    del px_per_mm
    length = kit.window_length_mm
    ppm = profile.px_per_mm
    r = profile.response
    n = r.size
    lo_i, hi_i = profile.interior
    expected = np.array([profile.column_of(line.at, length) for line in kit.lines])
    reach = round(SEARCH_MM * ppm)
    local = max(1, round(LOCAL_MM * ppm))

    # Only true peaks count (the maximum within half a line width each side):
    # the flank of a strong line is not a line.
    size = 2 * max(1, round(profile.line_width_px / 2)) + 1
    inside = np.zeros(n, bool)
    inside[lo_i:hi_i] = True
    is_peak = inside & (r > 0) & (r >= ndimage.maximum_filter1d(r, size, mode="nearest"))
    peaks = np.where(is_peak, r, 0.0)

    def local_peak(x: float, half: int) -> tuple[float, float]:
        """The strongest peak within ``half`` columns of ``x`` (value 0 when none)."""
        i0 = max(lo_i, round(x) - half)
        i1 = min(hi_i, round(x) + half + 1)
        if i1 <= i0:
            return x, 0.0
        j = i0 + int(np.argmax(peaks[i0:i1]))
        return (float(j), float(peaks[j])) if peaks[j] > 0 else (x, 0.0)

    # 1. Coarse joint shift of the whole pattern: each line votes with the SNR of
    # a peak near its place, saturated so that the shift explaining the most
    # lines wins rather than the one putting some line on the single strongest
    # mark; noise peaks do not vote. Between equally good placements (one
    # visible line that could be either of two) the smaller shift wins, with
    # half a millimetre of grace for calling a lone line the control (the
    # usual case: a negative test); shifts beyond the placement tolerance pay
    # (one clear line per 0.8 mm).
    shifts = np.arange(-reach, reach + 1)
    tolerance = TOLERANCE_MM * ppm
    scores = np.empty(shifts.size)
    bonus = np.array([CONTROL_BONUS if line.role == "control" else 0.0 for line in kit.lines])
    for k, d in enumerate(shifts):
        snrs = np.array([local_peak(x + d, local)[1] for x in expected]) / profile.noise
        seen = snrs >= VOTE_MIN
        votes = float(np.sum(np.where(seen, np.minimum(snrs, VOTE_CAP) + bonus, 0.0)))
        excess = max(0.0, abs(d) - tolerance) / (0.8 * ppm)
        scores[k] = votes - VOTE_CAP * excess - SHIFT_COST * abs(d) / ppm
    best_shift = float(shifts[int(np.argmax(scores))])

    # 2. Lines that clearly stand out fix the shift precisely (SNR-weighted).
    offsets, strengths = [], []
    for x in expected:
        pos, val = local_peak(x + best_shift, local)
        snr = val / profile.noise
        if snr >= ANCHOR_SNR:
            pos = _centre(r, round(pos), profile.line_width_px, lo_i, hi_i)
            offsets.append(pos - x)
            strengths.append(snr)
    shift = float(np.average(offsets, weights=strengths)) if offsets else 0.0

    # 3. Measure each line at the peak nearest its anchored place (once anchored,
    # spacing varies little, so the search is narrow), else right at that place.
    half = max(1, round(ANCHORED_MM * ppm)) if offsets else local
    cols = np.arange(n)
    out: dict[str, LineMeasurement] = {}
    for line, x in zip(kit.lines, expected, strict=True):
        anchored = float(np.clip(x + shift, 0, n - 1))
        if lo_i <= round(anchored) < hi_i:
            pos, val = local_peak(anchored, half)
            if val > 0:
                pos = _centre(r, round(pos), profile.line_width_px, lo_i, hi_i)
            od = float(np.interp(pos, cols, r))
        else:  # the line falls on the rim or outside the window: nothing to measure
            pos, od = anchored, 0.0
        out[line.name] = LineMeasurement(
            name=line.name,
            role=line.role,
            expected=float(x),
            anchored=anchored,
            position=pos,
            od=od,
            snr=od / profile.noise,
            at=profile.at_of(pos, length),
        )
    return out


def _centre(r: np.ndarray, j: int, width_px: float, lo: int, hi: int) -> float:
    """Centre of the peak at ``j``: centroid of the response above half its height.

    The matched response of a sharp line is flat-topped, so the arg-max alone
    is off by up to half the plateau. Only the part within half a line width
    of ``j`` counts, so a neighbouring line cannot pull the centre.
    """
    if r[j] <= 0:
        return float(j)
    half = max(1, round(width_px / 2))
    i0, i1 = max(lo, j - half), min(hi, j + half + 1)
    seg = r[i0:i1] - 0.5 * r[j]
    k = j - i0
    left = k
    while left > 0 and seg[left - 1] > 0:
        left -= 1
    right = k
    while right < seg.size - 1 and seg[right + 1] > 0:
        right += 1
    wts = np.clip(seg[left : right + 1], 0.0, None)
    if wts.sum() <= 0:
        return float(j)
    return float(i0 + left + np.dot(np.arange(wts.size), wts) / wts.sum())
