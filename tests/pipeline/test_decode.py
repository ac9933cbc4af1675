"""Photo decoding: refusals from headers, orientation, reduced decoding, odd pixel formats."""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from pipeline.decode import (
    HEIF_SUPPORTED,
    PhotoError,
    PhotoInfo,
    choose_reduction,
    decode_photo,
    probe,
    shrink_photo,
)


def _pattern(h: int = 96, w: int = 128) -> np.ndarray:
    """BGR test picture with a marked top-left corner (red block) so orientation shows."""
    image = np.full((h, w, 3), 128, np.uint8)
    image[: h // 4, : w // 4] = (0, 0, 255)
    return image


def _jpeg(image: np.ndarray, **kwargs: object) -> bytes:
    bio = io.BytesIO()
    Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)).save(bio, "JPEG", quality=95, **kwargs)
    return bio.getvalue()


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
    )


def _is_red(pixel: np.ndarray) -> bool:
    b, g, r = (int(v) for v in pixel)
    return r > 200 and g < 60 and b < 60


def test_empty_bytes_are_refused() -> None:
    with pytest.raises(PhotoError) as err:
        probe(b"")
    assert err.value.code == "empty"


@pytest.mark.parametrize(
    "data",
    [
        np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes(),
        b"Dear doctor,\nplease find my test result attached.\n" * 20,
    ],
    ids=["random", "text"],
)
def test_non_images_are_refused(data: bytes) -> None:
    with pytest.raises(PhotoError) as err:
        decode_photo(data)
    assert err.value.code == "not_an_image"
    assert "photo" in str(err.value)


def test_unsupported_format_is_named() -> None:
    bio = io.BytesIO()
    Image.new("RGB", (20, 20)).save(bio, "GIF")
    with pytest.raises(PhotoError) as err:
        probe(bio.getvalue())
    assert err.value.code == "unsupported_format"
    assert "GIF" in str(err.value)


