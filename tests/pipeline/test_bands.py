"""Line reading on synthetic rectified windows with known optical density.

Windows are built as the kit contract defines OD, on encoded pixel values
(membrane, staining, mottle, streaks, ghost marks, lines of a dye with
per-channel absorbance, noise); ``physical=True`` builds them in linear light
and sRGB-encodes them instead, as a camera would.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage, special

from datasets.generate import DEFAULT_OD_MIX, draw_line_ods, unit_code
from datasets.kits import benchmark_kits
from datasets.render import FLAWS, render_photo
from datasets.render.variation import draw_variation
from models.registry import current_band_model
from pipeline.bands import (
    FEATURE_NAMES,
    LineMeasurement,
    band_probability,
    doubt_faint_controls,
    find_lines,
    line_color_channel,
    line_features,
    optical_density_profile,
    srgb_to_linear,
    unknown_where_unreadable,
)
from pipeline.bands.tilt import shear_window
from pipeline.interpret import interpret
from pipeline.kit import Kit, load_kit, parse_kit
from pipeline.read import read
from pipeline.rectify import rectify_window, window_px_per_mm

GOLD = (0.55, 1.0, 0.22)  # BGR absorbance, colloidal gold
BLUE = (0.18, 0.62, 1.0)  # blue latex: absorbs red most
PPM = 10.0


@pytest.fixture(scope="module")
def demo() -> Kit:
    return load_kit("datasets/kits/demo/kit.json")


def _kit(lines: list[dict], *, length_mm: float = 24.0, width_mm: float = 5.0, **extra) -> Kit:
    doc = {
        "spec": "rdt-kit/1",
        "product_code": "TEST-KIT",
        "name": "Test kit",
        "test_item": {"name": "x"},
        "format": "cassette",
        "template": {
            "image": "t.png",
            "px_per_mm": 10.0,
            "window": {"x": 10, "y": 10, "w": length_mm * 10, "h": width_mm * 10},
            "flow": "right",
        },
        "lines": lines,
        **extra,
    }
    return parse_kit(
        doc, np.zeros((int(width_mm * 10) + 20, int(length_mm * 10) + 20, 4), np.uint8)
    )


def _encode(linear: np.ndarray) -> np.ndarray:
    v = np.clip(linear, 0, 1)
    return np.where(v <= 0.0031308, 12.92 * v, 1.055 * v ** (1 / 2.4) - 0.055)


def make_window(
    kit: Kit,
    od: dict[str, float],
    *,
    seed: int = 0,
    dye: tuple[float, float, float] = GOLD,
    shift_mm: float = 0.0,
    spacing_jitter_mm: dict[str, float] | None = None,
    margin_mm: float = 0.0,
    stain: float = 0.0,
    mottle: float = 0.0,
    noise: float = 0.004,
    blur_mm: float = 0.12,
    streak_od: float = 0.0,
    ghost: tuple[float, float, float] | None = None,
    membrane: tuple[float, float, float] = (0.80, 0.86, 0.88),
    physical: bool = False,
) -> np.ndarray:
    """A rectified window (BGR uint8, sRGB) of ``kit`` with lines of the given OD.

    ``ghost`` is ``(at, od, fraction_of_width)``: a mark covering only part of
    the width. ``stain`` is the extra OD at the sample end (decays over ~4 mm).
    """
    rng = np.random.default_rng(seed)
    length = kit.window_length_mm + 2 * margin_mm
    width = kit.window_width_mm + 2 * margin_mm
    n_cols, n_rows = round(length * PPM), round(width * PPM)
    u = (np.arange(n_cols) + 0.5) / PPM - margin_mm  # mm from the window's sample edge
    v = (np.arange(n_rows) + 0.5) / PPM - margin_mm
    absorb = np.asarray(dye)[None, None, :]
    total = np.zeros((n_rows, n_cols, 3))
    s = np.sqrt(2) * blur_mm
    w = kit.line_width_mm
    for line in kit.lines:
        a = od.get(line.name, 0.0)
        centre = line.at * kit.window_length_mm + shift_mm
        centre += (spacing_jitter_mm or {}).get(line.name, 0.0)
        box = 0.5 * (special.erf((u - centre + w / 2) / s) - special.erf((u - centre - w / 2) / s))
        total += a * box[None, :, None] * absorb
    if ghost is not None:
        at, g_od, frac = ghost
        centre = at * kit.window_length_mm
        box = 0.5 * (special.erf((u - centre + w / 2) / s) - special.erf((u - centre - w / 2) / s))
        rows = (v >= 0) & (v < frac * kit.window_width_mm)
        total[rows] += g_od * box[None, :, None] * absorb
    # Staining toward the sample end: yellow-brown, strongest in blue.
    stain_profile = stain * np.exp(-np.clip(u, 0, None) / 4.0)
    total += stain_profile[None, :, None] * np.array([1.0, 0.6, 0.3])[None, None, :]
    if mottle:
        field = ndimage.gaussian_filter(rng.normal(size=(n_rows, n_cols)), 0.4 * PPM)
        total += (mottle * field / field.std())[:, :, None]
    if streak_od:
        r0 = n_rows // 2
        total[r0 : r0 + 3, n_cols // 4 : 3 * n_cols // 4] += streak_od
    refl = np.asarray(membrane)[None, None, :] * 10.0 ** (-total)
    if margin_mm > 0:  # a dark rim around the window
        outside = (u < 0) | (u > kit.window_length_mm)
        refl[:, outside] = 0.12
        refl[(v < 0) | (v > kit.window_width_mm)] = 0.12
    enc = (_encode(refl) if physical else refl) + rng.normal(0, noise, refl.shape)
    return np.clip(enc * 255 + 0.5, 0, 255).astype(np.uint8)


def _measure(kit: Kit, window: np.ndarray, **kw):
    profile = optical_density_profile(window, kit, PPM, **kw)
    lines = find_lines(profile, kit, PPM)
    feats = line_features(profile, lines, kit, PPM)
    return profile, lines, feats, band_probability(feats)


def test_od_is_measured_despite_staining_and_mottle(demo: Kit) -> None:
    window = make_window(demo, {"T": 0.12, "C": 0.6}, stain=0.15, mottle=0.004, seed=1)
    profile, lines, _, p = _measure(demo, window)
    assert profile.channel_name == "green"
    assert lines["T"].od == pytest.approx(0.12, abs=0.012)
    assert lines["C"].od == pytest.approx(0.6, rel=0.05)
    assert p.min() > 0.99


def test_blurred_lines_still_give_centre_od(demo: Kit) -> None:
    window = make_window(demo, {"T": 0.3, "C": 0.6}, blur_mm=0.35, seed=2)
    _, lines, _, _ = _measure(demo, window)
    assert lines["T"].od == pytest.approx(0.3, rel=0.07)
    assert lines["C"].od == pytest.approx(0.6, rel=0.07)


def test_linear_domain_reads_physical_windows(demo: Kit) -> None:
    window = make_window(demo, {"T": 0.2, "C": 0.5}, physical=True, noise=0.002)
    _, lines, _, _ = _measure(demo, window, domain="linear")
    assert lines["T"].od == pytest.approx(0.2, rel=0.07)
    # On the encoded values the same line is about 2.2 times fainter.
    _, encoded, _, _ = _measure(demo, window)
    assert encoded["T"].od == pytest.approx(0.2 / 2.2, rel=0.12)


@pytest.mark.parametrize("shift_mm", [-1.5, -0.8, 0.7, 1.5])
def test_shifted_pattern_is_found(demo: Kit, shift_mm: float) -> None:
    window = make_window(demo, {"T": 0.25, "C": 0.6}, shift_mm=shift_mm, seed=3)
    _, lines, _, p = _measure(demo, window)
    for name in ("T", "C"):
        found_mm = lines[name].at * demo.window_length_mm
        want_mm = demo.lines[[ln.name for ln in demo.lines].index(name)].at * demo.window_length_mm
        assert found_mm - want_mm == pytest.approx(shift_mm, abs=0.15)
    assert p.min() > 0.99


def test_faint_line_found_by_anchoring_on_control(demo: Kit) -> None:
    # The pattern is shifted 1.4 mm: a faint T line is only findable where C says.
    hits = 0
    for seed in range(6):
        window = make_window(demo, {"T": 0.03, "C": 0.5}, shift_mm=1.4, mottle=0.002, seed=seed)
        _, lines, _, p = _measure(demo, window)
        t_mm = lines["T"].at * demo.window_length_mm
        assert t_mm - demo.lines[0].at * demo.window_length_mm == pytest.approx(1.4, abs=0.35)
        hits += int(p[0] > 0.5)
    assert hits == 6


def test_absent_test_line_is_not_called(demo: Kit) -> None:
    calls = []
    for seed in range(10):
        window = make_window(demo, {"T": 0.0, "C": 0.5}, stain=0.1, mottle=0.003, seed=seed)
        calls.append(_measure(demo, window)[3][0])
    assert max(calls) < 0.5


def test_absent_control_gives_low_probability_and_template_positions(demo: Kit) -> None:
    window = make_window(demo, {"T": 0.0, "C": 0.0}, mottle=0.002, seed=4)
    _, lines, _, p = _measure(demo, window)
    assert p.max() < 0.2
    assert abs(lines["C"].anchored - lines["C"].expected) < 1e-6


def test_invalid_with_test_line_only_still_measures_test(demo: Kit) -> None:
    window = make_window(demo, {"T": 0.3, "C": 0.0}, shift_mm=1.0, seed=5)
    _, lines, _, p = _measure(demo, window)
    assert lines["T"].od == pytest.approx(0.3, rel=0.1)
    assert p[1] < 0.2 < 0.99 < p[0]


def test_streak_along_flow_is_not_a_line(demo: Kit) -> None:
    window = make_window(demo, {"T": 0.0, "C": 0.5}, streak_od=0.3, seed=6)
    _, _, _, p = _measure(demo, window)
    assert p[0] < 0.5


def test_partial_ghost_mark_differs_from_full_line(demo: Kit) -> None:
    t_at = demo.lines[0].at
    ghost = make_window(demo, {"T": 0.0, "C": 0.5}, ghost=(t_at, 0.08, 0.35), seed=7)
    full = make_window(demo, {"T": 0.03, "C": 0.5}, seed=7)
    frac = FEATURE_NAMES.index("band_frac")
    band = FEATURE_NAMES.index("band_min_snr")
    g, f = _measure(demo, ghost)[2][0], _measure(demo, full)[2][0]
    assert g[frac] < 0.3 < 0.7 < f[frac]
    assert g[band] < f[band]


def test_line_colour_chooses_channel_and_blue_dye_reads_red() -> None:
    lines = [
        {"name": "T", "role": "test", "at": 0.35},
        {"name": "C", "role": "control", "at": 0.7},
    ]
    assert line_color_channel("#2a4bd0") == 2
    kit = _kit(lines, line_color="#2a4bd0")
    window = make_window(kit, {"T": 0.1, "C": 0.5}, dye=BLUE, seed=8)
    profile, found, _, _ = _measure(kit, window)
    assert profile.channel_name == "red"
    assert found["T"].od == pytest.approx(0.1, abs=0.012)
    # Without line_color the control line decides the same channel.
    auto = _kit(lines)
    assert optical_density_profile(window, auto, PPM).channel_name == "red"


def test_three_test_lines_with_jittered_spacing() -> None:
    kit = _kit(
        [
            {"name": "A", "role": "test", "at": 0.2},
            {"name": "B", "role": "test", "at": 0.4},
            {"name": "D", "role": "test", "at": 0.6, "present_means": "non-reactive"},
            {"name": "C", "role": "control", "at": 0.8},
        ],
        length_mm=25.0,
    )
    od = {"A": 0.05, "B": 0.0, "D": 0.4, "C": 0.7}
    jitter = {"A": 0.25, "B": -0.2, "D": -0.3}
    window = make_window(kit, od, shift_mm=-1.2, spacing_jitter_mm=jitter, mottle=0.002, seed=9)
    _, lines, feats, p = _measure(kit, window)
    assert feats.shape == (4, len(FEATURE_NAMES))
    assert feats.dtype == np.float32
    assert p[0] > 0.9
    assert p[1] < 0.5
    assert min(p[2], p[3]) > 0.99
    assert lines["D"].od == pytest.approx(0.4, rel=0.08)


def test_rim_in_margin_is_excluded(demo: Kit) -> None:
    window = make_window(demo, {"T": 0.0, "C": 0.5}, margin_mm=1.0, seed=10)
    profile, lines, _, p = _measure(demo, window, margin_mm=1.0)
    lo, hi = profile.interior
    assert lo >= 1.0 * PPM
    assert hi <= (1.0 + demo.window_length_mm) * PPM
    assert lines["C"].od == pytest.approx(0.5, rel=0.06)
    assert p[0] < 0.5


def test_srgb_to_linear_round_trip() -> None:
    x = np.linspace(0, 1, 11)
    assert np.allclose(srgb_to_linear(_encode(x)), x, atol=1e-9)


def test_features_are_finite_on_blank_and_saturated_windows(demo: Kit) -> None:
    for fill in (0, 255):
        window = np.full((50, 191, 3), fill, np.uint8)
        _, _, feats, p = _measure(demo, window)
        assert np.isfinite(feats).all()
        assert (p < 0.5).all()


# --- where the lines are: a window found a little off, or not on the unit's window ---

EVEN = [  # four evenly spaced lines, as a multi-analyte cassette has them
    {"name": "A", "role": "test", "at": 0.17},
    {"name": "B", "role": "test", "at": 0.39},
    {"name": "D", "role": "test", "at": 0.61},
    {"name": "C", "role": "control", "at": 0.83},
]


def _stretch(kit: Kit, factor: float) -> dict[str, float]:
    """Spacing jitter that stretches the pattern about the window's centre."""
    return {ln.name: (factor - 1) * (ln.at - 0.5) * kit.window_length_mm for ln in kit.lines}


