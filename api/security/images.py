"""Template images are hostile input: look at the header, refuse, then re-encode.

A 0.4 MB PNG can declare 20000 x 20000 pixels; decoding it takes 400 MB to
1.6 GB and every page and worker that touches the product decodes the stored
template again. So the bytes are checked in this order, each step bounded:

1. the byte count (``max_bytes``), before anything is parsed;
2. the header only: Pillow's ``Image.open`` reads format and size lazily, and is
   told to try only PNG, JPEG and WebP (no other parser sees the bytes);
3. the declared size against ``max_pixels`` and ``max_side``, still without
   decoding (Pillow's own decompression-bomb check refuses anything past
   twice its 89 MP default at this point too);
4. only then decoding, JPEGs straight at a reduced scale (``draft``), and
   re-encoding as PNG with the long side at most ``stored_long_side``, alpha
   kept, metadata (EXIF, ICC, text chunks) dropped.

The caller stores :attr:`SanitizedImage.png` instead of the upload and
multiplies the kit's template pixel coordinates by :attr:`SanitizedImage.scale`.
The EXIF orientation is deliberately not applied: the kit's coordinates refer
to the pixel grid as stored, which is how the pipeline decodes it too.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class ImageLimits:
    """Limits for template images, with why each default is what it is."""

    max_bytes: int = 10 * 1024 * 1024
    """A printed-cassette template is a drawing or a scan; 10 MB holds a 16 MP PNG photo."""
    max_pixels: int = 4096 * 4096
    """16 MP: decoded as BGRA that is 64 MB, the most one request may cost."""
    max_side: int = 16384
    """A 1 x 16 M strip is within ``max_pixels`` yet no template; this bounds the aspect."""
    stored_long_side: int = 2000
    """What is stored: enough to place regions to a fraction of a millimetre on a cassette."""
    formats: tuple[str, ...] = ("PNG", "JPEG", "WEBP")


DEFAULT_LIMITS = ImageLimits()

_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)


class ImageRefusedError(ValueError):
    """The image cannot be accepted; the message says why, fit to show the sender."""


@dataclass(frozen=True)
class ImageHeader:
    """What the header says, read without decoding any pixel."""

    format: str
    width: int
    height: int


@dataclass(frozen=True)
class SanitizedImage:
    """The re-encoded image to store instead of the upload."""

    png: bytes
    width: int
    height: int
    scale: float
    """New long side / old long side (1.0 when not downscaled); multiply template
    pixel coordinates by it. The short side is rounded to whole pixels, so it is
    exact to within half a pixel."""
    source: ImageHeader


def inspect_image(data: bytes, limits: ImageLimits = DEFAULT_LIMITS) -> ImageHeader:
    """Check bytes, format and declared size of an image without decoding it.

    Raises
    ------
    ImageRefusedError
        Too many bytes, not PNG/JPEG/WebP, unreadable header, or too many pixels.

    Examples
    --------
    >>> import io
    >>> from PIL import Image
    >>> buf = io.BytesIO()
    >>> Image.new("RGB", (30, 20)).save(buf, "PNG")
    >>> inspect_image(buf.getvalue())
    ImageHeader(format='PNG', width=30, height=20)
    """
    if not data:
        raise ImageRefusedError("the image is empty")
    if len(data) > limits.max_bytes:
        raise ImageRefusedError(f"the image is larger than {limits.max_bytes // (1024 * 1024)} MB")
    with _open(data, limits) as image:
        return _checked_header(image, limits)


def sanitize_template(data: bytes, limits: ImageLimits = DEFAULT_LIMITS) -> SanitizedImage:
    """Check a template image as :func:`inspect_image` does, then decode and re-encode it.

    Parameters
    ----------
    data : bytes
        The upload, as received.
    limits : ImageLimits
        Caps for bytes, pixels and the stored size.

    Returns
    -------
    SanitizedImage
        PNG bytes (8-bit L, LA, RGB or RGBA; alpha kept when the upload had any),
        with the long side at most ``limits.stored_long_side``, and the scale factor.

    Raises
    ------
    ImageRefusedError
        As :func:`inspect_image`, or when the pixel data is corrupt or truncated.

    Examples
    --------
    >>> import io
    >>> from PIL import Image
    >>> buf = io.BytesIO()
    >>> Image.new("RGBA", (4000, 1000), (255, 0, 0, 128)).save(buf, "PNG")
    >>> out = sanitize_template(buf.getvalue())
    >>> (out.width, out.height, out.scale)
    (2000, 500, 0.5)
    """
    if not data:
        raise ImageRefusedError("the image is empty")
    if len(data) > limits.max_bytes:
        raise ImageRefusedError(f"the image is larger than {limits.max_bytes // (1024 * 1024)} MB")
    with _open(data, limits) as image:
        header = _checked_header(image, limits)
        long_side = max(header.width, header.height)
        scale = min(1.0, limits.stored_long_side / long_side)
        size = (
            max(1, round(header.width * scale)),
            max(1, round(header.height * scale)),
        )
        try:
            # JPEG only: decode at 1/2, 1/4 or 1/8 scale when that still covers `size`.
            image.draft(None, size)
            image.load()
            pixels = _eight_bit(image)
            if pixels.size != size:
                pixels = pixels.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
            pixels.info = {}  # no EXIF, ICC profile or text chunks travel on
            out = io.BytesIO()
            pixels.save(out, "PNG")
        except _DECODE_ERRORS:
            raise ImageRefusedError("the image data is corrupt or truncated") from None
    return SanitizedImage(
        png=out.getvalue(), width=size[0], height=size[1], scale=scale, source=header
    )


def _open(data: bytes, limits: ImageLimits) -> Image.Image:
    try:
        return Image.open(io.BytesIO(data), formats=list(limits.formats))
    except Image.DecompressionBombError:
        raise ImageRefusedError(_too_large(limits)) from None
    except _DECODE_ERRORS:
        allowed = ", ".join(limits.formats)
        raise ImageRefusedError(f"not a readable image (allowed: {allowed})") from None


def _checked_header(image: Image.Image, limits: ImageLimits) -> ImageHeader:
    width, height = image.size
    if (
        width < 1
        or height < 1
        or width * height > limits.max_pixels
        or max(width, height) > limits.max_side
    ):
        raise ImageRefusedError(_too_large(limits))
    return ImageHeader(format=str(image.format), width=width, height=height)


def _too_large(limits: ImageLimits) -> str:
    return (
        f"the image has too many pixels (at most {limits.max_pixels:,} pixels "
        f"and {limits.max_side} on a side)"
    )


def _eight_bit(image: Image.Image) -> Image.Image:
    """The image in L, LA, RGB or RGBA, keeping transparency wherever it was."""
    if image.mode in ("L", "LA", "RGB", "RGBA"):
        if image.mode in ("L", "RGB") and "transparency" in image.info:
            return image.convert(image.mode + "A")
        return image
    if image.mode.startswith("I"):  # 16-bit grey from PNG: keep the top 8 bits
        grey = np.asarray(image)
        grey = grey >> 8 if grey.dtype == np.uint16 else np.clip(grey >> 8, 0, 255)
        return Image.fromarray(grey.astype(np.uint8), "L")
    if image.mode in ("1",):
        return image.convert("L")
    has_alpha = "A" in image.getbands() or "transparency" in image.info
    return image.convert("RGBA" if has_alpha else "RGB")
