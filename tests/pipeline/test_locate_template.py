"""The kit's prepared template is made once per template content, never served stale."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pipeline.kit import Kit, load_kit, parse_kit
from pipeline.locate.keypoints import _template_keypoints
from pipeline.locate.template import kit_model, prepared_pass

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "datasets" / "kits" / "demo" / "kit.json"


@pytest.fixture(scope="module")
def demo() -> Kit:
    return load_kit(DEMO)


def test_equal_kits_share_the_prepared_template(demo: Kit) -> None:
    again = load_kit(DEMO)  # another object, as a worker gets per task
    assert again is not demo
    assert kit_model(again) is kit_model(demo)
    assert prepared_pass(again, 2.0, 3.0, 1.0) is prepared_pass(demo, 2.0, 3.0, 1.0)


def test_a_changed_template_is_not_served_the_old_preparation(demo: Kit) -> None:
    before = kit_model(demo)
    points, _ = _template_keypoints(demo)
    template = demo.template.copy()
    h, w = template.shape[:2]
    long_axis = 1 if h > w else 0  # keypoint coordinate along the cassette: x or y
    end = 0.8 * max(h, w)
    # Cut the last fifth of the cassette away: a shorter outline, and less print to match.
    if h > w:
        template[int(end) :, :, 3] = 0
    else:
        template[:, int(end) :, 3] = 0
    changed = parse_kit(demo.to_json(), template)
    assert changed.content_key != demo.content_key
    model = kit_model(changed)
    assert model is not before
    assert model.aspect < before.aspect
    changed_points, _ = _template_keypoints(changed)
    assert changed_points.size == 0 or changed_points[:, long_axis].max() < end
    assert points[:, long_axis].max() >= end  # the old preparation had print there
    # The original kit still gets its own, unchanged preparation.
    assert kit_model(demo) is before


def test_a_changed_description_is_not_served_the_old_preparation(demo: Kit) -> None:
    document: dict[str, Any] = demo.to_json()
    document["template"] = {**document["template"], "window_tolerance": {"shift_mm": 0.7}}
    changed = parse_kit(document, demo.template)
    assert changed.window_tolerance.shift_mm == 0.7 != demo.window_tolerance.shift_mm
    assert changed.content_key != demo.content_key
    assert kit_model(changed) is not kit_model(demo)
    np.testing.assert_allclose(kit_model(changed).outline, kit_model(demo).outline)