def test_decompression_bomb_is_refused_from_the_header() -> None:
    # A 10000 x 6000 PNG header (60 MP) with a tiny, incomplete body: probing must not decode.
    header = struct.pack(">IIBBBBB", 10000, 6000, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", b"")
    with pytest.raises(PhotoError) as err:
        probe(data)
    assert err.value.code == "too_large"
    with pytest.raises(PhotoError):
        decode_photo(data)


def test_truncated_jpeg_is_refused() -> None:
    rng = np.random.default_rng(1)
    data = _jpeg(rng.integers(0, 256, (200, 300, 3), dtype=np.uint8))
    assert decode_photo(data).image.shape == (200, 300, 3)
    with pytest.raises(PhotoError) as err:
        decode_photo(data[: len(data) * 2 // 3])
    assert err.value.code == "truncated"


def test_jpeg_with_trailing_data_after_the_picture_is_accepted() -> None:
    data = _jpeg(_pattern()) + b"\x00" * 100 + b"vendor trailer"
    assert decode_photo(data).image.shape == (96, 128, 3)


def test_truncated_png_is_refused() -> None:
    _ok, png = cv2.imencode(".png", _pattern())
    data = png.tobytes()
    with pytest.raises(PhotoError) as err:
        decode_photo(data[: len(data) - 20])
    assert err.value.code in ("truncated", "not_an_image")


@pytest.mark.parametrize("reduce", [1, 2, 4, 8])
def test_reduced_jpeg_decoding(reduce: int) -> None:
    data = _jpeg(_pattern(480, 640))
    photo = decode_photo(data, reduce=reduce)
    assert photo.image.shape == (480 // reduce, 640 // reduce, 3)
    assert photo.image.dtype == np.uint8
    assert photo.scale == pytest.approx(1 / reduce)
    assert photo.original_size == (640, 480)
    # The decoded-to-original map sends the last decoded pixel centre to the last block centre.
    h, w = photo.image.shape[:2]
    x, y, _ = photo.to_original @ [w - 1, h - 1, 1]
    assert (x, y) == pytest.approx((640 - (reduce + 1) / 2, 480 - (reduce + 1) / 2))


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_is_applied_on_every_path(orientation: int) -> None:
    stored = _pattern(96, 128)
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = _jpeg(stored, exif=exif.tobytes())
    info = probe(data)
    assert info.orientation == orientation
    upright = {
        3: cv2.rotate(stored, cv2.ROTATE_180),
        6: cv2.rotate(stored, cv2.ROTATE_90_CLOCKWISE),
        8: cv2.rotate(stored, cv2.ROTATE_90_COUNTERCLOCKWISE),
    }[orientation]
    uh, uw = upright.shape[:2]
    assert (info.width, info.height) == (uw, uh)
    red = np.argwhere((upright[:, :, 2] > 200) & (upright[:, :, 0] < 60))
    ry, rx = red.mean(axis=0)
    for reduce in (1, 2):
        photo = decode_photo(data, reduce=reduce)
        assert photo.original_size == (uw, uh)
        assert photo.image.shape[:2] == (uh // reduce, uw // reduce)
        assert _is_red(photo.image[int(ry) // reduce, int(rx) // reduce])
    # Same for WebP, which is decoded and then resized.
    bio = io.BytesIO()
    Image.fromarray(cv2.cvtColor(stored, cv2.COLOR_BGR2RGB)).save(
        bio, "WEBP", lossless=True, exif=exif.tobytes()
    )
    photo = decode_photo(bio.getvalue(), reduce=2)
    assert photo.original_size == (uw, uh)
    assert _is_red(photo.image[int(ry) // 2, int(rx) // 2])


def test_png_with_alpha_becomes_bgr_on_white() -> None:
    image = np.zeros((40, 60, 4), np.uint8)
    image[:, :30] = (255, 0, 0, 255)  # opaque blue
    _ok, png = cv2.imencode(".png", image)  # right half fully transparent
    photo = decode_photo(png.tobytes())
    assert photo.image.shape == (40, 60, 3)
    assert photo.image[20, 10].tolist() == [255, 0, 0]
    assert photo.image[20, 50].tolist() == [255, 255, 255]


def test_sixteen_bit_and_grey_pngs_become_bgr8() -> None:
    deep = np.full((30, 50, 3), 40000, np.uint16)
    _ok, png = cv2.imencode(".png", deep)
    photo = decode_photo(png.tobytes(), reduce=2)
    assert photo.image.dtype == np.uint8
    assert photo.image.shape == (15, 25, 3)
    assert abs(int(photo.image[5, 5, 0]) - 40000 // 256) <= 1
    _ok, grey = cv2.imencode(".png", np.full((30, 50), 77, np.uint8))
    assert decode_photo(grey.tobytes()).image[0, 0].tolist() == [77, 77, 77]


def test_webp_is_decoded() -> None:
    _ok, webp = cv2.imencode(".webp", _pattern(), [cv2.IMWRITE_WEBP_QUALITY, 101])
    info = probe(webp.tobytes())
    assert info.format == "webp"
    photo = decode_photo(webp.tobytes(), reduce=4)
    assert photo.image.shape == (24, 32, 3)
    assert photo.scale == pytest.approx(0.25)


@pytest.mark.skipif(not HEIF_SUPPORTED, reason="pillow-heif not installed")
def test_heic_is_decoded_upright() -> None:
    bio = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(cv2.cvtColor(_pattern(64, 96), cv2.COLOR_BGR2RGB)).save(
        bio, "HEIF", quality=90, exif=exif.tobytes()
    )
    info = probe(bio.getvalue())
    assert info.format == "heif"
    photo = decode_photo(bio.getvalue())
    assert photo.original_size == (64, 96)
    assert photo.image.shape == (96, 64, 3)
    assert _is_red(photo.image[5, 60])  # the top-left block rotates to the top right


def test_choose_reduction_keeps_enough_pixels() -> None:
    info = PhotoInfo("jpeg", 4032, 3024)
    assert choose_reduction(info, 1000) == 4
    assert choose_reduction(info, 500) == 8
    assert choose_reduction(info, 2500) == 1
    assert choose_reduction(info, 2016) == 2


@pytest.mark.parametrize(("size", "reduce"), [((1632, 1224), 1), ((3264, 2448), 2)])
def test_shrunk_view_maps_its_pixels_to_the_full_photo(size: tuple[int, int], reduce: int) -> None:
    w, h = size
    image = np.full((h, w, 3), 40, np.uint8)
    centre = (1201.5, 803.5)  # a bright square's centre, full-size px (pixel centres on integers)
    image[796:812, 1194:1210] = 255
    photo = decode_photo(_jpeg(image), reduce=reduce)
    view = shrink_photo(photo, 1000)
    assert view.source is photo
    assert max(view.image.shape[:2]) == 1000
    assert view.scale == pytest.approx(1000 / w)
    grey = view.image[:, :, 1].astype(float) - 40
    grey[grey < 60] = 0  # the square only, not the JPEG's ringing around it
    ys, xs = np.indices(grey.shape)
    found = [(grey * xs).sum() / grey.sum(), (grey * ys).sum() / grey.sum(), 1.0]
    x, y, _ = view.to_original @ found
    # Within a quarter of a view pixel (the centroid of a resampled square is no finer).
    assert (x, y) == pytest.approx(centre, abs=0.25 / view.scale)


def test_photo_near_the_wanted_size_is_not_resampled() -> None:
    photo = decode_photo(_jpeg(_pattern(768, 1024)))
    assert shrink_photo(photo, 1000) is photo
