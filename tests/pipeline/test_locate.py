"""Finding the test in a photo: code path, template path, wrong product, accuracy against truth."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import segno

from datasets.kits import random_kit
from datasets.render import render_photo
from pipeline.decode import decode_photo
from pipeline.kit import Kit, load_kit, parse_kit
from pipeline.locate import (
    MIN_SCORE,
    CodeSighting,
    Location,
    code_homography,
    find_codes,
    locate,
    read_code,
    refine,
)
from pipeline.locate.find import judge
from pipeline.reading import QualityIssue
from pipeline.rectify import window_corners, window_px_per_mm

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT.parent / "shared" / "kit-spec" / "example"
needs_examples = pytest.mark.skipif(
    not (EXAMPLE / "truth.jsonl").exists(), reason="example photos not available"
)


@pytest.fixture(scope="module")
def loc_kit() -> Kit:
    return load_kit(ROOT / "datasets" / "kits" / "demo" / "kit.json")


@pytest.fixture(scope="module")
def loc_examples() -> dict[int, tuple[dict, np.ndarray]]:
    """Example photo number -> (truth, photo decoded at half size)."""
    out = {}
    for i, line in enumerate((EXAMPLE / "truth.jsonl").read_text().splitlines()):
        truth = json.loads(line)
        photo = decode_photo((EXAMPLE / truth["image"]).read_bytes(), reduce=2)
        out[i] = (truth, photo.image)
    return out


def _located(result: Location | QualityIssue) -> Location:
    assert isinstance(result, Location), result
    return result


def _window_error_mm(kit: Kit, found: np.ndarray, truth: np.ndarray) -> float:
    """Largest distance between the window corners of two homographies, in mm."""
    gap = np.linalg.norm(window_corners(kit, found) - window_corners(kit, truth), axis=1)
    return float(gap.max() / window_px_per_mm(kit, truth))


def test_find_codes_gives_upright_corners() -> None:
    qr = np.array(segno.make_qr("UNIT-0042").matrix, np.uint8)
    symbol = np.pad(np.kron(1 - qr, np.full((5, 5), 255, np.uint8)), 20, constant_values=255)
    n = symbol.shape[0]
    # Turned a quarter clockwise, the symbol's top-left corner lands at the image's top right.
    turned = cv2.rotate(symbol, cv2.ROTATE_90_CLOCKWISE)
    found = find_codes(turned)
    assert [c.text for c in found] == ["UNIT-0042"]
    top_left = found[0].corners[0]
    assert top_left == pytest.approx((n - 1 - 19.5, 19.5), abs=1.5)


def test_code_homography_maps_code_box_to_corners(loc_kit: Kit) -> None:
    box = loc_kit.code_box
    assert box is not None
    corners = np.array([[300, 200], [400, 210], [390, 310], [290, 300]], float)
    h = code_homography(loc_kit, CodeSighting("x", corners))
    mapped = cv2.perspectiveTransform(
        np.array([[[box.x, box.y], [box.x + box.size, box.y + box.size]]], float), h
    )[0]
    assert mapped[0] == pytest.approx(corners[0], abs=3)
    assert mapped[1] == pytest.approx(corners[2], abs=3)


@needs_examples
@pytest.mark.parametrize("number", [1, 3, 4, 6, 7])
def test_example_photos_are_found_by_their_code(
    loc_kit: Kit, loc_examples: dict, number: int
) -> None:
    truth, image = loc_examples[number]
    found = _located(locate(image, loc_kit))
    assert found.method == "code"
    assert found.code == truth["code"]
    assert found.score >= MIN_SCORE


@needs_examples
def test_example_location_does_not_depend_on_decoding_scale(
    loc_kit: Kit, loc_examples: dict
) -> None:
    data = (EXAMPLE / "photos" / "photo_3.jpg").read_bytes()
    half = _located(locate(decode_photo(data, reduce=2).image, loc_kit))
    quarter = decode_photo(data, reduce=4)
    coarse = _located(locate(quarter.image, loc_kit))
    # Both in half-size pixels: decoded quarter pixel -> full size -> half size.
    to_half = np.array([[0.5, 0, -0.25], [0, 0.5, -0.25], [0, 0, 1]]) @ quarter.to_original
    assert _window_error_mm(loc_kit, to_half @ coarse.homography, half.homography) < 0.3


@needs_examples
def test_painted_over_code_falls_back_to_the_template(loc_kit: Kit, loc_examples: dict) -> None:
    _, image = loc_examples[1]
    by_code = _located(locate(image, loc_kit))
    box = loc_kit.code_box
    assert box is not None
    painted = image.copy()
    corners = np.array(
        [
            [box.x, box.y],
            [box.x + box.size, box.y],
            [box.x + box.size, box.y + box.size],
            [box.x, box.y + box.size],
        ],
        float,
    )
    quad = cv2.perspectiveTransform(corners[None], by_code.homography)[0]
    cv2.fillConvexPoly(painted, np.round(quad).astype(np.int32), (200, 215, 205))
    assert not find_codes(painted)
    by_template = _located(locate(painted, loc_kit))
    assert by_template.method == "template"
    assert by_template.code is None
    assert _window_error_mm(loc_kit, by_template.homography, by_code.homography) < 0.3


@needs_examples
def test_blurred_example_asks_for_a_sharp_photo(loc_kit: Kit, loc_examples: dict) -> None:
    _, image = loc_examples[5]
    result = locate(image, loc_kit)
    assert isinstance(result, QualityIssue)
    assert result.code == "blur"


@needs_examples
@pytest.mark.parametrize("angle", [90, 180, 270, 37])
def test_rotated_photo_gives_the_same_window(loc_kit: Kit, loc_examples: dict, angle: int) -> None:
    _, image = loc_examples[6]
    upright = _located(locate(image, loc_kit))
    h, w = image.shape[:2]
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    size = (w, h) if angle in (180, 37) else (h, w)
    turn[:, 2] += np.array(size) / 2 - np.array([w, h]) / 2
    turned = cv2.warpAffine(image, turn, size, borderMode=cv2.BORDER_REPLICATE)
    found = _located(locate(turned, loc_kit))
    back = np.vstack([turn, [0, 0, 1]])
    assert _window_error_mm(loc_kit, found.homography, back @ upright.homography) < 0.3


def _moved_window_kit(kit: Kit) -> Kit:
    """The demo kit's cassette with its window (and rim) moved to the far end."""
    template = kit.template.copy()
    w = kit.window
    x0, y0, x1, y1 = int(w.x) - 4, int(w.y) - 4, int(w.x + w.w) + 4, int(w.y + w.h) + 4
    face = np.median(template[600:700, 20:60, :3].reshape(-1, 3), axis=0)
    template[y0:y1, x0:x1, :3] = face
    dy = 400
    cv2.rectangle(template, (x0, y0 + dy), (x1, y1 + dy), (150, 155, 150, 255), 5)
    template[y0 + 5 + dy : y1 - 5 + dy, x0 + 5 : x1 - 5, :3] = (240, 240, 240)
    doc = kit.to_json()
    doc["template"]["window"]["y"] = w.y + dy
    doc["template"]["code_box"]["y"] = 10.0  # the code is printed elsewhere too
    doc["product_code"] = "OTHER-PRODUCT"
    return parse_kit(doc, template)


