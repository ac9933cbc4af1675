"""The kit as a solid in the scene: drop shadow, side walls, then its face."""

from __future__ import annotations

import math

import cv2
import numpy as np

from datasets.render.camera import project
from datasets.render.face import Face
from pipeline.kit import Kit


def composite_kit(
    img: np.ndarray,
    kit: Kit,
    rng: np.random.Generator,
    face: Face,
    hom: np.ndarray,
    outline: np.ndarray,
    s: float,
    clean: bool,
) -> None:
    """Drop shadow, side walls and the face of the kit onto the scene, in place."""
    h_img, w_img = img.shape[:2]
    top = project(hom, outline)
    strip = kit.description.format == "strip"
    thickness = rng.uniform(0.3, 0.6) if strip else rng.uniform(3.0, 6.0)
    view = rng.uniform(0.25, 0.9) * thickness * s
    ang = rng.uniform(0, 2 * np.pi)
    side_vec = np.array([math.cos(ang), math.sin(ang)]) * view
    bottom = top + side_vec
    light = rng.uniform(0, 2 * np.pi)
    shadow_vec = side_vec + np.array([math.cos(light), math.sin(light)]) * rng.uniform(0.5, 4.0) * s
    blur = rng.uniform(1.0, 4.0) * s
    pts = np.vstack([top, bottom, bottom + shadow_vec])
    x0, y0 = (np.floor(pts.min(0) - 3 * blur)).astype(int)
    x1, y1 = (np.ceil(pts.max(0) + 3 * blur)).astype(int)
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w_img, x1), min(h_img, y1)
    if x1 <= x0 or y1 <= y0:
        return
    roi = img[y0:y1, x0:x1]
    origin = np.array([x0, y0], np.float64)

    # Drop shadow: soft, computed at quarter resolution.
    q = 4
    sh, sw = max(1, (y1 - y0) // q), max(1, (x1 - x0) // q)
    mask = np.zeros((sh, sw), np.float32)
    poly = np.round((bottom + shadow_vec * 0.5 - origin) / q * 16).astype(np.int32)
    cv2.fillPoly(mask, [poly], 1.0, shift=4)
    mask = cv2.GaussianBlur(mask, (0, 0), max(0.5, blur / q))
    mask = cv2.resize(mask, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    strength = rng.uniform(0.25, 0.55) if not clean else 0.3
    roi *= (1 - strength * mask)[..., None]

    # Side walls: the outline swept from the table up to the face, darker towards the table.
    # One antialiased coverage mask for the union, one shade map (layer by layer) for the look.
    side_col = face.body * rng.uniform(0.45, 0.75)
    layers = int(np.clip(math.ceil(view / 1.5), 1, 14))
    cover = np.zeros(roi.shape[:2], np.uint8)
    shade = np.zeros(roi.shape[:2], np.float32)
    for j in range(layers):
        t = j / layers
        poly = np.round((top + side_vec * (1 - t) - origin) * 16).astype(np.int32)
        cv2.fillPoly(cover, [poly], 255, cv2.LINE_AA, shift=4)
        cv2.fillPoly(shade, [poly], 0.75 + 0.35 * t, cv2.LINE_8, shift=4)
    a = cover.astype(np.float32) * (1 / 255)
    roi *= (1 - a)[..., None]
    roi += (a * np.maximum(shade, 0.75))[..., None] * side_col

    # The face itself, warped straight into the region (premultiplied alpha).
    to_roi = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1.0]]) @ hom @ face.to_template()
    warped = cv2.warpPerspective(
        face.rgba,
        to_roi,
        (x1 - x0, y1 - y0),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    face_alpha = warped[..., 3:4]
    roi *= 1 - face_alpha
    roi += warped[..., :3]
