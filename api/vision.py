"""The server's one way into the vision pipeline: read a photo, probe a photo's headers,
parse a kit, draw a kit's preview, decode a photo for a browser.

It travels on the app context (``ctx.vision``), so everything that reads photos (the
upload request, an in-process or Celery task, the pages) uses the same one, and a test
swaps the reader through the public ``reader`` argument: ``Vision(reader=fake)``.
The pipeline is imported on first use, so the API starts fast.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from api.errors import InvalidError, TooLargeError, UnsupportedError

log = logging.getLogger(__name__)

# Names no model: the reading is the server's own, made when the pipeline raised.
READER_ERROR_MODEL = "none"

if TYPE_CHECKING:
    import numpy as np

    from models.band_model import BandModel
    from pipeline.kit import Kit
    from pipeline.reading import Reading

Reader = Callable[[bytes, "Kit"], "Reading"]

# The kit description's fields in template pixels: (object under ``template``, its keys).
_TEMPLATE_PIXEL_FIELDS = (("code_box", ("x", "y", "size")), ("window", ("x", "y", "w", "h")))


@dataclass(frozen=True)
class KitUpload:
    """A validated uploaded kit and the re-encoded template image to store with it."""

    kit: Kit
    template_png: bytes


def rescale_template_coordinates(document: Any, scale: float) -> Any:
    """The kit description with its template pixel coordinates multiplied by ``scale``.

    Anything not shaped as ``rdt-kit/1`` expects is left as it is, for the kit's own
    validation to name.

    >>> doc = {"template": {"px_per_mm": 10, "window": {"x": 4, "y": 8, "w": 2, "h": 6}}}
    >>> rescale_template_coordinates(doc, 0.5)["template"]
    {'px_per_mm': 5.0, 'window': {'x': 2.0, 'y': 4.0, 'w': 1.0, 'h': 3.0}}
    """
    if not isinstance(document, dict) or not isinstance(document.get("template"), dict):
        return document
    template = dict(document["template"])
    if _is_number(template.get("px_per_mm")):
        template["px_per_mm"] = template["px_per_mm"] * scale
    for name, keys in _TEMPLATE_PIXEL_FIELDS:
        if isinstance(template.get(name), dict):
            box = dict(template[name])
            for key in keys:
                if _is_number(box.get(key)):
                    box[key] = box[key] * scale
            template[name] = box
    return {**document, "template": template}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class Vision:
    """The pipeline as the server uses it. ``reader`` replaces ``pipeline.read.read``."""

    def __init__(self, reader: Reader | None = None) -> None:
        self.reader = reader

    def read(self, photo: bytes, kit: Kit, band_model: BandModel | None = None) -> Reading:
        """The pipeline's reading of ``photo`` with ``band_model``.

        Without one, the shipped registry's current model reads
        (:func:`models.registry.runtime_band_model`): the worker passes the database's
        champion, or the challenger for a shadow reading.

        A pipeline that raises (a bug, not a bad photo: those are retakes) must not strand
        the patient's photo: it goes to a clinician to be read by eye, and the error is
        logged for the developers.
        """
        if self.reader is not None:
            return self.reader(photo, kit)  # a test's stand-in raises as it is told to
        from pipeline import read as pipeline_read
        from pipeline.reading import QualityIssue, Reading

        try:
            return pipeline_read.read(photo, kit, band_model=_band_model(band_model))
        except Exception:
            log.exception("the pipeline raised on a photo; it goes to be read by eye")
            try:
                # The same-photo check still wants the photo's hash.
                photo_hash = pipeline_read.photo_hash(photo)
            except Exception:
                log.exception("... and its hash could not be taken either")
                photo_hash = None
            return Reading(
                status="by_eye",
                result=None,
                analytes={},
                lines={},
                confidence=0.0,
                code=None,
                issues=[QualityIssue("reader_error", "The photo could not be read automatically.")],
                model=READER_ERROR_MODEL,
                photo_hash=photo_hash,
            )

    def probe(self, data: bytes) -> str:
        """The photo's media type from its headers, or a 4xx saying why it is not one."""
        from pipeline.decode import PhotoError, probe

        try:
            info = probe(data)
        except PhotoError as exc:
            code = getattr(exc, "code", "")
            if code == "too_large":
                raise TooLargeError(f"photo: {exc}") from None
            if code in ("not_an_image", "unsupported_format"):
                raise UnsupportedError(f"photo: {exc}") from None
            raise InvalidError(f"photo: {exc}") from None
        return f"image/{info.format}"

    def parse_kit(self, kit_bytes: bytes, template_bytes: bytes) -> Kit:
        """An uploaded kit description and template, validated; 422 with the kit's message."""
        return self.kit_upload(kit_bytes, template_bytes).kit

    def kit_upload(self, kit_bytes: bytes, template_bytes: bytes) -> KitUpload:
        """An uploaded kit, checked as hostile input, with the template to store.

        The template is checked before decoding and re-encoded at a sane size
        (``api.security.images``), the description parsed with a depth and size
        limit (``api.security.json_guard``), and the description's template pixel
        coordinates rescaled to the stored image.
        """
        from api.security.images import ImageRefusedError, sanitize_template
        from api.security.json_guard import JsonShapeError, loads_guarded
        from pipeline.kit import KitError, decode_template, parse_kit

        try:
            document: Any = loads_guarded(kit_bytes)
        except JsonShapeError as exc:
            raise InvalidError(f"kit: {exc}") from None
        try:
            template = sanitize_template(template_bytes)
        except ImageRefusedError as exc:
            raise InvalidError(f"template: {exc}") from None
        if template.scale != 1.0:
            document = rescale_template_coordinates(document, template.scale)
        try:
            kit = parse_kit(document, decode_template(template.png))
        except KitError as exc:
            if exc.problems:  # every mistake, each in plain words
                from api.products.validation import KitInvalidError, kit_field_problems

                raise KitInvalidError(kit_field_problems(exc.problems, document)) from None
            raise InvalidError(f"kit: {exc}") from None
        return KitUpload(kit=kit, template_png=template.png)

    def stored_kit(
        self, document: dict[str, Any], template_sha: str, template_png: Callable[[], bytes]
    ) -> Kit:
        """A registered product's kit, decoded once per process (workers read many photos).

        The template (a PNG of a few hundred KB) is asked of ``template_png`` only when this
        process has not decoded that kit yet: its SHA-256 stands for it in the cache's key.
        """
        return _stored_kit(
            json.dumps(document, sort_keys=True), _Template(template_sha, template_png)
        )

    def preview(self, kit: Kit) -> bytes:
        """The kit's template with its window, lines and code box drawn on it (PNG)."""
        from api.products.preview import preview_png

        return preview_png(kit)

    def decode_photo(self, data: bytes) -> np.ndarray:
        """A photo as an upright BGR image (for formats a browser cannot show)."""
        from pipeline.decode import decode_photo

        return decode_photo(data).image


@dataclass(frozen=True)
class _Template:
    """A kit's template in the kit cache's key: equal by its SHA-256, fetched on a miss."""

    sha256: str
    png: Callable[[], bytes] = field(compare=False, hash=False)


@lru_cache(maxsize=64)
def _stored_kit(document: str, template: _Template) -> Kit:
    from pipeline.kit import decode_template, parse_kit

    return parse_kit(json.loads(document), decode_template(template.png()))


def _band_model(chosen: BandModel | None) -> Any:
    try:
        from models.registry import runtime_band_model
    except ImportError:
        return chosen
    return runtime_band_model(chosen)
