"""Antialiased drawing on float (linear-light) images, and smooth random noise."""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from datasets.render.colour import to_linear


def fbm(rng: np.random.Generator, h: int, w: int, cell: float, octaves: int = 4) -> np.ndarray:
    """Smooth value noise in about [-1, 1]: random grids of falling cell size, summed."""
    out = np.zeros((h, w), np.float32)
    amp, total = 1.0, 0.0
    for _ in range(octaves):
        gh, gw = max(2, round(h / cell) + 2), max(2, round(w / cell) + 2)
        grid = rng.standard_normal((gh, gw)).astype(np.float32)
        out += amp * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
        total += amp
        amp *= 0.5
        cell = max(cell / 2, 1.0)
    return out / (total * 0.8)


def fill_polygons(
    img: np.ndarray, polygons: list[np.ndarray], colour: Any, opacity: float = 1.0
) -> None:
    """Antialiased polygon fill on a float image (OpenCV antialiases only 8-bit masks)."""
    pts = np.concatenate(polygons)
    h, w = img.shape[:2]
    x0, y0 = max(0, math.floor(pts[:, 0].min()) - 2), max(0, math.floor(pts[:, 1].min()) - 2)
    x1, y1 = min(w, math.ceil(pts[:, 0].max()) + 3), min(h, math.ceil(pts[:, 1].max()) + 3)
    if x1 <= x0 or y1 <= y0:
        return
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    shifted = [np.round((p - [x0, y0]) * 16).astype(np.int32) for p in polygons]
    cv2.fillPoly(mask, shifted, 255, cv2.LINE_AA, shift=4)
    a = mask.astype(np.float32)[..., None] * (opacity / 255.0)
    region = img[y0:y1, x0:x1]
    region *= 1 - a
    region += a * np.asarray(colour, np.float32)


def draw_text(img: np.ndarray, text: str, x: float, y: float, scale: float, ink: float) -> None:
    """Antialiased dark print on a float image (putText draws on 8-bit images only)."""
    thick = max(1, round(scale * 2))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    h, w = img.shape[:2]
    x0, y0 = round(x), round(y) - th - thick
    mh, mw = th + base + 2 * thick, tw + 2 * thick
    sx0, sy0, sx1, sy1 = max(0, x0), max(0, y0), min(w, x0 + mw), min(h, y0 + mh)
    if sx1 <= sx0 or sy1 <= sy0:
        return
    mask = np.zeros((mh, mw), np.uint8)
    cv2.putText(
        mask, text, (thick, th + thick), cv2.FONT_HERSHEY_SIMPLEX, scale, 255, thick, cv2.LINE_AA
    )
    a = mask[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0].astype(np.float32)[..., None] / 255
    region = img[sy0:sy1, sx0:sx1]
    region *= 1 - a
    region += a * ink


def circle_points(cx: float, cy: float, r: float, n: int = 64) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], 1)


def rect_points(cx: float, cy: float, w: float, h: float, angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    corners = np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) / 2
    return corners @ np.array([[c, s], [-s, c]]) + [cx, cy]


def random_colour(
    rng: np.random.Generator, sat: tuple[float, float], val: tuple[float, float]
) -> np.ndarray:
    """A random BGR colour in linear light from HSV ranges."""
    hsv = np.array(
        [[[rng.integers(180), rng.uniform(*sat) * 255, rng.uniform(*val) * 255]]], np.uint8
    )
    return to_linear(np.asarray(cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)))[0, 0]