@needs_examples
def test_other_layout_is_a_wrong_product(loc_kit: Kit, loc_examples: dict) -> None:
    other = _moved_window_kit(loc_kit)
    _, image = loc_examples[3]
    result = locate(image, other)
    assert isinstance(result, QualityIssue)
    assert result.code == "wrong_product"
    assert "different test" in result.message


def test_empty_scene_has_no_cassette(loc_kit: Kit) -> None:
    rng = np.random.default_rng(3)
    table = cv2.resize(
        rng.integers(90, 160, (48, 64, 3), dtype=np.uint8),
        (640, 480),
        interpolation=cv2.INTER_NEAREST,
    )
    result = locate(table, loc_kit)
    assert isinstance(result, QualityIssue)
    assert result.code == "no_cassette"
    assert "could not find the test" in result.message


def _render(kit: Kit, seed: int, code: str | None) -> tuple[np.ndarray, np.ndarray]:
    """A fit synthetic photo decoded at the pipeline's locating size, and its true homography."""
    rng = np.random.default_rng(seed)
    ods = {line.name: (0.4 if line.role == "control" else 0.1) for line in kit.lines}
    photo = render_photo(kit, rng, od=ods, code=code, size=(1600, 1200))
    decoded = decode_photo(photo.jpeg, reduce=1)
    assert photo.homography is not None
    return decoded.image, photo.homography


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_synthetic_photos_within_a_third_of_a_millimetre(loc_kit: Kit, seed: int) -> None:
    image, truth = _render(loc_kit, seed, f"SYN{seed:05d}")
    found = _located(locate(image, loc_kit))
    assert found.method == "code"
    assert found.code == f"SYN{seed:05d}"
    assert _window_error_mm(loc_kit, found.homography, truth) < 0.3


