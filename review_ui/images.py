"""Stored photos and windows answered to a browser: one way for every page that shows them."""

from __future__ import annotations

from starlette.responses import Response

from api.context import AppContext
from api.errors import InvalidError

# What every browser shows as it is; anything else (HEIC...) is re-encoded as JPEG.
BROWSER_IMAGES = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"})
# Photos are health data: kept by the browser only, never sniffed into something else.
IMAGE_HEADERS = {"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"}


def image_response(ctx: AppContext, data: bytes, media_type: str) -> Response:
    """``data`` as a browser can show it, with the headers health data needs."""
    if media_type not in BROWSER_IMAGES:
        data, media_type = _as_jpeg(ctx, data), "image/jpeg"
    return Response(data, media_type=media_type, headers=IMAGE_HEADERS)


def _as_jpeg(ctx: AppContext, data: bytes) -> bytes:
    """HEIC and other formats browsers cannot show, re-encoded (upright) as JPEG."""
    import cv2

    ok, jpeg = cv2.imencode(".jpg", ctx.vision.decode_photo(data), [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise InvalidError("photo: cannot be shown")
    return bytes(jpeg.tobytes())
