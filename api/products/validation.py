"""Every mistake in a kit description, in plain words a manufacturer can act on.

``pipeline.kit`` finds the mistakes (``KitProblem``: a path into the document, a kind,
the numbers behind it); this says each one as a sentence that names the thing as the
form does ("The control line C lies outside the result window") rather than the schema
path and the validator's wording. The API's problem document lists them all in
``errors`` (``field`` = the path, ``message`` = the sentence); the pages put each beside
its field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from api.errors import FieldProblem, InvalidError

if TYPE_CHECKING:
    from pipeline.kit import KitProblem

# What each field is called on the form (paths with a line's index written as ``*``).
LABELS = {
    "spec": "The format version (spec)",
    "product_code": "The product code",
    "name": "The product name",
    "test_item": "The test item",
    "test_item.name": "The test item's name",
    "test_item.loinc": "The LOINC code",
    "format": "The format",
    "template": "The template section",
    "template.image": "The template image's file name",
    "template.px_per_mm": "The scale (template pixels per millimetre)",
    "template.flow": "The flow direction",
    "template.window": "The result window",
    "template.window.x": "The result window's left edge (x)",
    "template.window.y": "The result window's top edge (y)",
    "template.window.w": "The result window's width",
    "template.window.h": "The result window's height",
    "template.code_box": "The code box",
    "template.code_box.x": "The code box's left edge (x)",
    "template.code_box.y": "The code box's top edge (y)",
    "template.code_box.size": "The code box's size",
    "template.window_tolerance": "The window tolerance",
    "template.window_tolerance.shift_mm": "The window tolerance's shift",
    "template.window_tolerance.angle_deg": "The window tolerance's angle",
    "template.window_tolerance.scale": "The window tolerance's scale",
    "lines": "The lines",
    "line_width_mm": "The line width",
    "line_color": "The line colour",
    "read_time_minutes": "The read time",
    "read_time_minutes.min": "The earliest read time",
    "read_time_minutes.max": "The latest read time",
}

# Fields whose allowed values a person reads better as a list in words.
CHOICES = {
    "spec": "must be “rdt-kit/1”",
    "format": "must be “cassette” or “strip”",
    "template.flow": "must be up, down, left or right",
    "role": "must be “control” or “test”",
    "present_means": "must be “reactive” or “non-reactive”",
}

NUMBER_KINDS = {"float_type", "float_parsing", "int_type", "int_parsing", "finite_number"}
OBJECT_KINDS = {"model_type", "model_attributes_type", "dict_type"}


def _pattern(loc: Sequence[str | int]) -> str:
    return ".".join("*" if isinstance(part, int) else str(part) for part in loc)


def _line(document: Mapping[str, Any], index: int) -> str:
    """'The control line C' (or 'Line 2' when the line is not readable)."""
    lines = document.get("lines")
    line = lines[index] if isinstance(lines, list) and 0 <= index < len(lines) else None
    if isinstance(line, Mapping):
        role = line.get("role") if line.get("role") in ("control", "test") else None
        name = line.get("name") if isinstance(line.get("name"), str) and line["name"] else None
        if role and name:
            return f"The {role} line {name}"
        if name:
            return f"Line {name}"
    return f"Line {index + 1}"


def _label(document: Mapping[str, Any], loc: Sequence[str | int]) -> str:
    if len(loc) >= 2 and loc[0] == "lines" and isinstance(loc[1], int):
        line = _line(document, loc[1])
        field = {
            "name": "name",
            "role": "role",
            "at": "position",
            "analyte": "analyte",
            "present_means": "meaning",
        }.get(str(loc[2]) if len(loc) > 2 else "", "")
        return f"{line}'s {field}" if field else line
    return LABELS.get(_pattern(loc), _pattern(loc).replace("_", " ").capitalize() or "The kit")


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, int | float) else str(value)


def _fixed(kind: str, ctx: Mapping[str, Any]) -> str | None:
    """The sentence for a mistake of the kit's own checks (the same wherever it is)."""
    if kind == "not_an_object":
        return "The kit description must be a JSON object ({ … })."
    if kind == "duplicate_line_names":
        return f"Two lines are named {ctx.get('name')}: give each line its own name."
    if kind == "no_control_line":
        return "There is no control line: without one an invalid test cannot be recognised."
    if kind == "no_test_line":
        return "There is no test line: add the line that shows the result."
    if kind == "same_position":
        return (
            f"Lines {ctx.get('first')} and {ctx.get('second')} are at the same place in the "
            "window: each line needs its own position."
        )
    if kind == "code_box_overlaps_window":
        return "The code box overlaps the result window: they must not cover each other."
    if kind == "window_too_short":
        return (
            "The result window is too short along the flow for its lines "
            f"({_number(round(float(ctx.get('length_mm', 0)), 2))} mm; it must be at least "
            f"{_number(ctx.get('needed_mm'))} mm, two line widths)."
        )
    if kind == "min_after_max":
        return "The latest read time is before the earliest."
    return None


