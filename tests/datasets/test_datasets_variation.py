"""Real-world variation: each parameter is applied, shows in the photo, and is recorded."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import shapely
import shapely.affinity
import zxingcpp

from datasets.generate import generate
from datasets.kits import random_kit
from datasets.render import render_photo
from datasets.render.variation import PROFILES, TWELVE_MP, Variation, draw_variation
from pipeline.kit import Kit, load_kit, parse_kit
from pipeline.rectify import rectify_window, window_to_template

OD = {"T": 0.1, "C": 0.5}


@pytest.fixture(scope="module")
def demo() -> Kit:
    return load_kit("datasets/kits/demo/kit.json")


@pytest.fixture(scope="module")
def gold() -> Kit:
    """A cassette whose lines are gold (read in green), the dye fixed by its description."""
    return parse_kit(
        *random_kit(np.random.default_rng(4), fmt="cassette", dye="gold", flow="right")
    )


def _photo(kit: Kit, seed: int, variation: Variation, **kw):
    kw.setdefault("size", (1600, 1200))
    od = {line.name: OD.get(line.name, 0.1) for line in kit.lines}
    return render_photo(
        kit, np.random.default_rng(seed), od=od, code="VIGIL-0042-XYZ", variation=variation, **kw
    )


def _rim_rows(image: np.ndarray, kit: Kit, hom: np.ndarray, ppm: float) -> np.ndarray:
    """Where the window's rim runs on both long sides, across the flow, seen through ``hom``
    (mm from the window's edge), in bare membrane a tenth to a quarter along the flow."""
    margin = 3.0
    strip = rectify_window(image, kit, hom, px_per_mm=ppm, margin_mm=margin).astype(float)
    n = strip.shape[1]
    across = strip[:, n // 10 : n // 4].mean(axis=(1, 2))
    half = len(across) // 2
    return np.array([np.argmin(across[:half]), half + np.argmin(across[half:])]) / ppm - margin


def test_no_variation_renders_the_plain_photo(demo: Kit) -> None:
    assert draw_variation(np.random.default_rng(0), "none") == Variation()
    plain = render_photo(demo, np.random.default_rng(5), od=OD, code="X1", size=(640, 480))
    same = render_photo(
        demo, np.random.default_rng(5), od=OD, code="X1", size=(640, 480), variation=Variation()
    )
    assert plain.jpeg == same.jpeg
    assert plain.window_homography is not None
    assert np.array_equal(plain.window_homography, plain.homography)


def test_same_seed_same_varied_photo(demo: Kit) -> None:
    for profile in ("mild", "realworld-wide"):
        v1 = draw_variation(np.random.default_rng(8), profile)
        v2 = draw_variation(np.random.default_rng(8), profile)
        assert v1 == v2
        a = _photo(demo, 9, v1, size=(800, 600))
        b = _photo(demo, 9, v2, size=(800, 600))
        assert a.jpeg == b.jpeg
        assert a.variation.to_json() == json.loads(json.dumps(v1.to_json()))


def test_profiles_draw_their_stated_ranges() -> None:
    wide = [draw_variation(np.random.default_rng(i), "realworld-wide") for i in range(60)]
    mild = [draw_variation(np.random.default_rng(i), "mild") for i in range(60)]
    for v in wide:
        assert 1.0 <= math.hypot(*v.window_offset_mm) <= 1.5
        assert abs(v.window_rotation_deg) <= 2
        assert v.code_label
        assert 2.0 <= math.hypot(*v.code_offset_mm) <= 5.0
        assert 3.0 <= abs(v.code_rotation_deg) <= 8.0
        assert v.kit_frac is not None
        assert 0.10 <= v.kit_frac <= 0.15
        assert v.size in TWELVE_MP
        assert 0.25 <= v.rim_bevel_mm <= 0.4
        assert 1.0 <= v.optics_sigma_px <= 1.8
        assert v.denoise > 0
        assert v.sharpen_amount > 0
    assert {v.membrane_name for v in wide} == {"white", "yellow", "pink"}
    for v in mild:
        assert math.hypot(*v.window_offset_mm) <= 0.8
        assert math.hypot(*v.code_offset_mm) <= 2.5
    assert 0 < sum(v.code_label for v in mild) < 30
    assert 0 < sum(v.kit_frac is not None for v in mild) < 20
    strip = draw_variation(np.random.default_rng(0), "realworld-wide", cassette=False)
    assert not strip.moves_window
    assert not strip.code_label
    assert strip.rim_bevel_mm == 0
    assert draw_variation(np.random.default_rng(0), "mild", small_cassettes=False).size is None
    with pytest.raises(ValueError, match="unknown variation profile"):
        draw_variation(np.random.default_rng(0), "extreme")
    assert PROFILES == ("none", "mild", "realworld-wide")


def test_misregistered_window_sits_where_the_truth_says(demo: Kit) -> None:
    v = Variation(window_offset_mm=(1.5, 0.0), window_rotation_deg=2.0)
    photo = _photo(demo, 3, v, clean=True)
    plain = _photo(demo, 3, Variation(), clean=True)
    assert photo.homography is not None
    assert photo.window_homography is not None
    assert np.array_equal(photo.homography, plain.homography)  # the kit itself did not move
    # Where the window moved, in window millimetres (u along the flow, v across), at the
    # place the rim is measured below (the turn adds to the shift away from the centre).
    to_template = window_to_template(demo)
    at = np.array([0.175 * demo.window_length_mm, demo.window_width_mm / 2, 1.0])
    unit = np.linalg.inv(photo.homography) @ photo.window_homography
    moved = np.linalg.inv(to_template) @ unit @ to_template @ at
    shift_v = float(moved[1] / moved[2] - at[1])
    centre = np.array([demo.window_length_mm / 2, demo.window_width_mm / 2, 1.0])
    moved_centre = np.linalg.inv(to_template) @ unit @ to_template @ centre
    assert np.hypot(*(moved_centre[:2] / moved_centre[2] - centre[:2])) == pytest.approx(1.5)
    # The photo shows it: seen through the template's window, the rim moved across.
    ppm = 10.0
    seen = _rim_rows(photo.image, demo, photo.homography, ppm)
    nominal = _rim_rows(plain.image, demo, plain.homography, ppm)
    assert abs(shift_v) > 1.0
    assert seen - nominal == pytest.approx([shift_v, shift_v], abs=0.2)
    # Through the true window, the rim is where the kit says it is.
    true = _rim_rows(photo.image, demo, photo.window_homography, ppm)
    assert np.abs(true - nominal).max() <= 0.2


def test_lines_shift_and_tilt_are_applied(demo: Kit) -> None:
    photo = _photo(demo, 4, Variation(lines_shift_mm=1.2, lines_tilt_deg=2.0), clean=True)
    for line in demo.lines:
        shift_mm = (photo.line_at[line.name] - line.at) * demo.window_length_mm
        assert shift_mm == pytest.approx(1.2, abs=0.25)  # plus each line's own 0.2 mm jitter


def test_hand_applied_label_decodes_at_its_offset(demo: Kit) -> None:
    v = Variation(
        code_label=True, code_offset_mm=(5.0, 0.0), code_rotation_deg=8.0, label_margin_mm=2.0
    )
    photo = _photo(demo, 6, v)
    plain = _photo(demo, 6, Variation())
    assert photo.code_corners is not None
    assert plain.code_corners is not None
    found = [b for b in zxingcpp.read_barcodes(photo.decoded()) if b.text == "VIGIL-0042-XYZ"]
    assert found, "the label's code must decode"
    p = found[0].position
    decoded = np.array(
        [[c.x, c.y] for c in (p.top_left, p.top_right, p.bottom_right, p.bottom_left)]
    )
    module = np.linalg.norm(photo.code_corners[1] - photo.code_corners[0]) / 21
    assert np.abs(decoded - photo.code_corners).max() < 2 * module
    # 5 mm away from the template's code box, turned by 8 degrees.
    ppm = photo.window_px_per_mm
    assert ppm is not None
    offset = photo.code_corners.mean(0) - plain.code_corners.mean(0)
    assert np.linalg.norm(offset) / ppm == pytest.approx(5.0, rel=0.15)

    def angle(c: np.ndarray) -> float:
        d = c[1] - c[0]
        return math.degrees(math.atan2(d[1], d[0]))

    assert abs(angle(photo.code_corners) - angle(plain.code_corners)) == pytest.approx(8.0, abs=1.0)


def test_label_edge_is_visible(demo: Kit) -> None:
    """Paper on plastic: a step in the photo all along the label's edge, none without it."""
    v = Variation(code_label=True, code_offset_mm=(0.0, 4.0), label_margin_mm=2.0, label_paper=0.9)
    photo = _photo(demo, 7, v, clean=True)
    plain = _photo(demo, 7, Variation(), clean=True)
    assert photo.code_corners is not None
    box = demo.code_box
    assert box is not None
    c = photo.code_corners
    centre = c.mean(0)
    grow = (box.size + 2 * v.label_margin_mm * demo.px_per_mm) / box.size
    label = centre + (c - centre) * grow  # the label's corners in the photo
    ppm = photo.window_px_per_mm
    assert ppm is not None
    steps = {"label": [], "plain": []}
    # Across the label's bottom edge (nearest the template's blank plastic), at 5 points.
    a, b = label[3], label[2]
    out = (b - a)[::-1] * np.array([-1, 1]) / np.linalg.norm(b - a)  # outward normal
    if np.dot(out, centre - a) > 0:
        out = -out
    for t in np.linspace(0.2, 0.8, 5):
        p = a + t * (b - a)
        inside, outside = np.round(p - 0.6 * ppm * out), np.round(p + 0.6 * ppm * out)
        for name, img in (("label", photo.image), ("plain", plain.image)):
            i, o = img[int(inside[1]), int(inside[0])], img[int(outside[1]), int(outside[0])]
            steps[name].append(np.abs(i.astype(int) - o.astype(int)).max())
    assert min(steps["label"]) > 10
    assert max(steps["plain"]) < 6


def _edge_width_mm(image: np.ndarray, kit: Kit, hom: np.ndarray) -> float:
    """10-90 % width of the step from the rim up to the membrane, across the long sides (mm)."""
    ppm = 40.0
    strip = rectify_window(image, kit, hom, px_per_mm=ppm, margin_mm=1.5).astype(float)
    n = strip.shape[1]
    across = strip[:, n // 10 : n // 4].mean(axis=(1, 2))  # bare membrane between the ends
    widths = []
    for half in (across[: len(across) // 2], across[len(across) // 2 :][::-1]):
        rise = half[int(np.argmin(half)) :]  # from the rim's darkest towards the membrane
        lo, hi = rise[0], rise[-round(0.5 * ppm) :].mean()
        t = (rise - lo) / (hi - lo)
        widths.append((np.argmax(t > 0.9) - np.argmax(t > 0.1)) / ppm)
    return float(np.mean(widths))


def test_moulded_rim_is_soft_and_casts_a_shadow(gold: Kit) -> None:
    rim = Variation(rim_bevel_mm=0.35, rim_light_deg=90.0, rim_shadow=0.3)
    photo = _photo(gold, 2, rim, size=(2400, 1800), clean=True)
    plain = _photo(gold, 2, Variation(), size=(2400, 1800), clean=True)
    assert photo.homography is not None
    assert plain.homography is not None
    soft, sharp = (
        _edge_width_mm(photo.image, gold, photo.homography),
        _edge_width_mm(plain.image, gold, plain.homography),
    )
    # Sharp real photos measure 0.25-0.36 mm on moulded rims; a printed step about 0.1 mm.
    assert 0.25 <= soft <= 0.6
    assert sharp < 0.18
    # Light from the top of the template (flow "right": v runs down): the upper wall shades
    # the membrane beside it; without a rim both sides are alike.
    ppm = 20.0

    def sides(image: np.ndarray, hom: np.ndarray) -> float:
        strip = rectify_window(image, gold, hom, px_per_mm=ppm).astype(float)
        n = strip.shape[1]
        band = strip[:, n // 10 : n // 4].mean(axis=(1, 2))
        k = round(0.4 * ppm)
        return float(band[2 : 2 + k].mean() / band[-2 - k : -2].mean())

    assert sides(photo.image, photo.homography) < 0.97
    assert abs(sides(plain.image, plain.homography) - 1) < 0.02


def test_phone_optics_soften_every_edge(gold: Kit) -> None:
    soft = _photo(gold, 2, Variation(optics_sigma_px=1.5), size=(2400, 1800), clean=True)
    plain = _photo(gold, 2, Variation(), size=(2400, 1800), clean=True)
    assert soft.homography is not None
    assert plain.homography is not None
    assert soft.window_px_per_mm is not None
    widened = _edge_width_mm(soft.image, gold, soft.homography)
    sharp = _edge_width_mm(plain.image, gold, plain.homography)
    # A Gaussian of sigma 1.5 px spreads a step over 2.56 sigma (10-90 %).
    assert widened - sharp == pytest.approx(2.56 * 1.5 / soft.window_px_per_mm, abs=0.1)


def test_small_cassette_spans_ten_to_fifteen_percent(demo: Kit) -> None:
    photo = _photo(demo, 11, Variation(kit_frac=0.12, size=(4000, 3000)), size=None)
    assert photo.image.shape == (3000, 4000, 3)
    assert 0.10 <= photo.meta["kit_frac"] <= 0.15
    assert photo.window_px_per_mm is not None
    assert photo.window_px_per_mm >= 4.0


def test_phone_processing_smears_texture_and_sharpens_with_halos(gold: Kit) -> None:
    ppm = 10.0

    def window(v: Variation) -> np.ndarray:
        p = _photo(gold, 12, v)
        assert p.homography is not None
        return rectify_window(p.image, gold, p.homography, px_per_mm=ppm).astype(float)[..., 1]

    plain = window(Variation())
    smeared = window(Variation(denoise=16.0))
    sharpened = window(Variation(sharpen_amount=1.5, sharpen_radius_px=2.0))
    rows = slice(plain.shape[0] // 4, 3 * plain.shape[0] // 4)
    n = plain.shape[1]
    flat = (rows, slice(n // 10, n // 4))  # bare membrane

    def texture(w: np.ndarray) -> float:
        patch = w[flat]
        return float(np.std(patch - patch.mean(axis=0)))

    assert texture(smeared) < 0.8 * texture(plain)
    # Halo: beside the control line the membrane is brighter than further away.
    control = next(line for line in gold.lines if line.role == "control")

    def halo(w: np.ndarray) -> float:
        prof = w[rows].mean(axis=0)
        c = round(control.at * n)
        k = round(gold.line_width_mm * ppm)
        near = max(prof[c - k - 4 : c - k].max(), prof[c + k : c + k + 4].max())
        far = np.median(np.r_[prof[c - 3 * k - 6 : c - 3 * k], prof[c + 3 * k : c + 3 * k + 6]])
        return float(near - far)

    assert halo(sharpened) > halo(plain) + 2


@pytest.mark.parametrize(("name", "clipped"), [("pink", 0), ("yellow", 2)])
def test_tinted_membrane_clips_a_channel_the_lines_are_not_read_in(
    gold: Kit, name: str, clipped: int
) -> None:
    tint = {"pink": (0.97, 0.64, 1.0), "yellow": (0.5, 0.74, 1.0)}[name]
    v = Variation(membrane_tint=tint, membrane_name=name, read_level=0.85)
    photo = _photo(gold, 13, v, clean=True)
    assert photo.homography is not None
    win = rectify_window(photo.image, gold, photo.homography, px_per_mm=6)
    n = win.shape[1]
    bare = win[win.shape[0] // 4 : -win.shape[0] // 4, n // 10 : n // 4].reshape(-1, 3)
    assert np.mean(bare[:, clipped] >= 250) > 0.8  # saturated (BGR: 0 blue, 2 red)
    assert np.median(bare[:, 1]) < 245  # green, where the gold lines are read, is not
    assert np.mean(bare[:, 1] >= 250) < 0.01
    assert np.median(bare[:, 1]) > 180  # and well exposed


def test_burst_motion_is_labelled_unfit_and_smears_the_lines(demo: Kit) -> None:
    photo = _photo(demo, 14, Variation(), flaw="motion")
    assert photo.truth["fit"] is False
    assert photo.truth["flaw"] == "motion"
    assert 3.0 <= photo.meta["motion_mm"] <= 6.0
    assert not any(b.text == "VIGIL-0042-XYZ" for b in zxingcpp.read_barcodes(photo.decoded()))
    sharp = _photo(demo, 14, Variation())
    assert photo.homography is not None
    assert sharp.homography is not None

    def line_depth(image: np.ndarray, hom: np.ndarray) -> float:
        strip = rectify_window(image, demo, hom, px_per_mm=10).astype(float)
        prof = strip[strip.shape[0] // 4 : -strip.shape[0] // 4].mean(axis=0).min(axis=1)
        return float(np.median(prof) - prof[len(prof) // 10 : -len(prof) // 10].min())

    assert line_depth(photo.image, photo.homography) < 0.6 * line_depth(
        sharp.image, sharp.homography
    )


def test_generate_records_the_variation(tmp_path: Path, demo: Kit) -> None:
    labels = generate(
        tmp_path / "a",
        [demo],
        3,
        seed=2,
        size=(800, 600),
        variation="realworld-wide",
        progress=False,
    )
    again = generate(
        tmp_path / "b",
        [demo],
        3,
        seed=2,
        size=(800, 600),
        variation="realworld-wide",
        progress=False,
    )
    assert labels.read_bytes() == again.read_bytes()
    for text in labels.read_text().splitlines():
        rec = json.loads(text)
        v = rec["variation"]
        assert v["profile"] == "realworld-wide"
        assert 1.0 <= math.hypot(*v["window_offset_mm"]) <= 1.5
        assert v["code_label"] is True
        assert Variation(**{k: tuple(x) if isinstance(x, list) else x for k, x in v.items()})
        assert np.asarray(rec["window_homography"]).shape == (3, 3)
        assert rec["window_homography"] != rec["homography"]
        assert np.asarray(rec["code_corners"]).shape == (4, 2)
    with pytest.raises(ValueError, match="unknown variation"):
        generate(tmp_path / "c", [demo], 1, seed=0, variation="wild", progress=False)


def test_labels_are_never_stuck_over_the_window(demo: Kit) -> None:
    """Drawn for a kit, a label 2-5 mm off stays 2 mm clear of the result window."""
    box, w = demo.code_box, demo.window
    assert box is not None
    window = shapely.box(w.x, w.y, w.x + w.w, w.y + w.h)
    ppm = demo.px_per_mm
    for i in range(40):
        v = draw_variation(np.random.default_rng(i), "realworld-wide", kit=demo)
        assert v.code_label
        assert 2.0 <= math.hypot(*v.code_offset_mm) <= 5.0
        half = box.size / 2 + v.label_margin_mm * ppm
        label = shapely.affinity.rotate(
            shapely.box(-half, -half, half, half), -v.code_rotation_deg, origin=(0, 0)
        )
        cx = box.x + box.size / 2 + v.code_offset_mm[0] * ppm
        cy = box.y + box.size / 2 + v.code_offset_mm[1] * ppm
        label = shapely.affinity.translate(label, cx, cy)
        assert label.distance(window) >= 2.0 * ppm - 1e-6
    strip = parse_kit(*random_kit(np.random.default_rng(1), fmt="strip"))
    assert not draw_variation(np.random.default_rng(0), "realworld-wide", kit=strip).code_label
