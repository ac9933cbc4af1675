"""Real-world variations simulated on rendered photos, for the tests that pin them.

``datasets.render`` draws one ideal unit per kit; real units of one product differ
(the moulded window sits up to 1.5 mm off the print, the code is on a label stuck
on by hand), and real optics differ (soft bevelled rims, burst-frame blur, tinted
membranes). These helpers make those cases from a rendered photo or kit.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import segno

from datasets.generate import DEFAULT_OD_MIX, draw_line_ods, unit_code
from datasets.kits import benchmark_kits
from datasets.render import FLAWS, RenderedPhoto, render_photo
from datasets.render.variation import Variation, draw_variation
from pipeline.kit import Kit, parse_kit
from pipeline.rectify import window_corners, window_px_per_mm


def misregistered_kit(kit: Kit, dx_mm: float, dy_mm: float) -> Kit:
    """The kit as measured on another unit whose window (rim and membrane) sits
    ``(dx_mm, dy_mm)`` away: the template's window region is moved, print and code stay.

    A photo of a unit of ``kit`` read with this kit is a unit misregistered by that much.
    """
    template = kit.template.copy()
    w = kit.window
    grow = round(0.8 * kit.px_per_mm)  # the rim around the membrane
    x0, y0 = int(w.x) - grow, int(w.y) - grow
    x1, y1 = math.ceil(w.x + w.w) + grow, math.ceil(w.y + w.h) + grow
    region = template[y0:y1, x0:x1].copy()
    # The plastic just outside the rim fills where the window was.
    ring = np.concatenate(
        [
            template[y0 - 3 : y0 - 1, x0:x1].reshape(-1, 4),
            template[y1 + 1 : y1 + 3, x0:x1].reshape(-1, 4),
        ]
    )
    template[y0:y1, x0:x1] = np.median(ring, axis=0).astype(np.uint8)
    sx, sy = round(dx_mm * kit.px_per_mm), round(dy_mm * kit.px_per_mm)
    template[y0 + sy : y1 + sy, x0 + sx : x1 + sx] = region
    doc = kit.to_json()
    doc["template"]["window"]["x"] = w.x + sx
    doc["template"]["window"]["y"] = w.y + sy
    return parse_kit(doc, template)


def hand_label(
    image: np.ndarray,
    homography: np.ndarray,
    kit: Kit,
    code: str,
    shift_mm: tuple[float, float],
    angle_deg: float,
) -> np.ndarray:
    """``image`` with a white label carrying the unit's QR code stuck on by hand: the
    template's ``code_box`` turned by ``angle_deg`` and moved by ``shift_mm``."""
    box = kit.code_box
    assert box is not None
    qr = np.array(segno.make_qr(code, error="m").matrix, np.uint8)
    quiet = 2  # modules of white label around the symbol
    label = np.pad(1 - qr, quiet, constant_values=1) * 255
    n = label.shape[0]
    module = box.size / qr.shape[0]  # template px per module, so the symbol fills the box
    centre = np.array([box.x + box.size / 2, box.y + box.size / 2])
    centre = centre + np.array(shift_mm) * kit.px_per_mm
    a = math.radians(angle_deg)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    # Label pixel (i, j) -> template: centred, scaled to modules, turned.
    lin = rot * module
    to_template = np.eye(3)
    to_template[:2, :2] = lin
    to_template[:2, 2] = centre - lin @ np.array([(n - 1) / 2, (n - 1) / 2])
    m = homography @ to_template
    h, w = image.shape[:2]
    big = cv2.resize(label.astype(np.uint8), (n * 8, n * 8), interpolation=cv2.INTER_NEAREST)
    up = np.diag([1 / 8, 1 / 8, 1.0]) @ np.array([[1, 0, 3.5], [0, 1, 3.5], [0, 0, 1.0]])
    warped = cv2.warpPerspective(big, m @ up, (w, h), flags=cv2.INTER_AREA)
    cover = cv2.warpPerspective(np.ones_like(big), m @ up, (w, h), flags=cv2.INTER_AREA)
    out = image.copy()
    paper = np.array([228, 232, 232], float)  # a slightly grey white, as lit
    sel = cover > 0
    ink = warped[sel].astype(float)[:, None] / 255.0
    out[sel] = np.clip(30 + ink * (paper - 30), 0, 255).astype(np.uint8)
    return out


def soft_rim(
    image: np.ndarray, homography: np.ndarray, kit: Kit, sigma_mm: float, band_mm: float = 1.0
) -> np.ndarray:
    """``image`` with a band of ``band_mm`` either side of the window's edge blurred by
    ``sigma_mm``: a bevelled, shaded moulded rim on an otherwise sharp photo."""
    ppm = window_px_per_mm(kit, homography)
    soft = cv2.GaussianBlur(image, (0, 0), sigma_mm * ppm)
    outer = window_corners(kit, homography, margin_mm=band_mm).astype(np.int32)
    inner = window_corners(kit, homography, margin_mm=-band_mm).astype(np.int32)
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(mask, [outer], 1)
    cv2.fillPoly(mask, [inner], 0)
    out = image.copy()
    out[mask > 0] = soft[mask > 0]
    return out


def motion_blur(image: np.ndarray, length_px: float, angle_deg: float) -> np.ndarray:
    """A burst frame: ``image`` smeared along a straight line of ``length_px``."""
    size = math.ceil(length_px) | 1
    kernel = np.zeros((size, size), np.float32)
    c = size // 2
    a = math.radians(angle_deg)
    d = np.array([math.cos(a), math.sin(a)]) * (length_px - 1) / 2
    cv2.line(kernel, (round(c - d[0]), round(c - d[1])), (round(c + d[0]), round(c + d[1])), 1.0, 1)
    return cv2.filter2D(image, -1, kernel / kernel.sum())


def encode(image: np.ndarray, quality: int = 92) -> bytes:
    """JPEG bytes of a BGR image, as a phone would upload them."""
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


WIDE_SEED = 20261126 + 7  # the read benchmark's realworld-wide slice


def wide_slice_photo(i: int) -> tuple[Kit, RenderedPhoto, Variation]:
    """Photo ``i`` of the read benchmark's wide slice, drawn as ``datasets.generate`` draws
    it: its kit, the rendered photo and the unit's variation."""
    kits = [parse_kit(doc, template) for doc, template in benchmark_kits(20261126)]
    rng = np.random.default_rng([WIDE_SEED, i])
    kit = kits[int(rng.integers(len(kits)))]
    ods, _ = draw_line_ods(kit, rng, dict(DEFAULT_OD_MIX))
    flaw = str(rng.choice(FLAWS)) if rng.random() < 0.1 else None
    code = unit_code(rng)
    unit = draw_variation(
        np.random.default_rng([WIDE_SEED, i, 1]), "realworld-wide", small_cassettes=True, kit=kit
    )
    photo = render_photo(kit, rng, od=ods, code=code, flaw=flaw, variation=unit)
    return kit, photo, unit
