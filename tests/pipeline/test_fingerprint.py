"""The same-photo hash: it survives re-encoding and resizing, tells photos apart, and
``read`` gives it for every photo it could decode, a retake's too."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from real_world import encode

from datasets.render import render_photo
from pipeline.fingerprint import area_means, dhash
from pipeline.kit import Kit, load_kit
from pipeline.read import read

ROOT = Path(__file__).resolve().parents[2]
SAME_PHOTO_BITS = 6  # the API's tolerance (api.readings.unit_check)


def bits(a: str | None, b: str | None) -> int:
    assert a is not None
    assert b is not None
    return (int(a, 16) ^ int(b, 16)).bit_count()


def decoded(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


@pytest.fixture(scope="module")
def demo() -> Kit:
    return load_kit(ROOT / "datasets" / "kits" / "demo" / "kit.json")


@pytest.mark.parametrize(
    ("height", "width"), [(768, 1024), (1224, 1632), (1008, 756), (375, 500), (61, 83), (8, 9)]
)
def test_the_averages_are_opencv_s_area_resize(height: int, width: int) -> None:
    """Hashes stored before, from ``cv2.resize(..., INTER_AREA)``, stay comparable."""
    rng = np.random.default_rng(width)
    noise = rng.integers(0, 255, (height, width), dtype=np.uint8)
    smooth = cv2.GaussianBlur(noise, (0, 0), max(1.0, width / 40))
    for grey in (noise, smooth):
        for size in ((9, 8), (4, 3)):
            expected = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
            assert np.array_equal(area_means(grey, *size), expected)


def test_the_hash_survives_re_encoding_and_tells_photos_apart() -> None:
    rng = np.random.default_rng(3)
    image = cv2.GaussianBlur(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8), (31, 31), 0)
    again = cv2.resize(decoded(encode(image, 60)), (320, 240))
    assert bits(dhash(image), dhash(again)) <= SAME_PHOTO_BITS
    other = cv2.GaussianBlur(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8), (31, 31), 0)
    assert bits(dhash(image), dhash(other)) > SAME_PHOTO_BITS


def test_read_hashes_the_photo_as_the_full_photo_s_hash(demo: Kit) -> None:
    """From the read's own reduced decode: within 2 bits of the full-size photo's hash, for
    the same photo re-encoded and resized too; another photo of the kit is told apart."""
    rng = np.random.default_rng(21)
    od = {line.name: (0.4 if line.role == "control" else 0.08) for line in demo.lines}
    photo = render_photo(demo, rng, od=od, code="HASH0001", size=(2048, 1536))
    reading = read(photo.jpeg, demo)
    assert reading.status == "ok", reading.issues
    full = decoded(photo.jpeg)
    assert bits(reading.photo_hash, dhash(full)) <= 2
    smaller = cv2.resize(full, (1300, 975), interpolation=cv2.INTER_AREA)
    assert bits(reading.photo_hash, read(encode(smaller, 70), demo).photo_hash) <= SAME_PHOTO_BITS
    other = render_photo(demo, rng, od=od, code="HASH0002", size=(2048, 1536))
    assert bits(reading.photo_hash, read(other.jpeg, demo).photo_hash) > SAME_PHOTO_BITS
    assert "photo_hash" not in reading.to_json()  # not part of rdt-reading/1


def test_a_retake_has_the_hash_and_an_undecodable_photo_none(demo: Kit) -> None:
    rng = np.random.default_rng(22)
    scene = cv2.GaussianBlur(rng.integers(0, 255, (768, 1024, 3), dtype=np.uint8), (0, 0), 20)
    data = encode(scene)
    reading = read(data, demo)  # no test in it
    assert reading.status == "retake"
    assert reading.photo_hash is not None
    assert reading.photo_hash == dhash(decoded(data))
    garbage = read(b"not a photo", demo)
    assert (garbage.status, garbage.photo_hash) == ("retake", None)