def test_stretched_pattern_reads_every_line() -> None:
    # A window found 8 % too small: the outer lines sit 0.5 mm off their shifted places.
    kit = _kit(EVEN, length_mm=17.0)
    od = {"A": 0.3, "B": 0.04, "D": 0.06, "C": 0.5}
    window = make_window(kit, od, shift_mm=-0.8, spacing_jitter_mm=_stretch(kit, 1.08), seed=11)
    _, lines, _, p = _measure(kit, window)
    assert p.min() > 0.9
    assert all(m.readable for m in lines.values())
    assert lines["A"].od == pytest.approx(0.3, rel=0.08)


def test_pattern_that_fits_the_marks_two_ways_is_unreadable() -> None:
    # Two lines two spacings apart, half a spacing off: A and D, or B and C?
    kit = _kit(EVEN, length_mm=17.0)
    half = 0.11 * kit.window_length_mm
    window = make_window(kit, {"A": 0.3, "D": 0.5}, shift_mm=half, seed=12)
    _, lines, _, p = _measure(kit, window)
    assert not any(m.readable for m in lines.values())
    assert unknown_where_unreadable(p, lines).tolist() == [0.5] * 4
    unknown = dict(zip(lines, unknown_where_unreadable(p, lines), strict=True))
    assert interpret(kit, unknown).confidence < 0.8


