"""The moulded window: where this unit's window really is, and its bevelled, shaded rim.

The kit description is measured from one unit. On another unit the window
(the moulded opening with its rim, and the membrane in it) sits up to a
millimetre or two away from the print: :func:`move_window` cuts the window and
its rim out of the template's picture, fills the hole with the plastic around
it and puts them back where this unit has them. :func:`shade_rim` turns the
template's printed step from rim to membrane into a moulded one: a bevelled
wall lit from one side, a soft edge ~0.25-0.4 mm wide, and the shadow the wall
towards the light casts on the membrane.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from datasets.render.colour import to_linear, to_srgb
from datasets.render.membrane import IDENTITY, window_coords
from datasets.render.variation import Variation
from pipeline.kit import Kit
from pipeline.rectify import window_to_template

#: How far the rim's shadow reaches onto the membrane (mm, 1/e).
SHADOW_REACH_MM = 0.4


def rim_width_mm(kit: Kit) -> float:
    """How far the window's rim reaches beyond the window in the template (mm).

    Walks outwards from the window until the colour stops looking like the
    rim's; the plastic beyond that is where print begins. A window without a
    visible rim counts as 0.6 mm.
    """
    tpl = kit.template
    w = kit.window
    outside = np.ones(tpl.shape[:2], np.uint8)
    x0, y0, x1, y1 = (round(c) for c in (w.x, w.y, w.x + w.w, w.y + w.h))
    outside[y0:y1, x0:x1] = 0
    dist = cv2.distanceTransform(outside, cv2.DIST_L2, 5) / kit.px_per_mm
    colour = tpl[..., :3].astype(np.float32) / 255
    body = tpl[..., 3] > 250

    def ring(a: float, b: float) -> np.ndarray | None:
        sel = body & (dist > a) & (dist <= b)
        return np.median(colour[sel], axis=0) if sel.sum() > 10 else None

    rim, far = ring(0.0, 0.3), ring(2.5, 3.5)
    if rim is None or far is None or np.linalg.norm(far - rim) < 0.04:
        return 0.6
    for d in np.arange(0.3, 2.5, 0.1):
        c = ring(float(d), float(d) + 0.1)
        if c is not None and np.linalg.norm(c - rim) > 0.5 * np.linalg.norm(far - rim):
            return float(d)
    return 2.5


def _face_map(k: float, template_map: np.ndarray, row0: int, col0: int) -> np.ndarray:
    """A template-pixel map as a map between pixels of a face region at scale ``k``."""
    to_face = np.array([[k, 0, 0.5 * k - 0.5], [0, k, 0.5 * k - 0.5], [0, 0, 1.0]])
    to_region = np.array([[1, 0, -col0], [0, 1, -row0], [0, 0, 1.0]])
    return to_region @ to_face @ template_map @ np.linalg.inv(to_face) @ np.linalg.inv(to_region)


def move_window(face: np.ndarray, kit: Kit, k: float, moved: np.ndarray) -> None:
    """Move the template's window and rim to where ``moved`` puts them, in place."""
    margin = min(rim_width_mm(kit) + 0.3, 2.5)
    ppm_face = kit.px_per_mm * k
    length, width = kit.window_length_mm, kit.window_width_mm
    # How far any point of the window may travel: the turn at its far corner plus the shift.
    reach = float(np.abs(moved[:2, :2] - np.eye(2)).max()) * max(kit.window.w, kit.window.h)
    reach += float(np.hypot(*_translation(moved, kit)))
    (rows, cols), u, v = window_coords(
        kit, k, IDENTITY, face.shape, margin + reach / kit.px_per_mm + 0.5
    )
    edge = np.minimum(np.minimum(u, length - u), np.minimum(v, width - v))
    group = np.clip((edge + margin) * ppm_face + 0.5, 0, 1).astype(np.float32)
    region = face[rows, cols]
    patch = region * group[..., None]

    # The hole the window leaves: filled from the plastic and print around it.
    hole = cv2.dilate((group > 0).astype(np.uint8) * 255, np.ones((5, 5), np.uint8))
    alpha = region[..., 3:4]
    colour = np.where(alpha > 1e-3, region[..., :3] / np.maximum(alpha, 1e-3), 0)
    filled = cv2.inpaint(to_srgb(colour), hole, 3, cv2.INPAINT_TELEA)
    base = np.dstack([to_linear(filled) * alpha, alpha])

    m = _face_map(k, moved, rows.start, cols.start)[:2]
    size = (region.shape[1], region.shape[0])
    put = cv2.warpAffine(patch, m, size, flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0, 0))
    cover = cv2.warpAffine(group, m, size, flags=cv2.INTER_LINEAR, borderValue=0)
    region[:] = put + base * (1 - cover[..., None])


def _translation(moved: np.ndarray, kit: Kit) -> tuple[float, float]:
    """How far ``moved`` shifts the window's centre (template pixels)."""
    w = kit.window
    c = np.array([w.x + w.w / 2, w.y + w.h / 2, 1.0])
    d = moved @ c - c
    return float(d[0]), float(d[1])


def shade_rim(face: np.ndarray, kit: Kit, k: float, window: np.ndarray, v: Variation) -> None:
    """Bevel, light and soften the rim around the (moved) window, in place."""
    bevel = v.rim_bevel_mm
    ppm_face = kit.px_per_mm * k
    length, width = kit.window_length_mm, kit.window_width_mm
    (rows, cols), uu, vv = window_coords(kit, k, window, face.shape, bevel + 1.5)
    sides = np.stack([uu, length - uu, vv, width - vv])  # mm inside the window from each side
    normals = np.array([[-1.0, 0.0], [1.0, 0.0], [0.0, -1.0], [0.0, 1.0]])  # outward, (u, v)
    # The light's direction in the window's (u, v) frame.
    a = math.radians(v.rim_light_deg)
    to_window = np.linalg.inv(window @ window_to_template(kit))[:2, :2]
    light = to_window @ np.array([math.cos(a), -math.sin(a)])
    light /= max(float(np.linalg.norm(light)), 1e-9)
    towards = normals @ light  # > 0: that side's wall stands between the membrane and the light
    edge = sides.min(0)
    nearest = sides.argmin(0)

    region = face[rows, cols]
    rgb = region[..., :3]
    # The bevelled wall, just outside the membrane: its face turned to the light is lit,
    # the opposite one shaded, darker down in the recess.
    on_wall = (edge < 0) & (edge >= -bevel)
    depth = np.clip(1 + edge / bevel, 0, 1)  # 1 at the membrane, 0 at the rim's top
    wall = (0.8 - 0.35 * towards[nearest]) * (1 - 0.25 * depth)
    rgb *= np.where(on_wall, wall, 1.0)[..., None].astype(np.float32)
    # The shadow the walls towards the light cast on the membrane.
    inside = edge >= 0
    shade = np.ones(edge.shape)
    for side, t in zip(sides, towards, strict=True):
        if t > 0:
            shade *= 1 - v.rim_shadow * t * np.exp(-np.clip(side, 0, None) / SHADOW_REACH_MM)
    rgb *= np.where(inside, shade, 1.0)[..., None].astype(np.float32)
    # A moulded edge is soft: blur across it over about the bevel's width (10-90 %).
    sigma = max(0.3, bevel / 2.56 * ppm_face)
    soft = cv2.GaussianBlur(region, (0, 0), sigma)
    weight = np.exp(-0.5 * (edge / bevel) ** 2).astype(np.float32)[..., None]
    region[:] = region * (1 - weight) + soft * weight
