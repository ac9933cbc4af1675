"""Masked correlation from plain ones: OpenCV's masked ZNCC, its flat areas, cut patterns."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.locate.correlate import Area, masked_pattern, masked_zncc
from pipeline.locate.window import _side, _sides_zncc


def _textured(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Smooth random structure, as the locator's blurred edge strength looks."""
    noise = rng.random(shape).astype(np.float32) * 10
    return cv2.GaussianBlur(noise, (0, 0), 1.5)


@pytest.mark.parametrize("seed", range(5))
def test_masked_zncc_is_opencvs_masked_mode(seed: int) -> None:
    rng = np.random.default_rng(seed)
    area = _textured(rng, (41, 37))
    pattern = _textured(rng, (21, 17))
    mask = np.ones((21, 17), np.float32)
    mask[rng.integers(0, 10) :, : rng.integers(3, 12)] = 0  # a corner hidden, as by a label
    ours = masked_zncc(Area(area), masked_pattern(pattern, mask), pattern.shape)
    theirs = cv2.matchTemplate(area, pattern, cv2.TM_CCOEFF_NORMED, mask=mask)
    assert ours.shape == theirs.shape
    assert np.abs(ours - theirs).max() < 1e-4
    assert np.unravel_index(ours.argmax(), ours.shape) == np.unravel_index(
        theirs.argmax(), theirs.shape
    )


def test_a_flat_area_under_the_mask_takes_the_value_asked_for() -> None:
    rng = np.random.default_rng(7)
    area = _textured(rng, (30, 30))
    area[:, 15:] = 0.0  # black beyond the picture's edge
    pattern = _textured(rng, (11, 11))
    mask = np.ones((11, 11), np.float32)
    prepared = masked_pattern(pattern, mask)
    res = masked_zncc(Area(area), prepared, pattern.shape, flat_value=-1.0)
    assert np.all(res[:, 15:] == -1.0)  # wholly over the flat part
    assert np.all(res[:, :4] > -1.0)  # wholly over the texture
    # Without a value for it, a flat area is no evidence either way.
    assert np.abs(masked_zncc(Area(area), prepared, pattern.shape)[:, 15:]).max() < 0.05
    assert masked_zncc(Area(area), None, pattern.shape).min() == -1.0


def test_sides_cut_to_their_band_give_the_whole_patterns_numbers() -> None:
    rng = np.random.default_rng(3)
    pattern = _textured(rng, (24, 60))
    sides = np.zeros((4, 24, 60), np.float32)
    sides[0, 2:6, 4:56] = 1  # a rim band's four sides
    sides[1, 18:22, 4:56] = 1
    sides[2, 6:18, 4:9] = 1
    sides[3, 6:18, 51:56] = 1
    area = Area(_textured(rng, (32, 70)))
    cut = [s for s in (_side(pattern, side) for side in sides) if s is not None]
    assert [s.pattern.mask.shape for s in cut] == [(4, 52), (4, 52), (12, 5), (12, 5)]
    whole = np.mean(
        [masked_zncc(area, masked_pattern(pattern, side), pattern.shape) for side in sides],
        axis=0,
    )
    assert np.abs(_sides_zncc(area, cut, pattern.shape) - whole).max() < 1e-5