def test_line_on_the_rim_is_unreadable_not_absent() -> None:
    kit = _kit(
        [{"name": "T", "role": "test", "at": 0.04}, {"name": "C", "role": "control", "at": 0.5}]
    )
    # The pattern sits 0.8 mm toward the sample end: T falls on the window's end.
    window = make_window(kit, {"T": 0.4, "C": 0.5}, shift_mm=-0.8, seed=13)
    _, lines, _, p = _measure(kit, window)
    assert lines["C"].readable
    assert not lines["T"].readable
    assert unknown_where_unreadable(p, lines)[0] == 0.5


def test_window_found_a_little_turned_is_read_along_its_lines(demo: Kit) -> None:
    window = make_window(demo, {"T": 0.04, "C": 0.45}, seed=14)
    straight, lines, _, _ = _measure(demo, window)
    assert abs(straight.tilt_deg) < 2
    assert all(m.readable for m in lines.values())
    askew, lines, _, p = _measure(demo, shear_window(window, 20.0))
    assert askew.tilt_deg == pytest.approx(20.0, abs=3)
    assert all(m.readable for m in lines.values())
    assert p.min() > 0.9
    assert lines["T"].od == pytest.approx(0.04, abs=0.008)


def test_marks_far_askew_make_every_line_unreadable(demo: Kit) -> None:
    # A window read 40 degrees off: the box lies mostly off the unit's window.
    window = make_window(demo, {"T": 0.04, "C": 0.45}, seed=14)
    askew, lines, _, _ = _measure(demo, shear_window(window, -40.0))
    assert askew.tilt_deg == pytest.approx(-40.0, abs=6)
    assert not any(m.readable for m in lines.values())