@pytest.mark.parametrize("seed", [4, 5])
def test_template_path_on_other_designs(seed: int) -> None:
    document, template = random_kit(np.random.default_rng(seed))
    kit = parse_kit(document, template)
    image, truth = _render(kit, seed, "TPL-CODE")
    found = _located(locate(image, kit, codes=False))
    assert found.method == "template"
    assert _window_error_mm(kit, found.homography, truth) < 0.3


def test_design_of_another_kit_is_not_accepted(loc_kit: Kit) -> None:
    document, template = random_kit(np.random.default_rng(11))
    other = parse_kit(document, template)
    image, _ = _render(other, 11, "OTHER-UNIT")
    result = locate(image, loc_kit)
    assert isinstance(result, QualityIssue)
    assert result.code in ("wrong_product", "no_cassette")


def test_refine_recovers_a_shifted_start(loc_kit: Kit) -> None:
    image, truth = _render(loc_kit, 8, "SHIFTED")
    shift = np.array([[1, 0, 25.0], [0, 1, -18.0], [0, 0, 1]])  # about 2 mm off
    refined, metrics = refine(image, loc_kit, shift @ truth)
    assert _window_error_mm(loc_kit, refined, truth) < 0.3
    assert metrics["score"] >= MIN_SCORE


def test_read_code_finds_a_small_code_through_the_homography(loc_kit: Kit) -> None:
    image, truth = _render(loc_kit, 9, "SMALL-CODE")
    small = cv2.resize(image, None, fx=0.4, fy=0.4, interpolation=cv2.INTER_AREA)
    scaled = np.diag([0.4, 0.4, 1.0]) @ truth
    found = read_code(small, loc_kit, scaled)
    assert found is not None
    assert found.text == "SMALL-CODE"
    assert replace(found, text="x").corners.shape == (4, 2)


@pytest.mark.parametrize(
    ("method", "score", "window_score", "at_limit", "verdict"),
    [
        ("code", 0.93, 0.5, False, "ok"),  # many strong lines cross the rim band: still the kit
        ("code", 0.93, 0.2, False, "no"),  # the window is really elsewhere
        ("code", 0.8, 0.5, False, "rough"),  # placed too poorly to overlook the window: by eye
        ("template", 0.93, 0.5, False, "rough"),  # no code to vouch for the product: by eye
        ("template", 0.75, 0.65, False, "ok"),
        ("template", 0.75, 0.9, True, "rough"),  # the window may lie beyond its tolerance
        ("template", 0.75, 0.5, True, "no"),  # ... and matches poorly there
        ("template", 0.45, 0.9, False, "rough"),  # the print agrees only roughly (real units)
        # ... from BACKED_SCORE, a window found clearly backs it (a label covers the print)
        ("template", 0.5, 0.9, False, "backed"),
        ("template", 0.55, 0.7, False, "rough"),  # ... but not a window found only fairly
        ("template", 0.55, 0.9, True, "rough"),  # ... nor one on the edge of its search
        ("template", 0.3, 0.9, False, "no"),  # another product's print
        ("template", 0.75, float("nan"), False, "ok"),  # glare hides the window: gates report it
        # A rough print and no window in view: no evidence of the kit (a rendered cassette
        # was placed at four times its size and answered "window out of frame").
        ("template", 0.42, float("nan"), False, "no"),
    ],
)
def test_judgement_of_print_and_window_agreement(
    method: str, score: float, window_score: float, at_limit: bool, verdict: str
) -> None:
    found = Location(np.eye(3), method, "K7QX" if method == "code" else None, score, window_score)
    assert judge(found, at_limit) == verdict


def test_outline_contrast_samples_more_side_pairs_than_opencv_maps_allow_in_one_column() -> None:
    """A busy photo gave thousands of side pairs: one column of 12 points each overflowed
    cv2.remap's 32767 limit and the read raised instead of answering."""
    from pipeline.locate.outline import _inside_contrast

    grey = np.full((400, 600), 100, np.uint8)
    grey[100:300, 200:400] = 200  # a bright band between x = 200 and x = 400
    n = 4000  # 4000 pairs x 24 outside points, far over 32767
    side_a = np.tile([[200.0, 200.0]], (n, 1))
    side_b = np.tile([[400.0, 200.0]], (n, 1))
    axis = np.tile([[0.0, 1.0]], (n, 1))
    length = np.full(n, 150.0)
    contrast = _inside_contrast(grey, side_a, side_b, axis, length)
    assert contrast.shape == (n,)
    # The band is 100 grey levels brighter than what lies just outside it, on every pair.
    assert np.all(contrast > 10)
