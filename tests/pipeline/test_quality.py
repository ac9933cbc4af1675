"""Quality gates: fit photos pass, photos with each kind of flaw are caught for the right reason."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from datasets.render import render_photo
from pipeline.bands import optical_density_profile
from pipeline.decode import decode_photo
from pipeline.kit import Kit, load_kit
from pipeline.locate import Location, locate
from pipeline.quality import (
    BY_EYE_BLUR,
    MIN_PX_PER_MM,
    RETAKE_BLUR,
    QualityCheck,
    cassette_view,
    check_blur,
    check_exposure,
    check_framing,
    check_glare,
    check_resolution,
    photo_problem,
)
from pipeline.reading import QualityIssue
from pipeline.rectify import rectify_window, window_px_per_mm
from pipeline.sharpness import SHARP_TILE_PX, edge_spread_mm, photo_blur_px

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT.parent / "shared" / "kit-spec" / "example"
needs_examples = pytest.mark.skipif(
    not (EXAMPLE / "truth.jsonl").exists(), reason="example photos not available"
)


@pytest.fixture(scope="module")
def loc_kit() -> Kit:
    return load_kit(ROOT / "datasets" / "kits" / "demo" / "kit.json")


def _gates(image: np.ndarray, homography: np.ndarray, kit: Kit, scale: float = 1.0) -> list[str]:
    """All gates the way the reader applies them (exposure in the lines' channel); codes of
    the issues found."""
    ppm = window_px_per_mm(kit, homography)
    out_ppm = float(np.clip(ppm, 5, 8))
    window = rectify_window(image, kit, homography, px_per_mm=out_ppm)
    channel = optical_density_profile(window, kit, out_ppm).channel
    surround = cassette_view(image, homography, kit)
    checks = [
        check_resolution(ppm / scale),
        check_framing(image.shape, homography, kit),
        check_exposure(window, surround, channel),
        check_glare(window, surround, channel),
        check_blur(image, homography, kit),
    ]
    return [issue.code for check in checks for issue in check]


def _render(kit: Kit, seed: int, flaw: str | None) -> tuple[np.ndarray, np.ndarray | None]:
    rng = np.random.default_rng(seed)
    photo = render_photo(
        kit, rng, od={"T": 0.1, "C": 0.5}, code=f"Q{seed}", flaw=flaw, size=(1600, 1200)
    )
    return decode_photo(photo.jpeg).image, photo.homography


def test_quality_check_is_iterable_over_its_issues() -> None:
    far = check_resolution(MIN_PX_PER_MM - 1)
    near = check_resolution(MIN_PX_PER_MM + 5)
    issues: list[QualityIssue] = []
    issues += far
    issues += near
    assert [i.code for i in issues] == ["too_far"]
    assert isinstance(near, QualityCheck)
    assert not near
    assert len(far) == 1
    assert "closer" in far.issues[0].message


@pytest.mark.parametrize("seed", [31, 32, 33, 34])
def test_fit_renders_pass_every_gate(loc_kit: Kit, seed: int) -> None:
    image, truth = _render(loc_kit, seed, None)
    assert truth is not None
    assert _gates(image, truth, loc_kit) == []


@pytest.mark.parametrize(
    ("flaw", "expected"),
    [
        ("blur", {"blur"}),
        ("dark", {"too_dark"}),
        ("overexposed", {"overexposed"}),
        ("glare", {"glare"}),
        ("cutoff", {"window_out_of_frame"}),
    ],
)
def test_flawed_renders_are_caught(loc_kit: Kit, flaw: str, expected: set[str]) -> None:
    image, truth = _render(loc_kit, 40, flaw)
    assert truth is not None
    found = set(_gates(image, truth, loc_kit))
    assert found & expected, found


def test_too_far_is_caught_from_the_resolution(loc_kit: Kit) -> None:
    _, truth = _render(loc_kit, 41, "far")
    assert truth is not None
    assert [i.code for i in check_resolution(window_px_per_mm(loc_kit, truth))] == ["too_far"]


def test_blur_is_measured_in_millimetres_whatever_the_distance(loc_kit: Kit) -> None:
    image, truth = _render(loc_kit, 42, None)
    assert truth is not None
    sharp = edge_spread_mm(image, truth, loc_kit)
    half = cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    smaller = edge_spread_mm(half, np.diag([0.5, 0.5, 1.0]) @ truth, loc_kit)
    ppm = window_px_per_mm(loc_kit, truth)
    soft = cv2.GaussianBlur(image, (0, 0), 0.8 * ppm)  # 0.8 mm of blur
    assert sharp < BY_EYE_BLUR * loc_kit.line_width_mm
    assert smaller < BY_EYE_BLUR * loc_kit.line_width_mm
    assert edge_spread_mm(soft, truth, loc_kit) > RETAKE_BLUR * loc_kit.line_width_mm


def test_framing_reports_the_share_of_the_window_in_view(loc_kit: Kit) -> None:
    image, truth = _render(loc_kit, 43, None)
    assert truth is not None
    check = check_framing(image.shape, truth, loc_kit)
    assert not check
    assert check.metrics["window_inside"] == 1.0
    moved = np.array([[1, 0, -window_px_per_mm(loc_kit, truth) * 200], [0, 1, 0], [0, 0, 1]])
    away = check_framing(image.shape, moved @ truth, loc_kit)
    assert [i.code for i in away] == ["window_out_of_frame"]
    assert away.metrics["window_inside"] < 1.0


def test_photo_problem_explains_photos_without_a_test() -> None:
    rng = np.random.default_rng(5)
    scene = cv2.resize(
        rng.integers(40, 200, (60, 80, 3), dtype=np.uint8),
        (800, 600),
        interpolation=cv2.INTER_NEAREST,
    )
    assert photo_problem(scene) is None
    problem = photo_problem(cv2.GaussianBlur(scene, (0, 0), 8))
    assert problem is not None
    assert problem.code == "blur"
    dim = photo_problem((scene // 6).astype(np.uint8))
    assert dim is not None
    assert dim.code == "too_dark"
    # A burst frame: smeared one way only, sharp the other way.
    streak = np.zeros((1, 41), np.float32)
    streak[0, :] = 1 / 41
    burst = photo_problem(cv2.filter2D(scene, -1, streak))
    assert burst is not None
    assert burst.code == "blur"
    # One colour channel clipped (a tinted scene) is not an overexposed photo.
    tinted = scene.copy()
    tinted[:, :, 0] = 255
    assert photo_problem(tinted) is None


@pytest.mark.parametrize(("sigma_lines", "by_eye"), [(0.3, False), (0.4, True)])
def test_phone_optics_in_focus_are_read_alone(
    loc_kit: Kit, sigma_lines: float, by_eye: bool
) -> None:
    # Phone optics in focus spread 1-1.8 px, up to 0.3 line widths at 5-8 px/mm: such a
    # photo is read by the model alone; softer than that it is read by eye, not refused.
    sigma_px = sigma_lines * loc_kit.line_width_mm * loc_kit.px_per_mm
    face = cv2.GaussianBlur(loc_kit.template[:, :, :3], (0, 0), sigma_px)
    check = check_blur(face, np.eye(3), loc_kit)
    assert [i.code for i in check] == []
    assert check.by_eye is by_eye


def test_a_sharpening_halo_along_the_window_edge_is_not_glare(loc_kit: Kit) -> None:
    # Wide-slice photo 015 of the read benchmark: a bright strip whose phone sharpening left
    # clipped rows 0.3-0.4 mm thick along the window's long edges was refused for glare.
    image, truth = _render(loc_kit, 43, None)
    assert truth is not None
    ppm = 7.6
    window = rectify_window(image, loc_kit, truth, px_per_mm=ppm)
    assert [i.code for i in check_glare(window, px_per_mm=ppm)] == []
    halo = window.copy()
    halo[:3], halo[-3:] = 255, 255
    assert [i.code for i in check_glare(halo)] == ["glare"]  # without the edge band left out
    assert [i.code for i in check_glare(halo, px_per_mm=ppm)] == []
    # A reflection across the middle, where the lines are read, still is glare.
    spot = halo.copy()
    h, w = spot.shape[:2]
    spot[h // 4 : 3 * h // 4, w // 2 : w // 2 + round(1.5 * ppm)] = 255
    assert [i.code for i in check_glare(spot, px_per_mm=ppm)] == ["glare"]


def test_glare_given_the_windows_exposure_answers_as_judging_it_itself() -> None:
    # A window washed out together with the cassette around it is overexposure, not glare.
    flooded = np.full((40, 160, 3), 255, np.uint8)
    bright = np.full((80, 200, 3), 255, np.uint8)
    dim = np.full((80, 200, 3), 180, np.uint8)
    for around in (bright, dim):
        exposure = check_exposure(flooded, around)
        given = check_glare(flooded, around, exposure=exposure)
        assert [i.code for i in given] == [i.code for i in check_glare(flooded, around)]
        assert given.metrics == check_glare(flooded, around).metrics
    assert [i.code for i in check_glare(flooded, bright)] == []
    assert [i.code for i in check_glare(flooded, dim)] == ["glare"]


def test_sharp_small_test_on_a_soft_texture_is_not_a_blurred_photo(loc_kit: Kit) -> None:
    # Wide-slice photos 023 and 058 of the read benchmark: a sharp test filling 12-14 % of
    # the width on a soft fabric filling the rest measured 3.1-3.2 px over the whole photo,
    # and the reader answered "blurred" before searching for the test.
    rng = np.random.default_rng(11)
    fabric = cv2.resize(rng.integers(90, 170, (60, 45, 3), dtype=np.uint8), (750, 1000))
    scene = cv2.GaussianBlur(fabric, (0, 0), 5)
    face = loc_kit.template
    s = 120 / face.shape[0]  # the kit spans 12 % of the photo's long side
    small = cv2.resize(face, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    alpha = small[:, :, 3:4] / 255.0
    y, x = 600, 420
    patch = scene[y : y + small.shape[0], x : x + small.shape[1]]
    patch[...] = (small[:, :, :3] * alpha + patch * (1 - alpha)).astype(np.uint8)
    scene = cv2.GaussianBlur(scene, (0, 0), 0.6)  # the phone's own optics
    assert photo_blur_px(scene) < SHARP_TILE_PX
    assert photo_problem(scene) is None
    # The same photo out of focus, or smeared by a burst, is blurred all over.
    defocus = photo_problem(cv2.GaussianBlur(scene, (0, 0), 4))
    assert defocus is not None
    assert defocus.code == "blur"
    streak = np.full((1, 31), 1 / 31, np.float32)
    burst = photo_problem(cv2.filter2D(scene, -1, streak))
    assert burst is not None
    assert burst.code == "blur"


@needs_examples
@pytest.mark.parametrize("number", range(8))
def test_example_photos_match_their_labels(loc_kit: Kit, number: int) -> None:
    truth = json.loads((EXAMPLE / "truth.jsonl").read_text().splitlines()[number])
    photo = decode_photo((EXAMPLE / truth["image"]).read_bytes(), reduce=2)
    found = locate(photo.image, loc_kit)
    if isinstance(found, QualityIssue):
        codes = [found.code]
    else:
        assert isinstance(found, Location)
        codes = _gates(photo.image, found.window, loc_kit, photo.scale)
    if truth["fit"]:
        assert codes == []
    else:
        assert truth["flaw"] in codes, codes
