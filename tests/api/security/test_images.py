"""Template images: the header is judged before any pixel is decoded."""

from __future__ import annotations

import io
import resource
import struct
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from api.security.images import (
    ImageLimits,
    ImageRefusedError,
    inspect_image,
    sanitize_template,
)
from pipeline.kit import KitError, decode_template


def _chunk(kind: bytes, body: bytes) -> bytes:
    return (
        struct.pack(">I", len(body))
        + kind
        + body
        + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    )


def _huge_grey_png(side: int) -> bytes:
    """A valid single-colour 8-bit grey PNG of side x side pixels, compressed row by row.

    Written by hand so that making it never holds more than 100 rows in memory.
    """
    # Run-length matching: as small as level 9 on one colour, several times faster.
    compressor = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
    rows = bytes((side + 1) * 100)  # 100 rows of filter byte 0 then `side` black pixels
    parts = [compressor.compress(rows) for _ in range(side // 100)]
    parts.append(compressor.flush())
    idat = b"".join(parts)
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def bomb_png(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path: Path = tmp_path_factory.mktemp("bomb") / "bomb.png"
    data = _huge_grey_png(20000)
    path.write_bytes(data)
    return data


def _png(image: Image.Image, **params: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG", **params)
    return buf.getvalue()


def _peak_rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def test_bomb_png_is_what_the_issue_describes(bomb_png: bytes) -> None:
    # Guards the fixture itself: a small file that really declares 20000 x 20000.
    assert len(bomb_png) < 1_000_000
    assert bomb_png[12:16] == b"IHDR"
    assert struct.unpack(">II", bomb_png[16:24]) == (20000, 20000)
    # ... and whose pixel data is complete: it inflates to every row of the image.
    idat_length = struct.unpack(">I", bomb_png[33:37])[0]
    inflater = zlib.decompressobj()
    pending, inflated = bomb_png[41 : 41 + idat_length], 0
    while pending:
        inflated += len(inflater.decompress(pending, 1 << 24))
        pending = inflater.unconsumed_tail
    assert inflater.eof
    assert inflated == 20000 * 20001


@pytest.mark.parametrize("check", [inspect_image, sanitize_template, decode_template])
def test_20000_square_png_is_refused_with_bounded_memory(bomb_png: bytes, check: object) -> None:
    assert callable(check)
    rss_before = _peak_rss_kib()
    tracemalloc.start()
    try:
        with pytest.raises((ImageRefusedError, KitError), match="too many pixels"):
            check(bomb_png)
        _, traced_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rss_growth_mib = (_peak_rss_kib() - rss_before) / 1024
    # Decoding would need 400 MB (grey) to 1.6 GB (BGRA); the header costs next to nothing.
    assert traced_peak < 8 * 1024 * 1024
    assert rss_growth_mib < 64


def test_over_the_pixel_cap_but_under_pillows_own_is_refused() -> None:
    data = _png(Image.new("L", (5000, 4000)))  # 20 MP: Pillow alone would decode it
    with pytest.raises(ImageRefusedError, match="too many pixels"):
        inspect_image(data)


def test_a_long_thin_strip_is_refused() -> None:
    data = _png(Image.new("L", (20000, 1)))
    with pytest.raises(ImageRefusedError, match="on a side"):
        sanitize_template(data)


def test_byte_cap_is_checked_before_parsing() -> None:
    limits = ImageLimits(max_bytes=1000)
    with pytest.raises(ImageRefusedError, match="larger than"):
        inspect_image(b"\x00" * 1001, limits)


@pytest.mark.parametrize(
    ("fmt", "data"),
    [
        ("GIF", None),
        ("BMP", None),
        ("TIFF", None),
        ("text", b"<svg xmlns='http://www.w3.org/2000/svg'/>"),
        ("empty", b""),
    ],
)
def test_formats_other_than_png_jpeg_webp_are_refused(fmt: str, data: bytes | None) -> None:
    if data is None:
        buf = io.BytesIO()
        Image.new("RGB", (10, 10)).save(buf, fmt)
        data = buf.getvalue()
    with pytest.raises(ImageRefusedError):
        inspect_image(data)


def test_truncated_png_is_refused_cleanly() -> None:
    rng = np.random.default_rng(0)
    noisy = Image.fromarray(rng.integers(0, 255, (300, 300, 3), dtype=np.uint8))
    data = _png(noisy)
    with pytest.raises(ImageRefusedError, match="corrupt or truncated"):
        sanitize_template(data[: len(data) // 2])


def test_large_template_is_downscaled_keeping_alpha_and_reporting_scale() -> None:
    rgba = np.zeros((1500, 3000, 4), dtype=np.uint8)
    rgba[:, :1500] = (255, 0, 0, 255)  # left half opaque red, right half transparent
    out = sanitize_template(_png(Image.fromarray(rgba, "RGBA")))
    assert (out.width, out.height) == (2000, 1000)
    assert out.scale == pytest.approx(2000 / 3000)
    assert out.source.width == 3000
    with Image.open(io.BytesIO(out.png)) as stored:
        assert stored.format == "PNG"
        assert stored.mode == "RGBA"
        pixels = np.asarray(stored)
    # A point at template x=600 (opaque) lands at 600 * scale = 400; x=2400 at 1600.
    assert tuple(pixels[500, round(600 * out.scale)]) == (255, 0, 0, 255)
    assert pixels[500, round(2400 * out.scale), 3] == 0


def test_small_template_keeps_its_size_and_drops_metadata() -> None:
    from PIL import PngImagePlugin

    meta = PngImagePlugin.PngInfo()
    meta.add_text("Comment", "secret location")
    data = _png(Image.new("RGB", (400, 300), (10, 20, 30)), pnginfo=meta)
    out = sanitize_template(data)
    assert (out.width, out.height, out.scale) == (400, 300, 1.0)
    assert b"secret location" in data
    assert b"secret location" not in out.png
    assert decode_template(out.png).shape == (300, 400, 4)


def test_palette_png_with_transparency_keeps_it() -> None:
    image = Image.new("P", (50, 40), 1)
    image.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    data = _png(image, transparency=1)
    with Image.open(io.BytesIO(sanitize_template(data).png)) as stored:
        assert stored.mode == "RGBA"
        assert np.asarray(stored)[0, 0, 3] == 0


def test_sixteen_bit_grey_png_is_stored_as_eight_bit() -> None:
    grey16 = np.full((20, 30), 0x8000, dtype=np.uint16)
    data = _png(Image.fromarray(grey16))
    with Image.open(io.BytesIO(sanitize_template(data).png)) as stored:
        assert stored.mode == "L"
        assert stored.getpixel((0, 0)) == 0x80


def test_jpeg_and_webp_are_accepted_and_stored_as_png() -> None:
    for fmt in ("JPEG", "WEBP"):
        buf = io.BytesIO()
        Image.new("RGB", (4000, 3000), (200, 100, 50)).save(buf, fmt)
        out = sanitize_template(buf.getvalue())
        assert out.source.format == fmt
        assert (out.width, out.height) == (2000, 1500)
        with Image.open(io.BytesIO(out.png)) as stored:
            assert stored.format == "PNG"
            centre = np.asarray(stored)[750, 1000].astype(int)
            assert np.abs(centre - (200, 100, 50)).max() < 8
