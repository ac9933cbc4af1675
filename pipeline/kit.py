"""Kit descriptions (``rdt-kit/1``): parsing, validation and derived geometry.

A kit description tells the pipeline where the result window and the unit's
code sit on the upright template, which way the sample flows, and where each
line should appear. Validation errors name the offending field, so a
manufacturer can fix the file without reading the schema.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

SPEC = "rdt-kit/1"
Flow = Literal["up", "down", "left", "right"]


class KitError(ValueError):
    """A kit description or its template image is missing, malformed or inconsistent."""


class _Strict(BaseModel):
    # Unknown keys are tolerated (forward compatibility), wrong types are not.
    model_config = ConfigDict(extra="ignore", frozen=True, strict=False)


class TestItem(_Strict):
    name: Annotated[str, Field(min_length=1)]
    loinc: str | None = None


class CodeBox(_Strict):
    x: float
    y: float
    size: Annotated[float, Field(gt=0)]


class Window(_Strict):
    x: float
    y: float
    w: Annotated[float, Field(gt=0)]
    h: Annotated[float, Field(gt=0)]


MAX_WINDOW_SHIFT_MM = 2.0
"""How far the result window may sit from the template's ``window`` on a unit (each axis).
Real units place the moulded window and its lines up to 1.5 mm off the print; the rest is
the locator's own error."""
MAX_WINDOW_ANGLE_DEG = 4.0
"""How far the window may be turned against the print (membrane strips sit askew)."""
MAX_WINDOW_SCALE = 0.06
"""Relative size difference of the window (moulds, and a template measured by hand)."""


class WindowTolerance(_Strict):
    """How far a unit's window may sit from the template's (optional ``template.window_tolerance``).

    A kit may only *narrow* the defaults, which are the widest the window search is
    built for: a manufacturer whose units are precise gets a stricter product check.
    """

    shift_mm: Annotated[float, Field(ge=0, le=MAX_WINDOW_SHIFT_MM)] = MAX_WINDOW_SHIFT_MM
    angle_deg: Annotated[float, Field(ge=0, le=MAX_WINDOW_ANGLE_DEG)] = MAX_WINDOW_ANGLE_DEG
    scale: Annotated[float, Field(ge=0, le=MAX_WINDOW_SCALE)] = MAX_WINDOW_SCALE


class Template(_Strict):
    image: Annotated[str, Field(min_length=1)]
    px_per_mm: Annotated[float, Field(gt=0)]
    code_box: CodeBox | None = None
    window: Window
    flow: Flow
    window_tolerance: WindowTolerance | None = None


class Line(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=16)]
    role: Literal["control", "test"]
    at: Annotated[float, Field(ge=0, le=1)]
    analyte: str | None = None
    present_means: Literal["reactive", "non-reactive"] = "reactive"

    @model_validator(mode="after")
    def _present_means_only_on_test_lines(self) -> Line:
        if self.role == "control" and self.present_means != "reactive":
            raise ValueError("present_means applies to test lines only")
        return self

    @property
    def analyte_name(self) -> str:
        """What this test line detects; the line's name when the kit does not say."""
        return self.analyte or self.name


class ReadTime(_Strict):
    min: Annotated[float, Field(ge=0)] = 0
    max: Annotated[float, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> ReadTime:
        if self.max is not None and self.max < self.min:
            raise ValueError("max must not be smaller than min")
        return self


class KitDescription(_Strict):
    """The JSON document of an ``rdt-kit/1`` kit, validated field by field."""

    spec: Literal["rdt-kit/1"]
    product_code: Annotated[str, Field(min_length=1, max_length=64)]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    test_item: TestItem
    format: Literal["cassette", "strip"]
    template: Template
    lines: Annotated[list[Line], Field(min_length=2)]
    line_width_mm: Annotated[float, Field(gt=0)] = 1.0
    line_color: Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$")] | None = None
    read_time_minutes: ReadTime | None = None

    @field_validator("lines")
    @classmethod
    def _lines_are_consistent(cls, lines: list[Line]) -> list[Line]:
        names = [line.name for line in lines]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"line names must be unique, repeated: {', '.join(duplicates)}")
        if not any(line.role == "control" for line in lines):
            raise ValueError("at least one line must have role 'control'")
        if not any(line.role == "test" for line in lines):
            raise ValueError("at least one line must have role 'test'")
        positions = sorted(line.at for line in lines)
        if any(b - a < 1e-3 for a, b in itertools.pairwise(positions)):
            raise ValueError("two lines share the same position 'at'")
        return lines


