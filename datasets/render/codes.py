"""The unit's own code: a QR symbol printed into the kit's code box, or on a label stuck on.

Every unit carries its own code, printed after moulding: slightly off the code
box the template shows, or, where a manufacturer labels units by hand, on a
paper label (quiet zone included) placed several millimetres and degrees off,
with a visible edge and a thin shadow where it stands off the plastic.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import segno

from datasets.render.membrane import IDENTITY
from datasets.render.variation import NO_VARIATION, Variation
from pipeline.kit import Kit

#: How far a label's edge stands off the plastic, as its shadow shows (mm).
LABEL_SHADOW_MM = 0.15


def code_corners(kit: Kit, placement: np.ndarray = IDENTITY) -> np.ndarray:
    """Corners of the unit's code symbol in template pixels: top-left, top-right,
    bottom-right, bottom-left of the upright symbol, (4, 2)."""
    box = kit.code_box
    if box is None:
        raise ValueError("the kit has no code box")
    x0, y0, x1, y1 = box.x - 0.5, box.y - 0.5, box.x + box.size - 0.5, box.y + box.size - 0.5
    pts = np.array([[x0, y0, 1], [x1, y0, 1], [x1, y1, 1], [x0, y1, 1]], np.float64)
    return (pts @ placement.T)[:, :2]


def _to_face(pts: np.ndarray, k: float) -> np.ndarray:
    return (pts + 0.5) * k - 0.5


def _draw_label(face: np.ndarray, kit: Kit, k: float, placement: np.ndarray, v: Variation) -> None:
    """The paper label around the code: shadow, paper, edge; only where the plastic is."""
    box = kit.code_box
    assert box is not None
    ppm_face = kit.px_per_mm * k
    m = v.label_margin_mm * kit.px_per_mm
    x0, y0 = box.x - 0.5 - m, box.y - 0.5 - m
    x1, y1 = box.x + box.size - 0.5 + m, box.y + box.size - 0.5 + m
    pts = np.array([[x0, y0, 1], [x1, y0, 1], [x1, y1, 1], [x0, y1, 1]], np.float64)
    label = _to_face((pts @ placement.T)[:, :2], k)
    a = math.radians(v.rim_light_deg)
    away = -np.array([math.cos(a), -math.sin(a)]) * LABEL_SHADOW_MM * ppm_face
    h, w = face.shape[:2]
    lo = np.floor(np.minimum(label.min(0), (label + away).min(0)) - 4 * ppm_face).astype(int)
    hi = np.ceil(np.maximum(label.max(0), (label + away).max(0)) + 4 * ppm_face).astype(int)
    c0, r0 = max(0, lo[0]), max(0, lo[1])
    c1, r1 = min(w, hi[0]), min(h, hi[1])
    if c1 <= c0 or r1 <= r0:
        return
    region = face[r0:r1, c0:c1]
    alpha = region[..., 3:4]

    def coverage(poly: np.ndarray) -> np.ndarray:
        mask = np.zeros(region.shape[:2], np.uint8)
        fixed = np.round((poly - [c0, r0]) * 16).astype(np.int32)
        cv2.fillPoly(mask, [fixed], 255, cv2.LINE_AA, shift=4)
        return mask.astype(np.float32)[..., None] / 255

    shadow = cv2.GaussianBlur(coverage(label + away)[..., 0], (0, 0), max(0.5, 0.12 * ppm_face))
    region[..., :3] *= 1 - 0.35 * shadow[..., None]
    paper = coverage(label)
    colour = np.array([0.97, 1.0, 1.0], np.float32) * v.label_paper  # paper: slightly warm
    region[..., :3] = region[..., :3] * (1 - paper) + colour * alpha * paper
    edge = np.zeros(region.shape[:2], np.uint8)
    fixed = np.round((label - [c0, r0]) * 16).astype(np.int32)
    thick = max(1, round(0.08 * ppm_face))
    cv2.polylines(edge, [fixed], True, 255, thick, cv2.LINE_AA, shift=4)
    region[..., :3] *= 1 - 0.2 * edge.astype(np.float32)[..., None] / 255


def draw_code(
    face: np.ndarray,
    kit: Kit,
    rng: np.random.Generator,
    k: float,
    code: str,
    placement: np.ndarray = IDENTITY,
    variation: Variation = NO_VARIATION,
) -> None:
    """Print the unit's QR code where ``placement`` puts the code box (finder patterns
    upright on the template before the turn), on a label when ``variation.code_label``."""
    box = kit.code_box
    assert box is not None
    if variation.code_label:
        _draw_label(face, kit, k, placement, variation)
    matrix = np.array(segno.make_qr(code, error="m").matrix, dtype=bool)
    n = matrix.shape[0]
    corners = code_corners(kit, placement) + 0.5  # the symbol's extent, pixel edges
    x0, y0 = corners.min(0)
    x1, y1 = corners.max(0)
    fx0 = max(0, math.floor((x0 + 0.5) * k - 0.5) - 1)
    fy0 = max(0, math.floor((y0 + 0.5) * k - 0.5) - 1)
    fx1 = min(face.shape[1], math.ceil((x1 + 0.5) * k - 0.5) + 2)
    fy1 = min(face.shape[0], math.ceil((y1 + 0.5) * k - 0.5) + 2)
    if fx1 <= fx0 or fy1 <= fy0:
        return
    back = np.linalg.inv(placement)
    cover = np.zeros((fy1 - fy0, fx1 - fx0), np.float32)
    module = box.size / n
    for oy in (-0.25, 0.25):  # 2x2 supersampling for clean module edges
        for ox in (-0.25, 0.25):
            fy, fx = np.mgrid[fy0:fy1, fx0:fx1].astype(np.float64)
            px, py = (fx + 0.5 + ox) / k - 0.5, (fy + 0.5 + oy) / k - 0.5
            if placement is not IDENTITY:
                px, py = (
                    back[0, 0] * px + back[0, 1] * py + back[0, 2],
                    back[1, 0] * px + back[1, 1] * py + back[1, 2],
                )
            tx, ty = px - box.x + 0.5, py - box.y + 0.5
            ix, iy = np.floor(tx / module).astype(int), np.floor(ty / module).astype(int)
            inside = (ix >= 0) & (ix < n) & (iy >= 0) & (iy < n)
            dark = np.zeros(ix.shape, bool)
            dark[inside] = matrix[iy[inside], ix[inside]]
            cover += dark * 0.25
    ink = rng.uniform(0.02, 0.06)
    region = face[fy0:fy1, fx0:fx1]
    a = cover[..., None]
    region[..., :3] = region[..., :3] * (1 - a) + ink * region[..., 3:] * a