def _bounds(kind: str, label: str, ctx: Mapping[str, Any]) -> str | None:
    words = {
        "greater_than": ("more than", "gt"),
        "greater_than_equal": ("at least", "ge"),
        "less_than": ("less than", "lt"),
        "less_than_equal": ("at most", "le"),
    }
    if kind not in words:
        return None
    phrase, key = words[kind]
    return f"{label} must be {phrase} {_number(ctx.get(key))}."


def plain_words(problem: KitProblem, document: Mapping[str, Any]) -> str:
    """One mistake as a sentence, naming the thing as the form does."""
    loc, kind, ctx = problem.loc, problem.kind, problem.context
    fixed = _fixed(kind, ctx)
    if fixed is not None:
        return fixed
    label = _label(document, loc)
    last = str(loc[-1]) if loc else ""
    line = _line(document, loc[1]) if len(loc) > 1 and isinstance(loc[1], int) else None
    if line and last == "at" and kind in ("less_than_equal", "greater_than_equal"):
        return (
            f"{line} lies outside the result window: its position must be from 0 "
            "(the sample end) to 1 (the far end)."
        )
    if line and kind == "present_means_on_control":
        return f"{line}: only a test line can mean “non-reactive”, not a control line."
    if kind in ("literal_error", "enum"):
        choice = CHOICES.get(_pattern(loc)) or CHOICES.get(last)
        if choice:
            return f"{label} {choice}."
    simple = {
        "missing": "is missing",
        "string_too_short": "is empty",
        "list_type": "must be a list",
        "string_type": "must be text",
    }
    if kind in simple:
        return f"{label} {simple[kind]}."
    if kind in NUMBER_KINDS:
        return f"{label} must be a number."
    if kind in OBJECT_KINDS:
        return f"{label} must be a group of fields ({{ … }})."
    if kind == "outside_image":
        size = f"{ctx.get('width')} × {ctx.get('height')} pixels"
        return f"{label} lies outside the template image ({size})."
    if kind == "string_too_long":
        return f"{label} is too long (at most {ctx.get('max_length')} characters)."
    if kind == "too_short" and last == "lines":
        return (
            f"{label}: there must be at least {ctx.get('min_length')}, a control and a test line."
        )
    if kind == "string_pattern_mismatch" and last == "line_color":
        return f"{label} must be written as #rrggbb, for example #aa3366."
    bounds = _bounds(kind, label, ctx)
    if bounds is not None:
        return bounds
    # Anything not foreseen still says where, in the validator's own words.
    return f"{label}: {problem.message.split(': ', 1)[-1]}."


def kit_field_problems(problems: Sequence[KitProblem], document: object) -> list[FieldProblem]:
    """Every mistake as (path, sentence), in the order found."""
    doc = document if isinstance(document, Mapping) else {}
    return [FieldProblem(field=p.where, message=plain_words(p, doc)) for p in problems]


class KitInvalidError(InvalidError):
    """A kit description with mistakes: ``errors`` lists each, in plain words, by path."""

    def __init__(self, errors: list[FieldProblem]) -> None:
        count = "one mistake" if len(errors) == 1 else f"{len(errors)} mistakes"
        super().__init__(
            f"kit: the kit description has {count}: " + " ".join(e.message for e in errors)
        )
        self.errors = errors
        self.extensions = {"errors": [e.model_dump() for e in errors]}