# --- the same on rendered photos (datasets.render), read where a locator put the window ---


@pytest.fixture(scope="module")
def four_line_kit() -> Kit:
    kits = [parse_kit(doc, template) for doc, template in benchmark_kits(20261126)]
    return next(k for k in kits if len(k.lines) == 4)


def _rendered_window(kit: Kit, od: dict[str, float], warp: np.ndarray, seed: int):
    """A rendered photo's window, rectified at the true window pose changed by ``warp``.

    ``warp`` acts in template pixels about the window's centre (a locator's error).
    """
    photo = render_photo(
        kit, np.random.default_rng(seed), od=od, code="BANDS0000001", size=(1600, 1200)
    )
    cx = kit.window.x + kit.window.w / 2
    cy = kit.window.y + kit.window.h / 2
    about = np.array([[1, 0, cx], [0, 1, cy], [0, 0, 1.0]])
    homography = photo.window_homography @ about @ warp @ np.linalg.inv(about)
    ppm = float(np.clip(window_px_per_mm(kit, homography), 5.0, 8.0))
    return rectify_window(photo.decoded(), kit, homography, px_per_mm=ppm), ppm


def _read_window(kit: Kit, window: np.ndarray, ppm: float):
    profile = optical_density_profile(window, kit, ppm)
    lines = find_lines(profile, kit, ppm)
    p = band_probability(line_features(profile, lines, kit, ppm))
    return profile, lines, unknown_where_unreadable(p, lines)