@dataclass(frozen=True)
class Kit:
    """A validated kit description together with its template image.

    Parameters
    ----------
    description : KitDescription
        The parsed ``kit.json``.
    template : ndarray
        The template image, ``uint8`` BGRA (alpha 0 outside the cassette).

    Examples
    --------
    >>> kit = load_kit("datasets/kits/demo/kit.json")
    >>> kit.product_code, [line.name for line in kit.lines]
    ('DEMO-COV-AG', ['T', 'C'])
    """

    description: KitDescription
    template: np.ndarray

    # Convenience views on the description, so callers need not dig.
    @property
    def product_code(self) -> str:
        return self.description.product_code

    @property
    def lines(self) -> list[Line]:
        return self.description.lines

    @property
    def px_per_mm(self) -> float:
        return self.description.template.px_per_mm

    @property
    def window(self) -> Window:
        return self.description.template.window

    @property
    def code_box(self) -> CodeBox | None:
        return self.description.template.code_box

    @property
    def window_tolerance(self) -> WindowTolerance:
        """How far a unit's window may sit from the template's: the kit's own, or the widest."""
        return self.description.template.window_tolerance or WindowTolerance()

    @property
    def flow(self) -> Flow:
        return self.description.template.flow

    @property
    def line_width_mm(self) -> float:
        return self.description.line_width_mm

    @property
    def window_length_mm(self) -> float:
        """Length of the result window along the flow, in millimetres."""
        w = self.window
        along = w.h if self.flow in ("up", "down") else w.w
        return along / self.px_per_mm

    @property
    def window_width_mm(self) -> float:
        """Width of the result window across the flow, in millimetres."""
        w = self.window
        across = w.w if self.flow in ("up", "down") else w.h
        return across / self.px_per_mm

    @cached_property
    def content_key(self) -> str:
        """Hash of the template image and the description: equal kits, equal keys.

        Keys caches of work prepared from the template, so that equal kits share
        it and a changed kit never reuses a stale one (an object's ``id`` does both wrong).

        Examples
        --------
        >>> a, b = load_kit("datasets/kits/demo/kit.json"), load_kit("datasets/kits/demo/kit.json")
        >>> a is b, a.content_key == b.content_key
        (False, True)
        """
        digest = hashlib.blake2b(digest_size=16)
        digest.update(self.description.model_dump_json().encode())
        digest.update(repr(self.template.shape).encode())
        digest.update(np.ascontiguousarray(self.template).tobytes())
        return digest.hexdigest()

    def to_json(self) -> dict[str, object]:
        """The kit description as a JSON-ready dictionary."""
        return self.description.model_dump(mode="json", exclude_none=True)


def _describe(error: ValidationError) -> str:
    parts = []
    for err in error.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(document)"
        msg = err["msg"]
        if err["type"] == "missing":
            msg = "required field is missing"
        elif err["type"] == "literal_error" and where == "spec":
            msg = f"must be '{SPEC}'"
        parts.append(f"{where}: {msg}")
    return "; ".join(parts)


def parse_kit(document: object, template: np.ndarray) -> Kit:
    """Validate a kit description and pair it with its decoded template.

    Parameters
    ----------
    document : object
        The JSON value of ``kit.json`` (normally a dict).
    template : ndarray
        Template image, ``uint8``, BGR or BGRA (alpha is added when absent).

    Returns
    -------
    Kit

    Raises
    ------
    KitError
        With a message naming each wrong field and what is wrong with it.

    Examples
    --------
    >>> import numpy as np
    >>> parse_kit({"spec": "rdt-kit/2"}, np.zeros((10, 10, 4), np.uint8))
    Traceback (most recent call last):
    ...
    pipeline.kit.KitError: invalid kit description: spec: must be 'rdt-kit/1'; ...
    """
    if not isinstance(document, dict):
        raise KitError("invalid kit description: the document must be a JSON object")
    try:
        description = KitDescription.model_validate(document)
    except ValidationError as exc:
        raise KitError(f"invalid kit description: {_describe(exc)}") from None
    template = _as_bgra(template)
    _check_geometry(description, template.shape[1], template.shape[0])
    return Kit(description=description, template=template)


