"""The locator's structure measure gives the same numbers for the same photo, every run."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from datasets.render import render_photo
from pipeline.decode import decode_photo
from pipeline.kit import load_kit
from pipeline.locate.pyramid import Pyramid
from pipeline.locate.structure import edge_strength

ROOT = Path(__file__).resolve().parents[2]


def _at_offset(image: np.ndarray, offset: int) -> np.ndarray:
    """A copy of ``image`` whose data starts ``offset`` bytes past a 64-byte boundary."""
    buffer = np.zeros(image.nbytes + 128, np.uint8)
    start = (-buffer.ctypes.data) % 64 + offset
    copy = buffer[start : start + image.nbytes].view(image.dtype).reshape(image.shape)
    copy[...] = image
    return copy


@pytest.mark.parametrize("offset", [4, 8, 16, 32])
def test_edge_strength_does_not_depend_on_where_the_image_lies_in_memory(offset: int) -> None:
    # cv2.magnitude rounded differently on arrays 8 bytes off a 16-byte boundary; the
    # template's corner patches followed those last bits, and a rendered cassette of the
    # read benchmark's wide slice was accepted in one run and read by eye in the next.
    kit = load_kit(ROOT / "datasets" / "kits" / "demo" / "kit.json")
    photo = render_photo(
        kit, np.random.default_rng(3), od={"C": 0.3}, code="UNIT0001", size=(640, 480)
    )
    image = decode_photo(photo.jpeg).image.astype(np.float32)
    reference = edge_strength(_at_offset(image, 0))
    assert np.array_equal(edge_strength(_at_offset(image, offset)), reference)


def test_pyramid_view_is_the_photo_warped_in_its_own_three_channels() -> None:
    # The pyramid warps a four-channel copy (OpenCV's faster path): the view must be the
    # very pixels a warp of the photo itself gives, inside the picture and beyond its edge.
    rng = np.random.default_rng(7)
    photo = rng.integers(0, 256, (300, 400, 3)).astype(np.uint8)
    pyramid = Pyramid(photo)
    frame_to_template = np.array([[1.5, 0, -20.0], [0, 1.5, -10.0], [0, 0, 1.0]])
    homography = np.array([[0.9, 0.15, 40.0], [-0.1, 0.95, 30.0], [2e-4, -1e-4, 1.0]])
    view, real = pyramid.warp(homography, frame_to_template, (180, 240), judge=False)
    expected = cv2.warpPerspective(
        photo,
        homography @ frame_to_template,
        (180, 240),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0),
    )
    assert view.shape == expected.shape
    np.testing.assert_array_equal(view, expected)
    assert real.any()
    assert not real.all()  # the frame reaches beyond the picture
