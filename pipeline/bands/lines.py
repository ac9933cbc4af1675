"""Find the kit's lines on a profile: the pattern anchored on the control line."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pipeline.bands.placement import (
    ANCHOR_SNR,
    ANCHORED_MM,
    LOCAL_MM,
    MAX_TILT_DEG,
    SCALE_SLACK,
    SCALE_STEP,
    SEARCH_MM,
    TOLERANCE_MM,
)
from pipeline.bands.profile import Profile
from pipeline.kit import Kit

# A line votes for a pattern shift from this SNR on, saturating at VOTE_CAP;
# each millimetre of shift costs SHIFT_COST (SNR units).
VOTE_MIN = 4.0
VOTE_CAP = 8.0
SHIFT_COST = 0.5
CONTROL_BONUS = 0.25
# Each step of stretch (SCALE_STEP) costs this much: less than a line's vote, so a
# stretch is taken only when it brings another line onto its place.
SCALE_COST = 0.25
# Clear lines fix the stretch only when they span this much of the window: two
# lines close together tell the shift, not the spacing.
SPAN_MM = 4.0
# A placement whose best rival (one giving a mark to another line) scores within
# this much is in doubt: a quarter of a clear line's vote (VOTE_CAP).
AMBIGUOUS_MARGIN = 2.0
# A control line measured fainter than this never confirms a valid test with
# confidence: the top of the trace band (OD 0.012-0.02), the faintest test lines
# a person can see. Control lines are made strong (valid units' measure 0.06 and
# up on the realworld-wide benchmark slice), and an invalid unit's residue of
# dye (up to OD 0.006) measures up to about twice its OD on phone-processed,
# tinted photos (sharpening, tone curves): that factor, not the band model's
# training scale, decides where a faint mark falls.
CONTROL_CLEAR_OD = 0.02
CONFIRM_CONTROL_OD = 0.1
"""A control line this dense (the weak band's upper end) is a line, not a residue or a rim's
shade: with :data:`CONFIRM_CONTROL_SNR` it confirms a window found only roughly by its rim
(:func:`control_confirms_window`)."""
CONFIRM_CONTROL_SNR = 10.0
"""... and standing this far out of the membrane's noise."""


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
    readable : bool
        Whether the line's place could be read: on clean membrane, in a window
        whose lines run across it, placed without doubt between two ways of
        laying the pattern on the marks. An unreadable line's measurement says
        nothing about whether it is there (see :func:`unknown_where_unreadable`).
    """

    name: str
    role: str
    expected: float
    anchored: float
    position: float
    od: float
    snr: float
    at: float
    readable: bool = True


def find_lines(
    profile: Profile, kit: Kit, px_per_mm: float | None = None
) -> dict[str, LineMeasurement]:
    """Locate and measure every kit line on an OD profile.

    The whole line pattern is shifted as one (cassettes misplace lines by up
    to 1.5 mm but keep their spacing) and stretched a little (a window found
    a few per cent too large or small stretches the spacing, see
    :mod:`~pipeline.bands.placement`): the placement maximises the summed
    matched-filter response of all lines, the control favoured.
    Lines that stand out clearly then fix the placement precisely, and each line
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

    # 1. Coarse joint shift and stretch of the whole pattern: each line votes with
    # the SNR of a peak near its place, saturated so that the placement explaining
    # the most lines wins rather than the one putting some line on the single
    # strongest mark; noise peaks do not vote. The stretch (about the window's
    # centre) absorbs a window found slightly too large or small, which moves
    # the far lines of a long pattern off their places. Between equally good
    # placements (one visible line that could be either of two) the smaller
    # shift and stretch win, with half a millimetre of grace for calling a lone
    # line the control (the usual case: a negative test); shifts beyond the
    # placement tolerance pay (one clear line per 0.8 mm).
    centre = profile.column_of(0.5, length)
    limit = kit.window_tolerance.scale + SCALE_SLACK
    steps = int(np.floor(limit / SCALE_STEP + 1e-9))
    scales = 1.0 + SCALE_STEP * np.arange(-steps, steps + 1)
    shifts = np.arange(-reach, reach + 1)
    tolerance = TOLERANCE_MM * ppm
    bonus = np.array([CONTROL_BONUS if line.role == "control" else 0.0 for line in kit.lines])
    # The strongest peak within `local` columns of each column, in noise units.
    near = ndimage.maximum_filter1d(peaks, 2 * local + 1, mode="constant") / profile.noise
    # places[scale, shift, line]: the column each line falls on.
    places = (
        centre + scales[:, None, None] * (expected[None, None, :] - centre) + shifts[None, :, None]
    )
    idx = np.clip(np.rint(places).astype(int), 0, n - 1)
    snrs = np.where((places >= 0) & (places <= n - 1), near[idx], 0.0)
    votes = np.sum(np.where(snrs >= VOTE_MIN, np.minimum(snrs, VOTE_CAP) + bonus, 0.0), axis=2)
    excess = np.maximum(0.0, np.abs(shifts) - tolerance) / (0.8 * ppm)
    scores = (
        votes
        - (VOTE_CAP * excess + SHIFT_COST * np.abs(shifts) / ppm)[None, :]
        - (SCALE_COST * np.abs(scales - 1.0) / SCALE_STEP)[:, None]
    )
    k_scale, k_shift = np.unravel_index(int(np.argmax(scores)), scores.shape)
    scale, coarse = float(scales[k_scale]), float(shifts[k_shift])
    # Which peak each line takes at every placement, and how far the best placement
    # beats the best one that gives some peak to another line (an evenly spaced
    # pattern with lines missing can often be laid on the marks two ways).
    takes = np.where(snrs >= VOTE_MIN, _nearest_peak(peaks, local)[idx], -1)
    margin = _placement_margin(scores, takes, (int(k_scale), int(k_shift)), n)

    # 2. Lines that clearly stand out fix the placement precisely (SNR-weighted):
    # the shift, and the stretch too when they span enough of the window.
    anchors = []
    for x in expected:
        pos, val = local_peak(centre + scale * (x - centre) + coarse, local)
        snr = val / profile.noise
        if snr >= ANCHOR_SNR:
            pos = _centre(r, round(pos), profile.line_width_px, lo_i, hi_i)
            anchors.append((x, pos, snr))
    scale, shift = _fit_placement(anchors, centre, scale, limit, SPAN_MM * ppm)

    # 3. Measure each line at the peak nearest its anchored place (once anchored,
    # spacing varies little, so the search is narrow), else right at that place.
    half = max(1, round(ANCHORED_MM * ppm)) if anchors else local
    cols = np.arange(n)
    out: dict[str, LineMeasurement] = {}
    for line, x in zip(kit.lines, expected, strict=True):
        anchored = float(np.clip(centre + scale * (x - centre) + shift, 0, n - 1))
        if lo_i <= round(anchored) < hi_i:
            pos, val = local_peak(anchored, half)
            if val > 0:
                pos = _centre(r, round(pos), profile.line_width_px, lo_i, hi_i)
            od = float(np.interp(pos, cols, r))
        else:  # the line falls on the rim or outside the window: nothing to measure
            pos, od = anchored, 0.0
        # Readable: its place is clean membrane (half a line width inside), the
        # pattern's placement is not in doubt, and the lines run across the window.
        clear = 0.5 * profile.line_width_px
        readable = (
            lo_i + clear <= anchored <= hi_i - 1 - clear
            and margin >= AMBIGUOUS_MARGIN
            and abs(profile.tilt_deg) <= MAX_TILT_DEG
        )
        out[line.name] = LineMeasurement(
            name=line.name,
            role=line.role,
            expected=float(x),
            anchored=anchored,
            position=pos,
            od=od,
            snr=od / profile.noise,
            at=profile.at_of(pos, length),
            readable=readable,
        )
    return out


def unknown_where_unreadable(
    p_present: np.ndarray, measured: dict[str, LineMeasurement]
) -> np.ndarray:
    """Line-present probabilities with every unreadable line's set to 0.5: not known.

    A line on the rim, out of the window, in a window whose lines run
    askew or in a pattern that fits the marks two ways was not measured
    where it is: its measured OD of about nothing must not become a confident
    "absent" (a missed positive, or "invalid" when it is the control). At 0.5
    the result's confidence falls and the photo is read by eye.

    Parameters
    ----------
    p_present : ndarray
        The band model's probabilities, in ``measured``'s order.
    measured : dict of str to LineMeasurement
        From :func:`find_lines`.

    Returns
    -------
    ndarray
        The probabilities, float64.

    Examples
    --------
    >>> m = LineMeasurement("T", "test", 50.0, 50.0, 50.0, 0.0, 0.0, 0.4, readable=False)
    >>> unknown_where_unreadable(np.array([0.01]), {"T": m}).tolist()
    [0.5]
    """
    readable = np.array([m.readable for m in measured.values()], bool)
    return np.where(readable, np.asarray(p_present, dtype=np.float64), 0.5)


def doubt_faint_controls(p_present: np.ndarray, measured: dict[str, LineMeasurement]) -> np.ndarray:
    """Line-present probabilities with every faint control's capped at 0.5: not known.

    A control line measured fainter than :data:`CONTROL_CLEAR_OD` sits where a
    residue of dye on an invalid unit and a barely working control look alike
    once a phone has processed the photo; the band model, trained on one OD
    scale, may still call it present with confidence, and a confident "valid"
    on an invalid test is the worst error a reader can make. At 0.5 the
    result's confidence falls and the photo is read by eye. A faint control
    the model calls absent stays absent: "invalid" is the safe answer.

    Parameters
    ----------
    p_present : ndarray
        The band model's probabilities, in ``measured``'s order.
    measured : dict of str to LineMeasurement
        From :func:`find_lines`.

    Returns
    -------
    ndarray
        The probabilities, float64.

    Examples
    --------
    >>> c = LineMeasurement("C", "control", 50.0, 50.0, 50.0, 0.011, 6.2, 0.6)
    >>> t = LineMeasurement("T", "test", 30.0, 30.0, 30.0, 0.011, 6.2, 0.4)
    >>> doubt_faint_controls(np.array([0.98, 0.98]), {"C": c, "T": t}).tolist()
    [0.5, 0.98]
    """
    faint = np.array(
        [m.role == "control" and m.od < CONTROL_CLEAR_OD for m in measured.values()], bool
    )
    p = np.asarray(p_present, dtype=np.float64)
    return np.where(faint, np.minimum(p, 0.5), p)


def _nearest_peak(peaks: np.ndarray, local: int) -> np.ndarray:
    """Per column, the column of the strongest peak within ``local`` columns (-1: none)."""
    padded = np.pad(peaks, local)
    view = np.lib.stride_tricks.sliding_window_view(padded, 2 * local + 1)
    j = np.arange(peaks.size) - local + np.argmax(view, axis=1)
    return np.where(view.max(axis=1) > 0, j, -1)


def _placement_margin(
    scores: np.ndarray, takes: np.ndarray, best: tuple[int, int], n: int
) -> float:
    """Score of the best placement over the best that gives one of its peaks to another line.

    ``takes[scale, shift, line]`` is the peak column a line votes with (-1: none).
    Infinite when no placement disagrees with the best.
    """
    owner = np.full(n + 1, -1)  # index n: "no peak"
    for line, col in enumerate(takes[best]):
        if col >= 0:
            owner[col] = line
    taken = owner[np.where(takes >= 0, takes, n)]
    lines = np.arange(takes.shape[-1])
    conflict = np.any((taken >= 0) & (taken != lines), axis=-1)
    if not conflict.any():
        return float("inf")
    return float(scores[best] - scores[conflict].max())


def _fit_placement(
    anchors: list[tuple[float, float, float]],
    centre: float,
    scale: float,
    limit: float,
    span: float,
) -> tuple[float, float]:
    """Stretch and shift of the pattern from clear lines ``(expected, measured, snr)``.

    Weighted least squares of ``measured - centre = scale * (expected - centre) +
    shift`` when the clear lines span at least ``span`` columns, the stretch
    kept within ``1 +- limit``; otherwise the coarse stretch is kept and only
    the shift is fitted. No clear line: the template's places.
    """
    if not anchors:
        return 1.0, 0.0
    x, pos, w = (np.array(v, dtype=np.float64) for v in zip(*anchors, strict=True))
    if np.ptp(x) >= span:
        u = x - centre
        um = np.average(u, weights=w)
        v = pos - centre
        vm = np.average(v, weights=w)
        slope = np.sum(w * (u - um) * (v - vm)) / np.sum(w * (u - um) ** 2)
        scale = float(np.clip(slope, 1.0 - limit, 1.0 + limit))
    shift = float(np.average(pos - centre - scale * (x - centre), weights=w))
    return scale, shift


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


def control_confirms_window(measured: dict[str, LineMeasurement]) -> bool:
    """Do the lines confirm a window whose rim agreed only roughly?

    A bevelled rim lit from one side, or shaded, agrees less with the template's flat
    print (:data:`pipeline.locate.MIN_WINDOW_SCORE`) though the window was found. The
    lines are a second cue: when every line's place could be read (on clean membrane,
    running across the window, laid on the marks one way only) and the control stands
    out clearly where the kit's spacing puts it, the membrane with its lines is where the
    window was found. A faint or missing control (an invalid test) confirms nothing.

    Parameters
    ----------
    measured : dict
        :func:`find_lines`' measurements.

    Examples
    --------
    >>> clear = LineMeasurement("C", "control", 60.0, 60.0, 61.0, 0.3, 40.0, 0.7)
    >>> faint = LineMeasurement("C", "control", 60.0, 60.0, 61.0, 0.03, 4.0, 0.7)
    >>> control_confirms_window({"C": clear}), control_confirms_window({"C": faint})
    (True, False)
    """
    controls = [m for m in measured.values() if m.role == "control"]
    return (
        bool(controls)
        and all(m.readable for m in measured.values())
        and all(m.od >= CONFIRM_CONTROL_OD and m.snr >= CONFIRM_CONTROL_SNR for m in controls)
    )
