"""Where the kit lies in the photo: a tilted pinhole view of it, framed or cut off."""

from __future__ import annotations

import math

import cv2
import numpy as np

from pipeline.kit import Kit
from pipeline.rectify import window_corners, window_px_per_mm


def _rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    cz, sz = math.cos(yaw), math.sin(yaw)
    cx, sx = math.cos(pitch), math.sin(pitch)
    cy, sy = math.cos(roll), math.sin(roll)
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    return rx @ ry @ rz


def kit_outline(kit: Kit) -> np.ndarray:
    """The kit's outline in template pixels, (N, 2) float."""
    mask = (kit.template[..., 3] > 127).astype(np.uint8)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        h, w = mask.shape
        return np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64)
    c = max(contours, key=cv2.contourArea)
    c = cv2.approxPolyDP(c, 0.6, True)
    return c[:, 0, :].astype(np.float64)


def project(h: np.ndarray, pts: np.ndarray) -> np.ndarray:
    p = np.c_[pts, np.ones(len(pts))] @ h.T
    return p[:, :2] / p[:, 2:3]


def place_kit(
    kit: Kit,
    rng: np.random.Generator,
    outline: np.ndarray,
    size: tuple[int, int],
    s: float,
    flaw: str | None,
) -> np.ndarray:
    """Homography template -> photo: tilted pinhole view, window at ``s`` px/mm, placed in frame."""
    w, h = size
    f = w * rng.uniform(0.75, 1.15)
    lim = 25.0 if flaw is None else 35.0
    pitch, roll = (math.radians(float(np.clip(rng.normal(0, 10), -lim, lim))) for _ in range(2))
    r = _rotation(rng.uniform(0, 2 * np.pi), pitch, roll)
    ppm = kit.px_per_mm
    c = (outline.min(0) + outline.max(0)) / 2
    to_mm = np.array([[1 / ppm, 0, -c[0] / ppm], [0, 1 / ppm, -c[1] / ppm], [0, 0, 1]])
    z = f / s
    for _ in range(4):  # the window is off the kit's centre: settle the distance iteratively
        hom = np.diag([f, f, 1.0]) @ np.c_[r[:, 0], r[:, 1], [0, 0, z]] @ to_mm
        z *= window_px_per_mm(kit, hom) / s
    hom = np.diag([f, f, 1.0]) @ np.c_[r[:, 0], r[:, 1], [0, 0, z]] @ to_mm
    pts = project(hom, outline)
    lo, hi = pts.min(0), pts.max(0)
    margin = 0.03 * min(w, h)
    span = hi - lo
    room = np.array([w, h]) - 2 * margin
    if flaw not in ("cutoff",) and (span > room).any():
        g = float((room / span).min())
        hom = np.diag([g, g, 1.0]) @ hom
        pts, lo, hi = pts * g, lo * g, hi * g
        span = hi - lo
    if flaw == "cutoff":
        return _place_cutoff(kit, rng, hom, (w, h))
    tx = rng.uniform(margin - lo[0], max(margin - lo[0], w - margin - hi[0]))
    ty = rng.uniform(margin - lo[1], max(margin - lo[1], h - margin - hi[1]))
    return np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1.0]]) @ hom


def _place_cutoff(
    kit: Kit, rng: np.random.Generator, hom: np.ndarray, size: tuple[int, int]
) -> np.ndarray:
    """Shift the view so that 30-70 % of the result window lies outside the frame."""
    w, h = size
    corners = window_corners(kit, hom)
    grid = np.linspace(0, 1, 9)
    uu, vv = np.meshgrid(grid, grid)
    pts = (
        corners[0] * ((1 - uu) * (1 - vv)).ravel()[:, None]
        + corners[3] * (uu * (1 - vv)).ravel()[:, None]
        + corners[1] * ((1 - uu) * vv).ravel()[:, None]
        + corners[2] * (uu * vv).ravel()[:, None]
    )
    centre = corners.mean(0)
    for _ in range(50):
        side = rng.integers(4)
        target = rng.uniform(0.3, 0.7)
        # Move the window centre onto the chosen edge, then slide until the outside share fits.
        tx, ty = rng.uniform(0.2, 0.8) * w - centre[0], rng.uniform(0.2, 0.8) * h - centre[1]
        if side == 0:
            tx = -centre[0]
        elif side == 1:
            tx = w - centre[0]
        elif side == 2:
            ty = -centre[1]
        else:
            ty = h - centre[1]
        p = pts + np.array([tx, ty])
        outside = float(np.mean((p[:, 0] < 0) | (p[:, 0] >= w) | (p[:, 1] < 0) | (p[:, 1] >= h)))
        if abs(outside - target) < 0.25 and 0.25 <= outside <= 0.8:
            return np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1.0]]) @ hom
    return np.array([[1, 0, -centre[0]], [0, 1, h / 2 - centre[1]], [0, 0, 1.0]]) @ hom
