"""Decode a patient's photo safely and cheaply.

Photos arrive as untrusted bytes. :func:`probe` reads only the headers, so a
non-image, an unsupported format or a decompression bomb is refused before
any pixel is decoded. :func:`decode_photo` then decodes to BGR ``uint8`` with
the EXIF orientation applied; JPEGs can be decoded at 1/2, 1/4 or 1/8 size
by libjpeg's DCT scaling, which costs a fraction of a full decode.

Coordinates: pixel centres sit on integers (OpenCV's convention), and
:attr:`Photo.to_original` maps decoded pixels to pixels of the upright,
full-size photo.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

try:  # HEIC/HEIF support is optional.
    import pillow_heif

    pillow_heif.register_heif_opener()
    HEIF_SUPPORTED = True
except ImportError:  # pragma: no cover - depends on the environment
    HEIF_SUPPORTED = False

MAX_PIXELS = 50_000_000
"""Largest photo accepted, in pixels (checked from the header, before decoding)."""

_FORMATS = {"JPEG": "jpeg", "PNG": "png", "WEBP": "webp", "HEIF": "heif"}
_REDUCED_FLAGS = {
    1: cv2.IMREAD_COLOR,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}
_EXIF_ORIENTATION = 0x0112


class PhotoError(ValueError):
    """The bytes cannot be used as a photo.

    Attributes
    ----------
    code : str
        Stable machine name: ``"empty"``, ``"not_an_image"``,
        ``"unsupported_format"``, ``"too_large"`` or ``"truncated"``.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class PhotoInfo:
    """What the headers say about a photo.

    Attributes
    ----------
    format : str
        ``"jpeg"``, ``"png"``, ``"webp"`` or ``"heif"``.
    width, height : int
        Size of the photo as displayed, i.e. after the EXIF orientation.
    orientation : int
        EXIF orientation tag (1..8) still to be applied to the stored pixels;
        1 when the pixels are already upright.
    """

    format: str
    width: int
    height: int
    orientation: int = 1

    @property
    def long_side(self) -> int:
        return max(self.width, self.height)


@dataclass(frozen=True)
class Photo:
    """A decoded photo.

    Attributes
    ----------
    image : ndarray
        BGR ``uint8``, upright.
    scale : float
        Decoded pixels per original pixel (``1 / reduce`` for JPEG).
    original_size : tuple of int
        ``(width, height)`` of the upright photo at full size.
    format : str
        Format the bytes were in.
    source : Photo or None
        The decoded photo this one was shrunk from (:func:`shrink_photo`); None for a
        decoded one.
    """

    image: np.ndarray
    scale: float
    original_size: tuple[int, int]
    format: str = "jpeg"
    source: Photo | None = None

    @property
    def to_original(self) -> np.ndarray:
        """3x3 map from decoded pixel coordinates to full-size pixel coordinates.

        A decoded pixel averages an ``s x s`` block of full-size pixels, so its
        centre lies at ``s * x + (s - 1) / 2``.
        """
        h, w = self.image.shape[:2]
        if self.source is not None:
            # Through the photo it was shrunk from: its own map already knows the decoder's.
            src_h, src_w = self.source.image.shape[:2]
            return self.source.to_original @ _centre_scale(src_w / w, src_h / h)
        sx = self.original_size[0] / w
        sy = self.original_size[1] / h
        if self.format == "jpeg":
            # libjpeg scales by exactly 1/reduce (the last block may be partial).
            sx = sy = 1.0 / self.scale
        return _centre_scale(sx, sy)


def _centre_scale(sx: float, sy: float) -> np.ndarray:
    """3x3 map of a resampling by ``(sx, sy)`` source pixels per pixel, pixel centres kept."""
    return np.array([[sx, 0.0, (sx - 1) / 2], [0.0, sy, (sy - 1) / 2], [0.0, 0.0, 1.0]])


def probe(data: bytes) -> PhotoInfo:
    """Identify a photo from its headers, without decoding its pixels.

    Parameters
    ----------
    data : bytes
        The uploaded file.

    Returns
    -------
    PhotoInfo

    Raises
    ------
    PhotoError
        ``empty``, ``not_an_image``, ``unsupported_format`` or ``too_large``
        (more than :data:`MAX_PIXELS` pixels).

    Examples
    --------
    >>> import cv2, numpy as np
    >>> ok, png = cv2.imencode(".png", np.zeros((30, 40, 3), np.uint8))
    >>> probe(png.tobytes())
    PhotoInfo(format='png', width=40, height=30, orientation=1)
    >>> try:
    ...     probe(b"hello")
    ... except PhotoError as error:
    ...     print(error.code)
    not_an_image
    """
    if not data:
        raise PhotoError("empty", "The upload is empty. Please send the photo again.")
    try:
        with warnings.catch_warnings():
            # Pillow warns (or raises) on huge images; we apply our own limit below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                fmt = _FORMATS.get(im.format or "")
                width, height = im.size
                orientation = 1 if fmt is None else _orientation(im, fmt)
                pil_format = im.format
    except Image.DecompressionBombError:
        raise _too_large() from None
    except Exception:  # Pillow raises many types on garbage; all mean the same here.
        raise PhotoError(
            "not_an_image", "The file is not a photo we can read. Please send a JPEG photo."
        ) from None
    if fmt is None:
        raise PhotoError(
            "unsupported_format",
            f"Photos in {pil_format} format are not supported. Please send a JPEG, PNG, "
            "WebP or HEIC photo.",
        )
    if width <= 0 or height <= 0:
        raise PhotoError("not_an_image", "The file holds no picture. Please send a photo.")
    if width * height > MAX_PIXELS:
        raise _too_large()
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return PhotoInfo(format=fmt, width=width, height=height, orientation=orientation)


