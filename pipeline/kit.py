"""Kit descriptions (``rdt-kit/1``): parsing, validation and derived geometry.

A kit description tells the pipeline where the result window and the unit's
code sit on the upright template, which way the sample flows, and where each
line should appear. Validation finds every mistake at once (``KitError.problems``),
each naming the offending field, so a manufacturer can fix the file in one go
without reading the schema.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

SPEC = "rdt-kit/1"
Flow = Literal["up", "down", "left", "right"]


@dataclass(frozen=True)
class KitProblem:
    """One thing wrong with a kit description.

    Attributes
    ----------
    loc : tuple
        Where, as a path into the document (``("lines", 0, "at")``); ``()`` for the whole.
    kind : str
        What, for a program: pydantic's error type (``missing``, ``less_than_equal``,
        ...) or one of the kit's own checks (``duplicate_line_names``, ``no_control_line``,
        ``no_test_line``, ``same_position``, ``outside_image``, ``code_box_overlaps_window``,
        ``window_too_short``).
    message : str
        What, for a developer: ``"<path>: <what is wrong>"``.
    context : Mapping
        The numbers behind the message (limits, the image size, the names involved).
    """

    loc: tuple[str | int, ...]
    kind: str
    message: str
    context: Mapping[str, Any] = field(default_factory=dict)

    @property
    def where(self) -> str:
        """The path as dotted text, ``lines.0.at``; ``(document)`` for the whole."""
        return ".".join(str(part) for part in self.loc) or "(document)"


class KitError(ValueError):
    """A kit description or its template image is missing, malformed or inconsistent.

    ``problems`` lists every mistake found in the description (all of them, not only
    the first), empty when the error is not about the description's fields.
    """

    def __init__(self, message: str, problems: tuple[KitProblem, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems


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
            raise PydanticCustomError(
                "present_means_on_control", "present_means applies to test lines only"
            )
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
            raise PydanticCustomError("min_after_max", "max must not be smaller than min")
        return self


class KitDescription(_Strict):
    """The JSON document of an ``rdt-kit/1`` kit, validated field by field.

    The checks across fields (line names, roles and positions; the window and code box
    against the template image) are :func:`parse_kit`'s, which reports them all at once.
    """

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


def _field_problems(error: ValidationError, prefix: tuple[str | int, ...] = ()) -> list[KitProblem]:
    problems = []
    for err in error.errors():
        loc = prefix + tuple(err["loc"])
        where = ".".join(str(p) for p in loc) or "(document)"
        msg = err["msg"]
        kind = err["type"]
        if kind == "missing":
            msg = "required field is missing"
        elif kind == "literal_error" and loc == ("spec",):
            msg = f"must be '{SPEC}'"
        problems.append(KitProblem(loc, kind, f"{where}: {msg}", dict(err.get("ctx") or {})))
    return problems


def _part(model: type[BaseModel], value: object) -> Any:
    """``value`` validated as ``model``, or None when it is not one (already reported)."""
    try:
        return model.model_validate(value)
    except ValidationError:
        return None


def _line_problems(lines: list[Line]) -> list[KitProblem]:
    """Checks across the lines: unique names, a control and a test line, distinct places."""
    problems = []
    names = [line.name for line in lines]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(
            KitProblem(
                ("lines",),
                "duplicate_line_names",
                f"lines: line names must be unique, repeated: {name}",
                {"name": name},
            )
        )
    for role in ("control", "test"):
        if not any(line.role == role for line in lines):
            problems.append(
                KitProblem(
                    ("lines",),
                    f"no_{role}_line",
                    f"lines: at least one line must have role '{role}'",
                )
            )
    ordered = sorted(range(len(lines)), key=lambda i: lines[i].at)
    for i, j in itertools.pairwise(ordered):
        if lines[j].at - lines[i].at < 1e-3:
            problems.append(
                KitProblem(
                    ("lines", j, "at"),
                    "same_position",
                    f"lines.{j}.at: two lines share the same position 'at' "
                    f"({lines[i].name} and {lines[j].name})",
                    {"first": lines[i].name, "second": lines[j].name},
                )
            )
    return problems


def _geometry_problems(template: Mapping[str, Any], width: int, height: int) -> list[KitProblem]:
    """The window and code box against the template image and each other.

    Each box is checked when it is itself valid, whatever else in ``template`` is wrong.
    """
    problems = []
    size = {"width": width, "height": height}
    w = _part(Window, template.get("window"))
    c = _part(CodeBox, template.get("code_box"))
    if w is not None and (w.x < 0 or w.y < 0 or w.x + w.w > width or w.y + w.h > height):
        problems.append(
            KitProblem(
                ("template", "window"),
                "outside_image",
                f"template.window: ({w.x}, {w.y}, {w.w}x{w.h}) "
                f"lies outside the {width}x{height} template image",
                size,
            )
        )
    if c is not None and (c.x < 0 or c.y < 0 or c.x + c.size > width or c.y + c.size > height):
        problems.append(
            KitProblem(
                ("template", "code_box"),
                "outside_image",
                f"template.code_box: ({c.x}, {c.y}, size {c.size}) "
                f"lies outside the {width}x{height} template image",
                size,
            )
        )
    if w is not None and c is not None:
        overlap_w = min(w.x + w.w, c.x + c.size) - max(w.x, c.x)
        overlap_h = min(w.y + w.h, c.y + c.size) - max(w.y, c.y)
        if overlap_w > 0 and overlap_h > 0:
            problems.append(
                KitProblem(
                    ("template", "code_box"),
                    "code_box_overlaps_window",
                    "template.code_box: the code_box overlaps template.window",
                )
            )
    return problems


class _LineWidth(_Strict):
    line_width_mm: Annotated[float, Field(gt=0)]


def _length_problems(document: Mapping[str, Any]) -> list[KitProblem]:
    """The window must be long enough along the flow for two line widths."""
    template = _part(Template, document.get("template"))
    line_width = _part(_LineWidth, {"line_width_mm": document.get("line_width_mm", 1.0)})
    if template is None or line_width is None:
        return []
    w = template.window
    along_px = w.h if template.flow in ("up", "down") else w.w
    length_mm, needed_mm = along_px / template.px_per_mm, 2 * line_width.line_width_mm
    if length_mm >= needed_mm:
        return []
    return [
        KitProblem(
            ("template", "window"),
            "window_too_short",
            "template.window: is too short along the flow for its lines",
            {"length_mm": length_mm, "needed_mm": needed_mm},
        )
    ]


def kit_problems(document: Mapping[str, Any], width: int, height: int) -> list[KitProblem]:
    """Every mistake in a kit description for a template of ``width`` x ``height`` pixels.

    The fields are checked first; the checks across fields then run on every part that
    is itself valid (the lines, the template), so one wrong field does not hide another
    mistake elsewhere.
    """
    problems: list[KitProblem] = []
    try:
        KitDescription.model_validate(document)
    except ValidationError as exc:
        problems += _field_problems(exc)
    raw_lines = document.get("lines")
    if isinstance(raw_lines, list):
        lines = [_part(Line, line) for line in raw_lines]
        if lines and all(line is not None for line in lines):
            problems += _line_problems(lines)
    template = document.get("template")
    if isinstance(template, Mapping):
        problems += _geometry_problems(template, width, height)
        problems += _length_problems(document)
    return problems


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
        With a message naming each wrong field and what is wrong with it, and every
        mistake in ``problems``.

    Examples
    --------
    >>> import numpy as np
    >>> parse_kit({"spec": "rdt-kit/2"}, np.zeros((10, 10, 4), np.uint8))
    Traceback (most recent call last):
    ...
    pipeline.kit.KitError: invalid kit description: spec: must be 'rdt-kit/1'; ...
    """
    if not isinstance(document, dict):
        problem = KitProblem((), "not_an_object", "the document must be a JSON object")
        raise KitError(f"invalid kit description: {problem.message}", (problem,))
    template = _as_bgra(template)
    problems = kit_problems(document, template.shape[1], template.shape[0])
    if problems:
        detail = "; ".join(problem.message for problem in problems)
        raise KitError(f"invalid kit description: {detail}", tuple(problems))
    return Kit(description=KitDescription.model_validate(document), template=template)


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
