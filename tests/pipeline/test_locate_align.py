"""The alignment's robust fit: corners and edges to a homography, clutter left out; its
final agreement from the last view resampled."""

from __future__ import annotations

import numpy as np
import pytest

from datasets.render import render_photo
from pipeline.decode import decode_photo
from pipeline.kit import load_kit
from pipeline.locate.align import _fit, _look, _match, _resampled, alignment_scores
from pipeline.locate.pyramid import Pyramid
from pipeline.locate.template import prepared_pass


def _mapped(h: np.ndarray, points: np.ndarray) -> np.ndarray:
    p = np.c_[points, np.ones(len(points))] @ h.T
    return p[:, :2] / p[:, 2:]


@pytest.mark.parametrize("motion", ["homography", "affine"])
def test_fit_recovers_the_correction_and_drops_clutter(motion: str) -> None:
    rng = np.random.default_rng(11)
    size = (200, 500)
    truth = np.array([[1.01, 0.004, 1.5], [-0.006, 0.99, -2.0], [0.0, 0.0, 1.0]])
    if motion == "homography":
        truth[2, :2] = (2e-5, -1e-5)
    corners = rng.uniform((10, 10), (190, 490), (14, 2))
    edges = rng.uniform((10, 10), (190, 490), (12, 2))
    angles = rng.uniform(0, np.pi, 12)
    normals = np.r_[np.zeros((14, 2)), np.c_[np.cos(angles), np.sin(angles)]]
    src = np.r_[corners, edges]
    dst = _mapped(truth, src) + rng.normal(0, 0.05, src.shape)
    # An edge patch matched anywhere along its edge: only the offset across it is known.
    along = np.c_[-normals[14:, 1], normals[14:, 0]]
    dst[14:] += along * rng.uniform(-3, 3, (12, 1))
    dst[[2, 5, 16]] += (9.0, -7.0)  # clutter: two corners and an edge matched elsewhere
    fitted = _fit(src, dst, normals, np.ones(len(src)), motion, 1.0, size)
    assert fitted is not None
    correction, keep = fitted
    error = _mapped(correction, src) - _mapped(truth, src)
    assert np.abs(error).max() < 0.2
    assert not keep[[2, 5, 16]].any()
    assert keep.sum() >= len(src) - 4


def test_too_few_matches_fit_nothing() -> None:
    src = np.array([[10.0, 10.0], [50.0, 20.0], [30.0, 90.0]])
    normals = np.zeros((3, 2))
    assert _fit(src, src + 1, normals, np.ones(3), "homography", 1.0, (100, 100)) is None


def test_fit_from_edges_alone_refines_a_near_start() -> None:
    # Too few corners for RANSAC: Gauss-Newton from no correction does all the work.
    rng = np.random.default_rng(5)
    truth = np.array([[1.002, 0.001, 0.6], [-0.0015, 0.998, -0.4], [1e-5, -5e-6, 1.0]])
    src = rng.uniform((10, 10), (190, 490), (30, 2))
    angles = rng.uniform(0, np.pi, 30)
    normals = np.c_[np.cos(angles), np.sin(angles)]
    normals[:3] = 0.0  # three corners
    dst = _mapped(truth, src) + rng.normal(0, 0.02, src.shape)
    fitted = _fit(src, dst, normals, np.ones(30), "homography", 1.0, (200, 500))
    assert fitted is not None
    assert np.abs(_mapped(fitted[0], src) - _mapped(truth, src)).max() < 0.05


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_agreement_through_the_last_correction_from_the_view_resampled(seed: int) -> None:
    # The last pass's view resampled through its correction judges the print as a view
    # warped anew from the photo through the corrected map would.
    kit = load_kit("datasets/kits/demo/kit.json")
    ods = {line.name: 0.3 for line in kit.lines}
    photo = render_photo(kit, np.random.default_rng(seed), od=ods, code="RS", size=(1600, 1200))
    assert photo.homography is not None
    pyramid = Pyramid(decode_photo(photo.jpeg, reduce=1).image)
    start = photo.homography @ np.array([[1, 0, 4.0], [0, 1, -3.0], [0, 0, 1]])  # 0.4 mm off
    level = prepared_pass(kit, 6.0, 4.0, 1.0)
    seen = _look(level, pyramid, start)
    match = _match(level, seen, start)
    assert match.correction is not None
    fresh = alignment_scores(level, pyramid, match.homography)
    resampled = alignment_scores(
        level, pyramid, match.homography, _resampled(seen, match.correction)
    )
    assert resampled["score"] == pytest.approx(fresh["score"], abs=0.01)
    assert resampled["seen"] == pytest.approx(fresh["seen"], abs=0.01)