def choose_reduction(info: PhotoInfo, needed_px: int) -> int:
    """The largest decoding reduction (1, 2, 4 or 8) that keeps the long side >= ``needed_px``.

    Examples
    --------
    >>> choose_reduction(PhotoInfo("jpeg", 4000, 3000), 1000)
    4
    >>> choose_reduction(PhotoInfo("jpeg", 800, 600), 1000)
    1
    """
    for reduce in (8, 4, 2):
        if info.long_side / reduce >= needed_px:
            return reduce
    return 1


def decode_photo(data: bytes, *, reduce: int = 1, info: PhotoInfo | None = None) -> Photo:
    """Decode a photo to an upright BGR ``uint8`` image, optionally reduced.

    Parameters
    ----------
    data : bytes
        The uploaded file.
    reduce : int
        1, 2, 4 or 8: decode at this fraction of the full size. JPEGs use
        libjpeg's DCT scaling (cheap); other formats are decoded in full and
        resized with area averaging.
    info : PhotoInfo, optional
        The result of :func:`probe` when the caller already has it.

    Returns
    -------
    Photo

    Raises
    ------
    PhotoError
        Everything :func:`probe` raises, plus ``truncated`` when the file ends
        before the picture does.

    Examples
    --------
    >>> import cv2, numpy as np
    >>> ok, jpg = cv2.imencode(".jpg", np.full((64, 96, 3), 200, np.uint8))
    >>> photo = decode_photo(jpg.tobytes(), reduce=4)
    >>> photo.image.shape, photo.scale, photo.original_size
    ((16, 24, 3), 0.25, (96, 64))
    """
    if reduce not in _REDUCED_FLAGS:
        raise ValueError(f"reduce must be 1, 2, 4 or 8, not {reduce}")
    if info is None:
        info = probe(data)
    if info.format == "jpeg":
        _check_jpeg_complete(data)
        buf = np.frombuffer(data, np.uint8)
        image = cv2.imdecode(buf, _REDUCED_FLAGS[reduce] | cv2.IMREAD_IGNORE_ORIENTATION)
        if image is None:
            raise _undecodable()
        image = _orient(image, info.orientation)
        return Photo(image, 1.0 / reduce, (info.width, info.height), info.format)
    if info.format == "heif":
        image = _decode_with_pillow(data)
    else:
        if info.format == "png":
            _check_png_complete(data)
        elif info.format == "webp":
            _check_webp_complete(data)
        buf = np.frombuffer(data, np.uint8)
        raw = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
        if raw is None:
            raise _undecodable()
        image = _orient(_to_bgr8(raw), info.orientation)
    full_h, full_w = image.shape[:2]
    if reduce > 1:
        size = (max(1, round(full_w / reduce)), max(1, round(full_h / reduce)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    scale = image.shape[1] / full_w
    return Photo(image, scale, (full_w, full_h), info.format)


def shrink_photo(photo: Photo, long_side: int, *, slack: float = 1.25) -> Photo:
    """The photo resampled to a long side of ``long_side`` px, or itself when not much larger.

    For the steps that need only a view of the whole photo (finding the test): their
    cost grows with the pixels, while the one decode of the photo keeps its detail for
    the steps that need it. Area averaging, as a reduced JPEG decode does.

    Parameters
    ----------
    photo : Photo
        A decoded photo.
    long_side : int
        Long side wanted, px.
    slack : float
        Photos up to ``slack * long_side`` are returned as they are: resampling them
        would blur them for little gain.

    Returns
    -------
    Photo
        With ``source`` set to ``photo`` when resampled; its :attr:`Photo.to_original`
        maps to the full-size photo through ``photo``'s.

    Examples
    --------
    >>> photo = Photo(np.zeros((1224, 1632, 3), np.uint8), 1.0, (1632, 1224), "png")
    >>> small = shrink_photo(photo, 1000)
    >>> small.image.shape, round(small.scale, 4), small.source is photo
    ((750, 1000, 3), 0.6127, True)
    >>> shrink_photo(small, 1000) is small
    True
    """
    h, w = photo.image.shape[:2]
    if max(h, w) <= slack * long_side:
        return photo
    k = long_side / max(h, w)
    size = (max(1, round(w * k)), max(1, round(h * k)))
    # Bilinear: area averaging costs as much as the search saves at these ratios (1.3-1.7),
    # where bilinear sampling aliases little.
    image = cv2.resize(photo.image, size, interpolation=cv2.INTER_LINEAR)
    return Photo(image, photo.scale * size[0] / w, photo.original_size, photo.format, photo)


def _orientation(im: Image.Image, fmt: str) -> int:
    if fmt == "heif":
        return 1  # pillow-heif applies the orientation itself and resets the tag.
    if fmt == "png" and "exif" not in im.info:
        # Pillow would decode the whole PNG to look for a late eXIf chunk; not worth it.
        return 1
    try:
        value = int(im.getexif().get(_EXIF_ORIENTATION, 1))
    except Exception:  # A broken EXIF block must not make the photo unreadable.
        return 1
    return value if 1 <= value <= 8 else 1


def _orient(image: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (the transform that makes the stored pixels upright)."""
    if orientation == 2:
        return cv2.flip(image, 1)
    if orientation == 3:
        return cv2.rotate(image, cv2.ROTATE_180)
    if orientation == 4:
        return cv2.flip(image, 0)
    if orientation == 5:
        return cv2.transpose(image)
    if orientation == 6:
        return cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)
    if orientation == 7:
        return cv2.rotate(cv2.transpose(image), cv2.ROTATE_180)
    if orientation == 8:
        return cv2.rotate(image, cv2.ROTATE_90_COUNTERCLOCKWISE)
    return image


def _to_bgr8(image: np.ndarray) -> np.ndarray:
    """Grey, grey+alpha, BGR, BGRA, 8 or 16 bit -> BGR ``uint8``."""
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)  # not produced by PNG/WebP decoders
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    channels = image.shape[2]
    if channels == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if channels == 2:  # grey + alpha
        grey, alpha = image[:, :, 0], image[:, :, 1]
        image = np.dstack([grey, grey, grey, alpha])
        channels = 4
    if channels == 4:
        # Transparent parts are shown on white, as image viewers usually do.
        alpha = image[:, :, 3:4].astype(np.float32) / 255.0
        bgr = image[:, :, :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
        return np.clip(bgr + 0.5, 0, 255).astype(np.uint8)
    return image[:, :, :3].copy()


def _decode_with_pillow(data: bytes) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            picture: Image.Image = im
            if picture.mode in ("RGBA", "LA", "PA"):
                background = Image.new("RGBA", picture.size, (255, 255, 255, 255))
                picture = Image.alpha_composite(background, picture.convert("RGBA"))
            rgb = np.asarray(picture.convert("RGB"))
    except Exception:
        raise _undecodable() from None
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def _check_jpeg_complete(data: bytes) -> None:
    """Refuse a JPEG that ends before its end-of-image marker.

    libjpeg fills a truncated JPEG with grey and reports success, so look for
    the EOI marker after the first start-of-scan. Byte stuffing guarantees
    ``FF D9`` cannot occur inside entropy-coded data; an EXIF thumbnail's EOI
    lies before the main image's first scan, and trailing data after the EOI
    (e.g. a second picture) is allowed.
    """
    sos = _first_scan(data)
    # The last EOI, searched from the end (where it is): the same answer as the first one
    # after the scan, without reading megabytes of entropy-coded data.
    if sos < 0 or data.rfind(b"\xff\xd9", sos) < 0:
        raise _truncated()


def _first_scan(data: bytes) -> int:
    """Offset of the first SOS marker of a JPEG, walking its header segments; -1 if none."""
    pos, n = 2, len(data)
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            return -1
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xDA:
            return pos
        if 0xD0 <= marker <= 0xD8 or marker == 0x01:  # markers without a length
            pos += 2
            continue
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        pos += 2 + length
    return -1


def _check_png_complete(data: bytes) -> None:
    # The IEND chunk closes every PNG; trailing junk after it is tolerated.
    if data.rfind(b"IEND") < 0:
        raise _truncated()


def _check_webp_complete(data: bytes) -> None:
    # RIFF header: b"RIFF", little-endian payload size, b"WEBP".
    declared = int.from_bytes(data[4:8], "little") + 8
    if len(data) < declared:
        raise _truncated()


def _too_large() -> PhotoError:
    return PhotoError(
        "too_large",
        f"The photo is too large (more than {MAX_PIXELS // 1_000_000} megapixels). "
        "Please send a photo taken with the phone's normal camera settings.",
    )


def _truncated() -> PhotoError:
    return PhotoError(
        "truncated",
        "The photo arrived incomplete (the upload was cut off). Please send it again.",
    )


def _undecodable() -> PhotoError:
    return PhotoError(
        "not_an_image", "The photo could not be decoded. Please take a new photo and send it."
    )
