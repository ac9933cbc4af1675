"""Fixed-length feature vectors of a window's lines: the band model's input."""

from __future__ import annotations

import numpy as np
from scipy import special

from pipeline.bands.lines import LineMeasurement
from pipeline.bands.placement import ANCHOR_SNR
from pipeline.bands.profile import Profile
from pipeline.color import absorbance_of_colour
from pipeline.kit import Kit

#: Columns of :func:`line_features`, in order.
FEATURE_NAMES: tuple[str, ...] = (
    "od",  # matched-filter OD amplitude at the measured position
    "snr",  # od / robust noise of the matched-filter response
    "snr_anchor",  # SNR exactly at the anchored position (no local search)
    "offset_mm",  # |measured - anchored position|
    "shift_mm",  # |global shift of the line pattern from the template|
    "width_ratio",  # measured full width at half maximum / nominal line width
    "neighbour_snr",  # strongest other mark near the line, in noise units
    "band_min_snr",  # weakest of the row bands across the width, in noise units
    "band_frac",  # weakest row band / mean of row bands (1 for a full-width line)
    "hue_cos",  # colour agreement with the control line (or the kit's line colour)
    "baseline_slope",  # membrane staining gradient at the line, OD per mm
    "noise",  # robust noise of the matched-filter response, OD
    "control_snr",  # the strongest control line's SNR (context: contrast of the photo)
    "is_control",  # 1 for a control line
    "edge_mm",  # distance from the measured place to the nearer end of the clean membrane
)


def line_features(
    profile: Profile,
    measurements: dict[str, LineMeasurement],
    kit: Kit,
    px_per_mm: float | None = None,
) -> np.ndarray:
    """Feature vectors of the kit's lines, the input of the band model.

    Parameters
    ----------
    profile : Profile
    measurements : dict of str to LineMeasurement
        From :func:`find_lines`.
    kit : Kit
    px_per_mm : float, optional
        Ignored (the profile knows its scale); accepted for call symmetry.

    Returns
    -------
    ndarray
        ``float32``, shape ``(len(kit.lines), len(FEATURE_NAMES))``, rows in
        the kit's line order, columns as :data:`FEATURE_NAMES`.

    Examples
    --------
    >>> from pipeline.bands import find_lines, optical_density_profile
    >>> from pipeline.kit import load_kit
    >>> kit = load_kit("datasets/kits/demo/kit.json")
    >>> window = np.full((50, 191, 3), 230, np.uint8)
    >>> window[:, 130:140] = (200, 120, 190)
    >>> p = optical_density_profile(window, kit, 10.0)
    >>> f = line_features(p, find_lines(p, kit), kit)
    >>> f.shape, round(float(f[1, FEATURE_NAMES.index("band_frac")]), 2)
    ((2, 15), 1.0)
    """
    del px_per_mm
    ppm = profile.px_per_mm
    lo_i, hi_i = profile.interior
    n = profile.response.size
    cols = np.arange(n)
    w = profile.line_width_px
    noise = profile.noise
    controls = [m for m in measurements.values() if m.role == "control"]
    control_snr = max((m.snr for m in controls), default=0.0)
    reference = _hue_reference(profile, controls, kit)
    absorb_base = -np.log10(profile.baseline)
    slope = np.gradient(absorb_base) * ppm

    rows = []
    for line in kit.lines:
        m = measurements[line.name]
        inside = lo_i <= round(m.position) < hi_i
        anchor_od = float(np.interp(m.anchored, cols, profile.response)) if inside else 0.0
        others = [o.anchored for o in measurements.values() if o.name != line.name]
        band_vals = np.array(
            [float(np.interp(m.position, cols, br)) for br in profile.band_response]
        )
        band_snr = band_vals / profile.band_noise
        band_mean = float(np.mean(band_vals))
        vec = np.array([float(np.interp(m.position, cols, cr)) for cr in profile.channel_response])
        rows.append(
            [
                m.od,
                m.snr,
                anchor_od / noise,
                abs(m.position - m.anchored) / ppm,
                abs(m.anchored - m.expected) / ppm,
                _width_ratio(profile, m) if m.snr >= 5 and inside else 1.0,
                _neighbour_max(profile.response, m.position, others, w, lo_i, hi_i) / noise,
                float(np.min(band_snr)) if inside else 0.0,
                float(np.clip(np.min(band_vals) / max(band_mean, noise), -2.0, 2.0)),
                _cosine(vec, reference) if reference is not None else 1.0,
                abs(float(np.interp(m.position, cols, slope))),
                noise,
                control_snr,
                1.0 if line.role == "control" else 0.0,
                min(m.position - lo_i, hi_i - 1 - m.position) / ppm,
            ]
        )
    return np.asarray(rows, dtype=np.float32).reshape(len(kit.lines), len(FEATURE_NAMES))


def _hue_reference(
    profile: Profile, controls: list[LineMeasurement], kit: Kit
) -> np.ndarray | None:
    """Channel-response vector of the clearest control line, else the kit's line colour."""
    cols = np.arange(profile.response.size)
    best = max(controls, key=lambda m: m.snr, default=None)
    if best is not None and best.snr >= ANCHOR_SNR:
        return np.array(
            [float(np.interp(best.position, cols, cr)) for cr in profile.channel_response]
        )
    if kit.description.line_color is not None:
        return absorbance_of_colour(kit.description.line_color)
    return None


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    den = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.dot(a, b) / den) if den > 0 else 0.0


def _neighbour_max(
    response: np.ndarray, x: float, others: list[float], w: float, lo: int, hi: int
) -> float:
    """Strongest response 1.5-4 line widths away, other lines' places excluded."""
    cols = np.arange(response.size)
    d = np.abs(cols - x)
    near = (d >= 1.5 * w) & (d <= 4.0 * w) & (cols >= lo) & (cols < hi)
    for o in others:
        near &= np.abs(cols - o) > 1.5 * w
    return float(response[near].max()) if near.any() else 0.0


def _width_ratio(profile: Profile, m: LineMeasurement) -> float:
    """Best-fitting box width at the measured place over the profile's line width."""
    w0 = profile.line_width_px
    blur = profile.blur_px
    half = int(np.ceil(1.6 * w0 / 2 + 3 * blur + 2))
    j = round(m.position)
    lo, hi = max(profile.interior[0], j - half), min(profile.interior[1], j + half + 1)
    x = np.arange(lo, hi) - m.position
    y = profile.od[lo:hi]
    if y.size < 5:
        return 1.0
    # Every width at once: with a free constant, the least-squares residual of a box of
    # width w is Syy - Sky^2 / Skk over the centred profile and shape.
    widths = w0 * np.linspace(0.4, 2.5, 22)
    half_w = widths[:, None] / 2
    k = 0.5 * (
        special.erf((x[None, :] + half_w) / (np.sqrt(2) * blur))
        - special.erf((x[None, :] - half_w) / (np.sqrt(2) * blur))
    )
    kc = k - k.mean(axis=1, keepdims=True)
    yc = y - y.mean()
    skk = np.sum(kc * kc, axis=1)
    # A flat shape (all widths far wider than the profile) explains nothing but the constant.
    explained = np.divide((kc @ yc) ** 2, skk, out=np.zeros_like(skk), where=skk > 1e-12)
    best_w = float(widths[int(np.argmin(float(np.sum(yc * yc)) - explained))])
    return best_w / w0
