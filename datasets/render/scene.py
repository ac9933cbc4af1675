"""The scene around the kit: table surface, clutter, light, glare."""

from __future__ import annotations

import math

import cv2
import numpy as np

from datasets.render.draw import (
    circle_points,
    draw_text,
    fbm,
    fill_polygons,
    random_colour,
    rect_points,
)


def background(rng: np.random.Generator, w: int, h: int, s: float) -> tuple[np.ndarray, str]:
    """A table surface in linear light, (h, w, 3) float32, and the kind drawn."""
    kind = str(
        rng.choice(["marble", "fabric", "wood", "paper", "plain"], p=[0.3, 0.25, 0.15, 0.15, 0.15])
    )
    lw, lh = max(8, w // 4), max(8, h // 4)
    c1 = random_colour(rng, (0.0, 0.45), (0.25, 0.9))
    c2 = (
        c1 * rng.uniform(0.6, 0.95)
        if rng.random() < 0.7
        else random_colour(rng, (0.0, 0.4), (0.3, 0.9))
    )
    if kind == "marble":
        n = fbm(rng, lh, lw, rng.uniform(20, 80), 5)
        freq = rng.uniform(2.0, 7.0)
        m = 0.5 + 0.5 * np.sin(freq * np.pi * n + rng.uniform(0, 6))
        m = m ** rng.uniform(1.0, 3.0)
    elif kind == "wood":
        gh, gw = (lh, max(2, lw // 16)) if rng.random() < 0.5 else (max(2, lh // 16), lw)
        n = cv2.resize(fbm(rng, gh, gw, 6, 3), (lw, lh), interpolation=cv2.INTER_CUBIC)
        m = 0.5 + 0.5 * np.sin(rng.uniform(8, 20) * n)
        c1 = random_colour(rng, (0.3, 0.6), (0.3, 0.75))
        c1[0] *= 0.6  # wood is warm
        c2 = c1 * rng.uniform(0.55, 0.8)
    else:
        m = 0.5 + 0.15 * fbm(rng, lh, lw, rng.uniform(30, 120), 4)
        if kind == "paper":
            c1 = random_colour(rng, (0.0, 0.08), (0.8, 0.95))
            c2 = c1 * 0.93
    m = np.clip(m, 0, 1).astype(np.float32)
    low = c1 * (1 - m[..., None]) + c2 * m[..., None]
    img = cv2.resize(low.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    if kind == "fabric":
        period = rng.uniform(3.0, 10.0)
        contrast = rng.uniform(0.05, 0.2)
        x = np.sin(np.arange(w, dtype=np.float32) * (2 * np.pi / period))
        y = np.sin(np.arange(h, dtype=np.float32) * (2 * np.pi / (period * rng.uniform(0.8, 1.25))))
        weave = 1 - contrast * (0.5 + 0.25 * (x[None, :] + y[:, None]) + 0.25 * np.outer(y, x))
        img *= weave[..., None]
    if kind == "paper":  # printed text lines, like a leaflet under the test
        ink = random_colour(rng, (0.0, 0.3), (0.05, 0.3))
        pitch = rng.uniform(5, 9) * s
        y0 = rng.uniform(0, pitch)
        x_left = rng.uniform(-0.1, 0.3) * w
        while y0 < h:
            length = rng.uniform(0.2, 0.8) * w
            if rng.random() < 0.85:
                fill_polygons(
                    img,
                    [rect_points(x_left + length / 2, y0, length, max(1.0, 0.3 * s), 0)],
                    ink,
                    0.8,
                )
            y0 += pitch * rng.uniform(0.9, 1.6)
    return img, kind


def clutter(rng: np.random.Generator, img: np.ndarray, s: float) -> int:
    """Other things on the table: discs, cards, pens, printed text."""
    h, w = img.shape[:2]
    n = int(rng.integers(0, 7))
    for _ in range(n):
        kind = rng.choice(["disc", "rect", "pen", "text"], p=[0.35, 0.35, 0.1, 0.2])
        cx, cy = rng.uniform(-0.05, 1.05) * w, rng.uniform(-0.05, 1.05) * h
        colour = random_colour(rng, (0.2, 0.9), (0.15, 0.95))
        if kind == "disc":
            fill_polygons(img, [circle_points(cx, cy, rng.uniform(5, 30) * s)], colour)
        elif kind == "rect":
            size = rng.uniform(8, 50, 2) * s
            fill_polygons(
                img, [rect_points(cx, cy, size[0], size[1], rng.uniform(0, np.pi))], colour
            )
        elif kind == "pen":
            fill_polygons(
                img,
                [
                    rect_points(
                        cx,
                        cy,
                        rng.uniform(90, 140) * s,
                        rng.uniform(7, 11) * s,
                        rng.uniform(0, np.pi),
                    )
                ],
                colour,
            )
        else:
            words = "".join(
                rng.choice(list("ABCDEFGHIJKLMNOPRSTUVWXYZ0123456789  "), int(rng.integers(5, 18)))
            )
            scale = rng.uniform(2.0, 5.0) * s / 22
            ink = float(rng.uniform(0.02, 0.2))
            draw_text(img, words, cx, cy, scale, ink)
    return n


def lighting(
    rng: np.random.Generator, w: int, h: int, clean: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Low-resolution multiplicative light (gradient, vignette, soft shadows) and its colour."""
    lw, lh = max(8, w // 8), max(8, h // 8)
    ys, xs = np.mgrid[0:lh, 0:lw].astype(np.float32)
    xn, yn = xs / lw * 2 - 1, ys / lh * 2 - 1
    ang = rng.uniform(0, 2 * np.pi)
    light = 1 + rng.uniform(0, 0.35) * (xn * math.cos(ang) + yn * math.sin(ang))
    light *= 1 - rng.uniform(0, 0.3) * (xn**2 + yn**2) / 2
    if not clean and rng.random() < 0.4:  # shadow of a hand or the phone, soft-edged
        mask = np.zeros((lh, lw), np.float32)
        c = np.array([rng.uniform(0, lw), rng.uniform(0, lh)])
        poly = rect_points(
            c[0],
            c[1],
            rng.uniform(0.3, 1.2) * lw,
            rng.uniform(0.3, 1.2) * lh,
            rng.uniform(0, np.pi),
        )
        cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 1.0)
        soft = cv2.GaussianBlur(mask, (0, 0), rng.uniform(0.02, 0.06) * lw)
        light *= 1 - rng.uniform(0.15, 0.45) * soft
    cast = np.exp(rng.normal(0, 0.07, 3)).astype(np.float32)  # white balance error
    return light.astype(np.float32), cast


def glare_band(
    rng: np.random.Generator, w: int, h: int, avoid: np.ndarray | None, strength: float
) -> np.ndarray:
    """Low-resolution additive specular band, kept clear of the points in ``avoid``."""
    lw, lh = max(8, w // 8), max(8, h // 8)
    ys, xs = np.mgrid[0:lh, 0:lw].astype(np.float32)
    ang = rng.uniform(0, np.pi)
    nx, ny = -math.sin(ang), math.cos(ang)
    sigma = rng.uniform(0.02, 0.08) * math.hypot(lw, lh)
    offset = rng.uniform(0, 1) * (nx * lw + ny * lh)
    if avoid is not None:
        p = avoid / 8
        d = p[:, 0] * nx + p[:, 1] * ny
        reach = 3.0 * sigma
        # Put the band's centre line beyond the window on a random side.
        offset = (
            float(d.max() + reach + rng.uniform(0, 0.3) * lw)
            if rng.random() < 0.5
            else float(d.min() - reach - rng.uniform(0, 0.3) * lw)
        )
    dist = xs * nx + ys * ny - offset
    return (strength * np.exp(-0.5 * (dist / sigma) ** 2)).astype(np.float32)


def glare_patch(rng: np.random.Generator, w: int, h: int, corners: np.ndarray) -> np.ndarray:
    """A saturated specular patch over the result window (flaw ``glare``)."""
    lw, lh = max(8, w // 8), max(8, h // 8)
    ys, xs = np.mgrid[0:lh, 0:lw].astype(np.float32)
    c = corners / 8
    along = (c[3] + c[2] - c[0] - c[1]) / 2
    t = rng.uniform(0.3, 0.7)
    centre = (c[0] + c[1]) / 2 + along * t
    length = float(np.linalg.norm(along))
    sig_a = length * rng.uniform(0.3, 0.5)
    sig_b = length * rng.uniform(0.2, 0.45)
    e = along / max(length, 1e-6)
    dx, dy = xs - centre[0], ys - centre[1]
    da = dx * e[0] + dy * e[1]
    db = -dx * e[1] + dy * e[0]
    return (rng.uniform(2.0, 5.0) * np.exp(-0.5 * ((da / sig_a) ** 2 + (db / sig_b) ** 2))).astype(
        np.float32
    )