def test_rendered_window_found_too_large_reads_every_line(four_line_kit: Kit) -> None:
    kit = four_line_kit
    od = dict(zip((ln.name for ln in kit.lines), (0.3, 0.5, 0.0, 0.45), strict=True))
    window, ppm = _rendered_window(kit, od, np.diag([1.07, 1.07, 1.0]), seed=15)
    _, lines, p = _read_window(kit, window, ppm)
    assert [bool(x >= 0.5) for x in p] == [v > 0 for v in od.values()]
    assert interpret(kit, dict(zip(lines, p, strict=True))).confidence >= 0.8


def test_rendered_window_read_at_the_wrong_turn_is_not_answered(four_line_kit: Kit) -> None:
    kit = four_line_kit
    od = dict(zip((ln.name for ln in kit.lines), (0.04, 0.5, 0.0, 0.45), strict=True))
    a = np.radians(35.0)
    turn = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1.0]])
    window, ppm = _rendered_window(kit, od, turn, seed=16)
    profile, _, p = _read_window(kit, window, ppm)
    assert abs(profile.tilt_deg) > 10
    assert interpret(kit, dict(zip((ln.name for ln in kit.lines), p, strict=True))).confidence < 0.8


def test_faint_control_is_never_confidently_present() -> None:
    c = LineMeasurement("C", "control", 50.0, 50.0, 50.0, 0.011, 6.2, 0.6)
    strong = LineMeasurement("C2", "control", 70.0, 70.0, 70.0, 0.06, 30.0, 0.8)
    t = LineMeasurement("T", "test", 30.0, 30.0, 30.0, 0.011, 6.2, 0.4)
    lines = {"C": c, "C2": strong, "T": t}
    assert doubt_faint_controls(np.array([0.98, 0.98, 0.98]), lines).tolist() == [0.5, 0.98, 0.98]
    # A faint control called absent stays absent: the test is invalid.
    assert doubt_faint_controls(np.array([0.01, 0.98, 0.98]), lines).tolist() == [0.01, 0.98, 0.98]


def test_rendered_invalid_strip_with_a_residue_of_control_dye_is_not_called_valid() -> None:
    # Photo 46 of the read benchmark's realworld-wide slice (seed 20261133), drawn as
    # datasets.generate draws it: a strip whose control line holds OD 0.0054 of dye
    # (invalid) beside a strong test line, sharpened and pink-tinted so that the
    # control measures twice its OD, where the shipped band model called it present.
    seed, i = 20261133, 46
    kits = [parse_kit(doc, template) for doc, template in benchmark_kits(20261126)]
    rng = np.random.default_rng([seed, i])
    kit = kits[int(rng.integers(len(kits)))]
    od, category = draw_line_ods(kit, rng, DEFAULT_OD_MIX)
    flaw = str(rng.choice(FLAWS)) if rng.random() < 0.1 else None
    code = unit_code(rng)
    unit = draw_variation(
        np.random.default_rng([seed, i, 1]), "realworld-wide", small_cassettes=True, kit=kit
    )
    photo = render_photo(kit, rng, od=od, code=code, flaw=flaw, variation=unit)
    assert (category, flaw, kit.description.format) == ("invalid", None, "strip")

    reading = read(photo.jpeg, kit, band_model=current_band_model())
    assert reading.status != "retake"
    assert reading.lines["C"].intensity > 1.5 * od["C"]  # the photo overstates the residue
    assert reading.result == "invalid" or reading.confidence < 0.8
