"""A kit description with several mistakes: the API names every one, in plain words, by path."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.products.validation import kit_field_problems
from pipeline.kit import KitError, load_kit, parse_kit

DEMO_KIT = Path(__file__).resolve().parents[3] / "datasets" / "kits" / "demo"


@pytest.fixture
def good() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((DEMO_KIT / "kit.json").read_text())
    document["product_code"] = "NEW-KIT"
    return document


def three_mistakes(good: dict[str, Any]) -> dict[str, Any]:
    broken = copy.deepcopy(good)
    del broken["name"]
    broken["template"]["flow"] = "sideways"
    broken["lines"][1]["at"] = 1.3  # C, the control line
    return broken


def test_the_api_lists_every_mistake_in_plain_words(
    client: TestClient, world: Any, good: dict[str, Any]
) -> None:
    files = {
        "kit": ("kit.json", json.dumps(three_mistakes(good)).encode(), "application/json"),
        "template": ("template.png", (DEMO_KIT / "template.png").read_bytes(), "image/png"),
    }
    answer = client.post(
        "/api/products",
        headers=world.headers(world.maker),
        files=files,
        data={"registration_certificate_no": "REG-2024-001"},
    )
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem = answer.json()
    assert problem["code"] == "invalid"
    assert [e["field"] for e in problem["errors"]] == ["name", "template.flow", "lines.1.at"]
    messages = [e["message"] for e in problem["errors"]]
    assert messages[0] == "The product name is missing."
    assert messages[1] == "The flow direction must be up, down, left or right."
    assert messages[2].startswith("The control line C lies outside the result window")
    assert "3 mistakes" in problem["detail"]
    assert all(message in problem["detail"] for message in messages)


def test_one_wrong_part_does_not_hide_the_checks_of_the_others(good: dict[str, Any]) -> None:
    """A scale that is not a number leaves the window and code box checked, and lines
    that are each valid are still checked against one another."""
    template = load_kit(DEMO_KIT / "kit.json").template
    broken = copy.deepcopy(good)
    broken["template"]["px_per_mm"] = "ten"
    broken["template"]["window"]["y"] = 800  # past the 853 px high image
    broken["template"]["code_box"]["y"] = 700  # onto the window
    broken["lines"][1].update(name="T", role="test")  # two T lines, no control line
    broken["read_time_minutes"]["min"] = 40
    with pytest.raises(KitError) as caught:
        parse_kit(broken, template)
    said: dict[str, list[str]] = {}
    for p in kit_field_problems(caught.value.problems, broken):
        said.setdefault(p.field, []).append(p.message)
    assert said == {
        "template.px_per_mm": ["The scale (template pixels per millimetre) must be a number."],
        "template.window": [
            "The result window lies outside the template image (240 × 853 pixels)."
        ],
        "template.code_box": [
            "The code box overlaps the result window: they must not cover each other."
        ],
        "read_time_minutes": ["The latest read time is before the earliest."],
        "lines": [
            "Two lines are named T: give each line its own name.",
            "There is no control line: without one an invalid test cannot be recognised.",
        ],
    }


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (
            lambda d: d.update(spec="rdt-kit/2"),
            "spec",
            "The format version (spec) must be “rdt-kit/1”.",
        ),
        (lambda d: d.update(format=3), "format", "The format must be “cassette” or “strip”."),
        (
            lambda d: d.update(line_color="red"),
            "line_color",
            "The line colour must be written as #rrggbb, for example #aa3366.",
        ),
        (
            lambda d: d["template"]["window"].update(h=0),
            "template.window.h",
            "The result window's height must be more than 0.",
        ),
        (
            lambda d: d["lines"][0].update(at=-0.1),
            "lines.0.at",
            "The test line T lies outside the result window: its position must be from 0 "
            "(the sample end) to 1 (the far end).",
        ),
        (
            lambda d: d["lines"][1].update(at=d["lines"][0]["at"]),
            "lines.1.at",
            "Lines T and C are at the same place in the window: each line needs its own position.",
        ),
        (
            lambda d: d["lines"][1].update(present_means="non-reactive"),
            "lines.1",
            "The control line C: only a test line can mean “non-reactive”, not a control line.",
        ),
        (
            lambda d: d.update(line_width_mm=12),
            "template.window",
            "The result window is too short along the flow for its lines (19.1 mm; it must be "
            "at least 24 mm, two line widths).",
        ),
        (
            lambda d: d.update(product_code="X" * 65),
            "product_code",
            "The product code is too long (at most 64 characters).",
        ),
    ],
)
def test_each_mistake_in_plain_words(
    change: Any, field: str, message: str, good: dict[str, Any]
) -> None:
    broken = copy.deepcopy(good)
    change(broken)
    with pytest.raises(KitError) as caught:
        parse_kit(broken, np.zeros((853, 240, 4), np.uint8))
    found = [(p.field, p.message) for p in kit_field_problems(caught.value.problems, broken)]
    assert found == [(field, message)]
