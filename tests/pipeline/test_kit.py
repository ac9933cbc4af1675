"""Kit descriptions: every field of rdt-kit/1, and errors that name the field."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.kit import KitError, decode_template, load_kit, parse_kit

DEMO = Path(__file__).resolve().parents[2] / "datasets" / "kits" / "demo" / "kit.json"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "kit-spec" / "example" / "kit.json"


@pytest.fixture
def document() -> dict:
    return json.loads(DEMO.read_text())


@pytest.fixture
def template() -> np.ndarray:
    return load_kit(DEMO).template


def test_demo_kit_loads_with_its_template() -> None:
    kit = load_kit(DEMO)
    assert kit.product_code == "DEMO-COV-AG"
    assert kit.template.shape == (853, 240, 4)
    assert kit.flow == "down"
    assert [line.role for line in kit.lines] == ["test", "control"]
    assert kit.window_length_mm == pytest.approx(19.1)
    assert kit.window_width_mm == pytest.approx(5.0)


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/kit-spec/example is not beside the repo")
def test_demo_kit_is_the_shared_example() -> None:
    assert load_kit(SHARED).to_json() == load_kit(DEMO).to_json()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(spec="rdt-kit/2"), "spec: must be 'rdt-kit/1'"),
        (lambda d: d.pop("product_code"), "product_code: required field is missing"),
        (lambda d: d["template"].update(px_per_mm=0), "template.px_per_mm: Input should be"),
        (lambda d: d["template"].update(flow="sideways"), "template.flow"),
        (lambda d: d["template"]["window"].pop("h"), "template.window.h: required field"),
        (lambda d: d["template"]["window"].update(w="wide"), "template.window.w"),
        (lambda d: d["lines"].pop(), "lines: List should have at least 2 items"),
        (lambda d: d["lines"][0].update(at=1.5), "lines.0.at: Input should be less than or equal"),
        (lambda d: d["lines"][0].update(role="reference"), "lines.0.role"),
        (lambda d: d["lines"][1].update(name="T"), "line names must be unique, repeated: T"),
        (lambda d: d["lines"][1].update(role="test"), "at least one line must have role 'control'"),
        (lambda d: d["lines"][1].update(at=d["lines"][0]["at"]), "share the same position"),
        (lambda d: d.update(line_color="red"), "line_color: String should match pattern"),
        (lambda d: d.update(format="tablet"), "format: Input should be 'cassette' or 'strip'"),
        (lambda d: d["read_time_minutes"].update(min=40), "max must not be smaller than min"),
        (lambda d: d["lines"][1].update(present_means="non-reactive"), "test lines only"),
        (lambda d: d["template"]["window"].update(x=230), "lies outside the 240x853 template"),
        (lambda d: d["template"]["code_box"].update(y=300), "code_box overlaps template.window"),
        # A kit may narrow the window search, never widen it past what it is built for.
        (lambda d: d["template"].update(window_tolerance={"shift_mm": 3}), "less than or equal"),
        (lambda d: d["template"].update(window_tolerance={"angle_deg": -1}), "greater than"),
    ],
)
def test_wrong_kit_files_name_the_field(change, message, document, template) -> None:
    broken = copy.deepcopy(document)
    change(broken)
    with pytest.raises(KitError) as err:
        parse_kit(broken, template)
    assert message in str(err.value)


def test_every_optional_field_is_understood(document, template) -> None:
    document.update(format="strip", line_color="#aa3366")
    del document["template"]["code_box"]
    document["template"]["flow"] = "left"
    document["lines"] = [
        {"name": "A", "role": "test", "at": 0.2, "analyte": "A", "present_means": "non-reactive"},
        {"name": "B", "role": "test", "at": 0.45},
        {"name": "C", "role": "control", "at": 0.8},
    ]
    kit = parse_kit(document, template)
    assert kit.code_box is None
    assert kit.description.line_color == "#aa3366"
    assert [line.present_means for line in kit.lines] == ["non-reactive", "reactive", "reactive"]
    assert kit.lines[1].analyte_name == "B"  # falls back to the line's name
    assert kit.window_length_mm == pytest.approx(5.0)  # flow left: along the window's width


def test_window_tolerance_defaults_to_the_widest_and_may_be_narrowed(document, template) -> None:
    wide = parse_kit(document, template).window_tolerance
    assert (wide.shift_mm, wide.angle_deg, wide.scale) == (2.0, 4.0, 0.06)
    assert "window_tolerance" not in parse_kit(document, template).to_json()["template"]
    document["template"]["window_tolerance"] = {"shift_mm": 0.8, "scale": 0.02}
    narrow = parse_kit(document, template)
    assert (narrow.window_tolerance.shift_mm, narrow.window_tolerance.angle_deg) == (0.8, 4.0)
    assert narrow.to_json()["template"]["window_tolerance"]["scale"] == 0.02


def test_not_an_object_and_not_json(tmp_path: Path, template) -> None:
    with pytest.raises(KitError, match="must be a JSON object"):
        parse_kit([1, 2], template)
    bad = tmp_path / "kit.json"
    bad.write_text("{ not json")
    with pytest.raises(KitError, match="not valid JSON"):
        load_kit(bad)
    with pytest.raises(KitError, match="not found"):
        load_kit(tmp_path / "missing.json")


def test_missing_or_broken_template_image(tmp_path: Path, document) -> None:
    path = tmp_path / "kit.json"
    path.write_text(json.dumps(document))
    with pytest.raises(KitError, match=r"template\.image: file not found"):
        load_kit(path)
    (tmp_path / "template.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(KitError, match="could not be decoded"):
        load_kit(path)
    del document["template"]["image"]
    path.write_text(json.dumps(document))
    with pytest.raises(KitError, match=r"template\.image: required field is missing"):
        load_kit(path)


def test_template_gains_an_alpha_channel() -> None:
    import cv2

    ok, png = cv2.imencode(".png", np.full((40, 30, 3), 200, np.uint8))
    assert ok
    assert decode_template(png.tobytes()).shape == (40, 30, 4)


def test_every_mistake_is_found_at_once(document, template) -> None:
    """Three wrong fields and two clashes across fields: all five, each with its path."""
    document.pop("name")
    document["template"]["flow"] = "sideways"
    document["lines"][1].update(at=1.3)
    document["template"]["window"]["y"] = 800  # past the 853 px high image
    document["template"]["code_box"]["y"] = 700  # onto the window
    with pytest.raises(KitError) as err:
        parse_kit(document, template)
    found = [(p.where, p.kind) for p in err.value.problems]
    assert found == [
        ("name", "missing"),
        ("template.flow", "literal_error"),
        ("lines.1.at", "less_than_equal"),
        ("template.window", "outside_image"),
        ("template.code_box", "code_box_overlaps_window"),
    ]
    assert str(err.value).count(";") == 4  # the message names all five too
