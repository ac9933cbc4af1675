"""Real units read by the model, not sent to be read by eye, where a person reads them at a
glance and two pieces of evidence agree: a sticker covering part of the print, and a window
found beyond the kit's tolerance because the print itself was found off.

Regressions from the read benchmark's wide slice: photo 036 (print agreement 0.593 under a
hand-applied label, window found at 0.87) and photo 033 (a window misregistered 1.2 mm
found 2.06 mm from where a partly covered print put it, on the edge of a 2-mm search) were
both read right at confidence 1.0 and sent to be read by eye.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from real_world import encode, misregistered_kit

from datasets.kits import random_kit
from datasets.render import render_photo
from pipeline.decode import decode_photo
from pipeline.kit import Kit, load_kit, parse_kit
from pipeline.locate import MIN_SCORE, MIN_WINDOW_SCORE, Location, locate
from pipeline.locate.find import BACKED_SCORE
from pipeline.locate.window import find_window
from pipeline.read import read
from pipeline.rectify import window_corners, window_px_per_mm

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo() -> Kit:
    return load_kit(ROOT / "datasets" / "kits" / "demo" / "kit.json")


def _photo(kit: Kit, seed: int):
    rng = np.random.default_rng(seed)
    od = {line.name: (0.4 if line.role == "control" else 0.1) for line in kit.lines}
    return render_photo(kit, rng, od=od, code=f"UNIT{seed:04d}", size=(1600, 1200))


def _sticker(image: np.ndarray, homography: np.ndarray, kit: Kit, share: float) -> np.ndarray:
    """A plain paper sticker across the face's top end, over ``share`` of the print between
    that end and the window (a pharmacy's or the manufacturer's label stuck on by hand)."""
    th, tw = kit.template.shape[:2]
    top = 0.05 * th
    bottom = top + share * (kit.window.y - top)
    corners = np.array([[[0.1 * tw, top], [0.9 * tw, top], [0.9 * tw, bottom], [0.1 * tw, bottom]]])
    pts = cv2.perspectiveTransform(corners.astype(float), homography)[0]
    out = image.copy()
    cv2.fillPoly(out, [pts.round().astype(np.int32)], (226, 230, 230))
    return out


@pytest.mark.parametrize(("seed", "share"), [(2, 0.5), (5, 0.6)])
def test_print_partly_covered_is_read_when_the_window_backs_it(
    demo: Kit, seed: int, share: float
) -> None:
    photo = _photo(demo, seed)
    assert photo.homography is not None
    covered = encode(_sticker(photo.image, photo.homography, demo, share))
    found = locate(decode_photo(covered).image, demo)
    assert isinstance(found, Location), found
    # The case: the print alone is short of the product check, the window is clear.
    assert BACKED_SCORE <= found.score < MIN_SCORE
    assert found.window_score >= MIN_WINDOW_SCORE
    reading = read(covered, demo)
    assert reading.status == "ok", reading.issues
    assert reading.result == photo.truth["result"]


@pytest.mark.parametrize("share", [0.5, 0.8])
def test_another_design_under_the_same_sticker_is_not_the_kit(demo: Kit, share: float) -> None:
    document, template = random_kit(np.random.default_rng(11))
    other = parse_kit(document, template)
    photo = _photo(other, 11)
    assert photo.homography is not None
    covered = encode(_sticker(photo.image, photo.homography, other, share))
    reading = read(covered, demo)
    assert reading.status == "retake"
    assert reading.issues[0].code in ("wrong_product", "no_cassette")


def test_window_beyond_tolerance_from_a_print_found_off_is_found(demo: Kit) -> None:
    photo = _photo(demo, 3)
    truth = photo.homography
    assert truth is not None
    # The kit was measured on a unit whose window sat 1.5 mm away from this one's, and the
    # print was found 0.8 mm off the same way: the window lies 2.3 mm from where the print
    # puts it, beyond the 2-mm tolerance, which is about units, not about the search.
    measured_elsewhere = misregistered_kit(demo, 1.5, 0.0)
    start = truth @ np.array([[1, 0, 0.8 * demo.px_per_mm], [0, 1, 0], [0, 0, 1.0]])
    image = decode_photo(photo.jpeg).image
    fit = find_window(image, measured_elsewhere, start)
    assert fit is not None
    assert fit.shift_mm > measured_elsewhere.window_tolerance.shift_mm
    assert not fit.at_limit
    assert fit.score >= MIN_WINDOW_SCORE
    own = window_corners(demo, truth)
    seen = window_corners(measured_elsewhere, fit.homography)
    assert np.abs(own - seen).max() / window_px_per_mm(demo, truth) < 0.5