def _as_bgra(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise KitError("template image must be an 8-bit image")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGRA)
    if image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2BGRA)
    if image.shape[2] == 4:
        return image
    raise KitError("template image must have 1, 3 or 4 channels")


def _check_geometry(description: KitDescription, width: int, height: int) -> None:
    t = description.template
    w = t.window
    if w.x < 0 or w.y < 0 or w.x + w.w > width or w.y + w.h > height:
        raise KitError(
            f"invalid kit description: template.window: ({w.x}, {w.y}, {w.w}x{w.h}) "
            f"lies outside the {width}x{height} template image"
        )
    if t.code_box is not None:
        c = t.code_box
        if c.x < 0 or c.y < 0 or c.x + c.size > width or c.y + c.size > height:
            raise KitError(
                f"invalid kit description: template.code_box: ({c.x}, {c.y}, size {c.size}) "
                f"lies outside the {width}x{height} template image"
            )
        overlap_w = min(w.x + w.w, c.x + c.size) - max(w.x, c.x)
        overlap_h = min(w.y + w.h, c.y + c.size) - max(w.y, c.y)
        if overlap_w > 0 and overlap_h > 0:
            raise KitError("invalid kit description: template.code_box overlaps template.window")
    along_px = w.h if t.flow in ("up", "down") else w.w
    if along_px / t.px_per_mm < 2 * description.line_width_mm:
        raise KitError(
            "invalid kit description: template.window is too short along the flow for its lines"
        )


def decode_template(data: bytes) -> np.ndarray:
    """Decode template image bytes (PNG, with or without alpha) to BGRA.

    The declared size is read from the header first and more than 16 MP is
    refused before any pixel is decoded: a stored template is decoded by every
    page and worker that touches the product, so one 0.4 MB PNG declaring
    20000 x 20000 pixels must not cost gigabytes each time. (Uploads are checked and
    re-encoded at a sane size by ``api.security.images``; this is the backstop.)

    Raises
    ------
    KitError
        When the bytes are not a decodable image, or declare too many pixels.
    """
    import io

    from PIL import Image

    max_pixels = 4096 * 4096
    try:
        # Lazy: reads the header only. Pillow itself refuses sizes past ~179 MP here.
        with Image.open(io.BytesIO(data), formats=["PNG", "JPEG", "WEBP"]) as header:
            width, height = header.size
        too_many = width * height > max_pixels
    except Image.DecompressionBombError:
        too_many = True
    except (OSError, ValueError, SyntaxError, EOFError):
        raise KitError("template image could not be decoded (expected PNG or JPEG)") from None
    if too_many:
        raise KitError(f"template image has too many pixels (at most {max_pixels:,})")
    buf = np.frombuffer(data, dtype=np.uint8)
    image = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if buf.size else None
    if image is None:
        raise KitError("template image could not be decoded (expected PNG or JPEG)")
    if image.dtype != np.uint8:
        image = cv2.convertScaleAbs(image, alpha=255.0 / 65535.0)
    return _as_bgra(image)


def load_kit(path: str | Path) -> Kit:
    """Read ``kit.json`` and the template image it names, then validate both.

    Parameters
    ----------
    path : str or Path
        Path of the kit description; ``template.image`` is relative to it.

    Raises
    ------
    KitError
        When a file is missing, is not JSON, or fails validation.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KitError(f"kit description not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KitError(f"kit description could not be read: {path}: {exc}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise KitError(f"kit description is not valid JSON: {path}: {exc}") from None
    image_name = document.get("template", {}).get("image") if isinstance(document, dict) else None
    if not isinstance(image_name, str) or not image_name:
        # Let validation produce the field-level message.
        parse_kit(document, np.zeros((1, 1, 4), np.uint8))
        raise KitError("invalid kit description: template.image: required field is missing")
    image_path = path.parent / image_name
    try:
        data = image_path.read_bytes()
    except OSError:
        raise KitError(f"template.image: file not found: {image_path}") from None
    return parse_kit(document, decode_template(data))
