"""Rectification: every flow direction ends with the sample side at column 0."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from pipeline.kit import load_kit, parse_kit
from pipeline.rectify import rectify_window, window_corners, window_px_per_mm

DEMO = Path(__file__).resolve().parents[2] / "datasets" / "kits" / "demo" / "kit.json"


@pytest.mark.parametrize("flow", ["up", "down", "left", "right"])
def test_sample_side_is_column_zero_for_every_flow(flow: str) -> None:
    base = load_kit(DEMO)
    doc = copy.deepcopy(base.to_json())
    doc["template"]["window"] = {"x": 60, "y": 200, "w": 120, "h": 120}
    doc["template"].pop("code_box")
    doc["template"]["flow"] = flow
    kit = parse_kit(doc, base.template)
    image = np.full((853, 240), 200, np.uint8)
    # A dark mark on the sample side of the window, 2 mm in from the edge.
    w = kit.window
    if flow == "down":
        image[int(w.y) + 18 : int(w.y) + 22, int(w.x) : int(w.x + w.w)] = 20
    elif flow == "up":
        image[int(w.y + w.h) - 22 : int(w.y + w.h) - 18, int(w.x) : int(w.x + w.w)] = 20
    elif flow == "right":
        image[int(w.y) : int(w.y + w.h), int(w.x) + 18 : int(w.x) + 22] = 20
    else:
        image[int(w.y) : int(w.y + w.h), int(w.x + w.w) - 22 : int(w.x + w.w) - 18] = 20
    strip = rectify_window(image, kit, np.eye(3), px_per_mm=10)
    assert strip.shape == (120, 120)
    profile = strip.mean(axis=0)
    assert 17 <= int(np.argmin(profile)) <= 22


def test_scale_and_corners_follow_the_homography() -> None:
    kit = load_kit(DEMO)
    h = np.array([[0.0, -2.0, 1500.0], [2.0, 0.0, 100.0], [0.0, 0.0, 1.0]])  # rotate 90°, x2
    assert window_px_per_mm(kit, h) == pytest.approx(20.0)
    corners = window_corners(kit, h)
    sides = np.linalg.norm(np.roll(corners, -1, axis=0) - corners, axis=1)
    assert sides == pytest.approx([100.0, 382.0, 100.0, 382.0])
