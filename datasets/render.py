"""Synthetic phone photos of used test kits, with exact ground truth.

:func:`render_photo` draws one photo of one unit of a kit: the cassette (or
strip) face from the kit's template with a membrane, its lines and the unit's
QR code, lifted into a 3-D scene (side walls, drop shadow, tilt, any
rotation) on a textured table with clutter, then lit, blurred, noised and
JPEG-compressed like a phone camera would.

Photometry is what the readers depend on. The scene is composed in **linear
light** and encoded to sRGB only at the end, but a line's optical density is
defined, as readers (and the example photos' truth) measure it, on the
*encoded* pixel values: ``-log10(line / membrane beside it)`` in the dye's
strongest channel of the decoded photo is the ``od`` in the truth, up to blur,
noise and JPEG loss. :func:`linear_od` converts it to the linear-light density
that multiplies the membrane's reflectance by ``10 ** (-linear_od * a[c])`` in
channel ``c``, where ``a`` is the dye's relative absorbance (strongest channel
1). sRGB is close to a 2.2 power law over membrane tones, so lighting, colour
casts and exposure, all multiplicative in linear light, leave the encoded
ratio nearly unchanged. Glare is additive and is kept off the window in
photos labelled fit.

The homography returned maps template pixels to photo pixels (OpenCV pixel
convention: integer coordinates at pixel centres, in both images).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import segno
from scipy.special import erf

from datasets.kits import DYE_ABSORBANCE, absorbance_from_hex, dye_absorbance
from pipeline.kit import Kit
from pipeline.rectify import window_corners, window_px_per_mm, window_to_template

#: A line at or above this optical density counts as visible (present).
VISIBLE_OD = 0.01
#: Flaws that make a photo unreadable; photos with one are labelled ``fit: false``.
FLAWS = ("blur", "glare", "cutoff", "dark", "overexposed", "no_cassette", "far")
#: Photo sizes (width, height) drawn when none is given: 3 to 12 megapixels, both orientations.
SIZES = ((2048, 1536), (2592, 1944), (3264, 2448), (4000, 3000), (1536, 2048), (3000, 4000))

_LIN_LUT = np.where(
    (v := np.arange(256) / 255.0) <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4
).astype(np.float32)
_SRGB_STEPS = 16384
_SRGB_LUT = np.clip(
    np.round(
        255
        * np.where(
            (x := np.arange(_SRGB_STEPS + 1) / _SRGB_STEPS) <= 0.0031308,
            12.92 * x,
            1.055 * x ** (1 / 2.4) - 0.055,
        )
    ),
    0,
    255,
).astype(np.uint8)


@dataclass
class RenderedPhoto:
    """One synthetic photo and what is true about it.

    Attributes
    ----------
    image : ndarray
        The photo, BGR ``uint8``, before JPEG compression.
    truth : dict
        Same shape as a ``truth.jsonl`` line: ``code``, ``fit``, ``flaw``,
        ``od`` (per line name), ``result``, ``analytes``.
    homography : ndarray or None
        3x3 map from template pixels to photo pixels; ``None`` without a kit
        in the picture (flaw ``no_cassette``).
    jpeg : bytes
        The photo as the pipeline receives it.
    line_at : dict
        Where each line really is on this unit (fraction of the window length
        from the sample side); real units place lines up to ~10 % away from
        the kit's nominal ``at``.
    window_px_per_mm : float or None
        Photo resolution on the result window.
    meta : dict
        Scene parameters (background, dye, JPEG quality, ...) for analysis.
    """

    image: np.ndarray
    truth: dict[str, Any]
    homography: np.ndarray | None
    jpeg: bytes
    line_at: dict[str, float] = field(default_factory=dict)
    window_px_per_mm: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def decoded(self) -> np.ndarray:
        """The JPEG decoded again: exactly the pixels the pipeline sees."""
        image = cv2.imdecode(np.frombuffer(self.jpeg, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError("the JPEG bytes could not be decoded")
        return np.asarray(image)


# --- ground truth ---------------------------------------------------------------------------


def kit_truth(
    kit: Kit, od: dict[str, float], code: str | None, flaw: str | None = None
) -> dict[str, Any]:
    """The truth record of a unit with these line densities, by the kit's criteria.

    Invalid when any control line is below :data:`VISIBLE_OD`; otherwise a
    test line's analyte is positive when the line is visible (reactive) or
    not visible (``present_means: non-reactive``).

    Examples
    --------
    >>> from pipeline.kit import load_kit
    >>> kit = load_kit("datasets/kits/demo/kit.json")
    >>> t = kit_truth(kit, {"T": 0.03, "C": 0.5}, "X1")
    >>> t["result"], t["analytes"], t["fit"]
    ('positive', {'SARS-CoV-2 antigen': 'positive'}, True)
    >>> kit_truth(kit, {"T": 0.3, "C": 0.0}, "X1")["result"]
    'invalid'
    """
    ods = {line.name: round(float(od.get(line.name, 0.0)), 4) for line in kit.lines}
    valid = all(ods[line.name] >= VISIBLE_OD for line in kit.lines if line.role == "control")
    analytes: dict[str, str] = {}
    result = "invalid"
    if valid:
        for line in kit.lines:
            if line.role != "test":
                continue
            present = ods[line.name] >= VISIBLE_OD
            positive = present != (line.present_means == "non-reactive")
            name = line.analyte_name
            if positive or name not in analytes:
                analytes[name] = "positive" if positive else "negative"
        result = "positive" if "positive" in analytes.values() else "negative"
    return {
        "code": code,
        "fit": flaw is None,
        "flaw": flaw,
        "od": ods,
        "result": result,
        "analytes": analytes,
    }


# --- small helpers ---------------------------------------------------------------------------


def to_linear(image: np.ndarray) -> np.ndarray:
    """sRGB ``uint8`` to linear light ``float32`` (exact, by table)."""
    return _LIN_LUT[image]


def linear_od(od: float, level: float) -> float:
    """Linear-light density giving optical density ``od`` on sRGB-encoded values.

    ``level`` is the membrane's linear reflectance in the line's channel; the
    encoded ratio ``line / membrane`` is exactly ``10 ** -od`` at that level.

    Examples
    --------
    >>> round(linear_od(0.05, 0.7), 3)   # about 2.2 times the encoded density
    0.112
    """
    if od <= 0:
        return 0.0
    encoded = _encode(level) * 10.0 ** (-od)
    return float(-math.log10(_decode(encoded) / level))


def _encode(linear: float) -> float:
    return 12.92 * linear if linear <= 0.0031308 else 1.055 * linear ** (1 / 2.4) - 0.055


def _decode(encoded: float) -> float:
    return encoded / 12.92 if encoded <= 0.04045 else ((encoded + 0.055) / 1.055) ** 2.4


def to_srgb(linear: np.ndarray) -> np.ndarray:
    """Linear light (any float) to sRGB ``uint8``; values outside [0, 1] clip."""
    scaled = np.asarray(linear, np.float32) * np.float32(_SRGB_STEPS)
    np.clip(scaled, 0, _SRGB_STEPS, out=scaled)
    # Rounding to the nearest table entry; the table has 64 entries per output level.
    return _SRGB_LUT[(scaled + np.float32(0.5)).astype(np.uint16)]


def _fbm(rng: np.random.Generator, h: int, w: int, cell: float, octaves: int = 4) -> np.ndarray:
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


def _fill(img: np.ndarray, polygons: list[np.ndarray], colour: Any, opacity: float = 1.0) -> None:
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


def _text(img: np.ndarray, text: str, x: float, y: float, scale: float, ink: float) -> None:
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


def _circle(cx: float, cy: float, r: float, n: int = 64) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], 1)


def _rect(cx: float, cy: float, w: float, h: float, angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    corners = np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) / 2
    return corners @ np.array([[c, s], [-s, c]]) + [cx, cy]


def _rand_colour(
    rng: np.random.Generator, sat: tuple[float, float], val: tuple[float, float]
) -> np.ndarray:
    """A random BGR colour in linear light from HSV ranges."""
    hsv = np.array(
        [[[rng.integers(180), rng.uniform(*sat) * 255, rng.uniform(*val) * 255]]], np.uint8
    )
    return to_linear(np.asarray(cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)))[0, 0]


# --- the scene: table, clutter, light -------------------------------------------------------


def _background(rng: np.random.Generator, w: int, h: int, s: float) -> tuple[np.ndarray, str]:
    """A table surface in linear light, (h, w, 3) float32, and the kind drawn."""
    kind = str(
        rng.choice(["marble", "fabric", "wood", "paper", "plain"], p=[0.3, 0.25, 0.15, 0.15, 0.15])
    )
    lw, lh = max(8, w // 4), max(8, h // 4)
    c1 = _rand_colour(rng, (0.0, 0.45), (0.25, 0.9))
    c2 = (
        c1 * rng.uniform(0.6, 0.95)
        if rng.random() < 0.7
        else _rand_colour(rng, (0.0, 0.4), (0.3, 0.9))
    )
    if kind == "marble":
        n = _fbm(rng, lh, lw, rng.uniform(20, 80), 5)
        freq = rng.uniform(2.0, 7.0)
        m = 0.5 + 0.5 * np.sin(freq * np.pi * n + rng.uniform(0, 6))
        m = m ** rng.uniform(1.0, 3.0)
    elif kind == "wood":
        gh, gw = (lh, max(2, lw // 16)) if rng.random() < 0.5 else (max(2, lh // 16), lw)
        n = cv2.resize(_fbm(rng, gh, gw, 6, 3), (lw, lh), interpolation=cv2.INTER_CUBIC)
        m = 0.5 + 0.5 * np.sin(rng.uniform(8, 20) * n)
        c1 = _rand_colour(rng, (0.3, 0.6), (0.3, 0.75))
        c1[0] *= 0.6  # wood is warm
        c2 = c1 * rng.uniform(0.55, 0.8)
    else:
        m = 0.5 + 0.15 * _fbm(rng, lh, lw, rng.uniform(30, 120), 4)
        if kind == "paper":
            c1 = _rand_colour(rng, (0.0, 0.08), (0.8, 0.95))
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
        ink = _rand_colour(rng, (0.0, 0.3), (0.05, 0.3))
        pitch = rng.uniform(5, 9) * s
        y0 = rng.uniform(0, pitch)
        x_left = rng.uniform(-0.1, 0.3) * w
        while y0 < h:
            length = rng.uniform(0.2, 0.8) * w
            if rng.random() < 0.85:
                _fill(img, [_rect(x_left + length / 2, y0, length, max(1.0, 0.3 * s), 0)], ink, 0.8)
            y0 += pitch * rng.uniform(0.9, 1.6)
    return img, kind


def _clutter(rng: np.random.Generator, img: np.ndarray, s: float) -> int:
    """Other things on the table: discs, cards, pens, printed text."""
    h, w = img.shape[:2]
    n = int(rng.integers(0, 7))
    for _ in range(n):
        kind = rng.choice(["disc", "rect", "pen", "text"], p=[0.35, 0.35, 0.1, 0.2])
        cx, cy = rng.uniform(-0.05, 1.05) * w, rng.uniform(-0.05, 1.05) * h
        colour = _rand_colour(rng, (0.2, 0.9), (0.15, 0.95))
        if kind == "disc":
            _fill(img, [_circle(cx, cy, rng.uniform(5, 30) * s)], colour)
        elif kind == "rect":
            size = rng.uniform(8, 50, 2) * s
            _fill(img, [_rect(cx, cy, size[0], size[1], rng.uniform(0, np.pi))], colour)
        elif kind == "pen":
            _fill(
                img,
                [
                    _rect(
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
            _text(img, words, cx, cy, scale, ink)
    return n


# --- the kit's face ---------------------------------------------------------------------------


@dataclass
class _Face:
    """The kit face at work scale, premultiplied linear BGR + alpha, and how to place it."""

    rgba: np.ndarray  # (h, w, 4) float32, colour premultiplied by alpha
    scale: float  # face pixels per template pixel
    body: np.ndarray  # linear BGR of the plastic, for the side walls
    membrane_level: float  # brightest channel of the bare membrane (linear)
    line_at: dict[str, float]

    def to_template(self) -> np.ndarray:
        """3x3 map from face pixels to template pixels (pixel centres at integers in both)."""
        k = self.scale
        return np.array([[1 / k, 0, 0.5 / k - 0.5], [0, 1 / k, 0.5 / k - 0.5], [0, 0, 1.0]])


def _kit_absorbance(kit: Kit, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    colour = kit.description.line_color
    if colour is not None:
        return absorbance_from_hex(colour), colour
    dye = str(rng.choice(["gold", "blue", "black", "tint"], p=[0.6, 0.15, 0.1, 0.15]))
    return dye_absorbance(dye, rng), dye


def _render_face(
    kit: Kit,
    rng: np.random.Generator,
    work_ppm: float,
    od: dict[str, float],
    code: str | None,
    absorbance: np.ndarray,
    clean: bool,
    exposed_level: float,
) -> _Face:
    tpl = kit.template
    k = work_ppm / kit.px_per_mm
    alpha = tpl[..., 3].astype(np.float32) / 255
    premul = np.dstack([to_linear(tpl[..., :3]) * alpha[..., None], alpha])
    size = (max(2, round(tpl.shape[1] * k)), max(2, round(tpl.shape[0] * k)))
    interp = cv2.INTER_AREA if k < 1 else cv2.INTER_CUBIC
    face = np.clip(cv2.resize(premul, size, interpolation=interp), 0, None)

    # Plastic tint: the same product comes in differently tinted mouldings and light.
    tint = np.exp(rng.normal(0, 0.06, 3)).astype(np.float32) * rng.uniform(0.85, 1.03)
    face[..., :3] *= np.minimum(tint, 1.05)
    body_mask = alpha > 0.99
    body = (
        np.median(to_linear(tpl[..., :3])[body_mask], axis=0) * tint
        if body_mask.any()
        else np.full(3, 0.7)
    )

    line_at, level = _draw_membrane(face, kit, rng, k, od, absorbance, clean, exposed_level)
    if code is not None and kit.code_box is not None:
        _draw_qr(face, kit, rng, k, code)
    return _Face(face, k, body.astype(np.float32), level, line_at)


def _draw_membrane(
    face: np.ndarray,
    kit: Kit,
    rng: np.random.Generator,
    k: float,
    od: dict[str, float],
    absorbance: np.ndarray,
    clean: bool,
    exposed_level: float,
) -> tuple[dict[str, float], float]:
    """Replace the window area of ``face`` by the membrane with its lines, in place.

    ``exposed_level`` is the membrane's linear level in the photo once lit and exposed:
    line densities are converted to linear light at that level (see :func:`linear_od`).
    """
    w = kit.window
    ppm_face = kit.px_per_mm * k
    length, width = kit.window_length_mm, kit.window_width_mm
    fx0 = max(0, math.floor((w.x + 0.5) * k - 0.5) - 1)
    fy0 = max(0, math.floor((w.y + 0.5) * k - 0.5) - 1)
    fx1 = min(face.shape[1], math.ceil((w.x + w.w + 0.5) * k - 0.5) + 2)
    fy1 = min(face.shape[0], math.ceil((w.y + w.h + 0.5) * k - 0.5) + 2)
    fy, fx = np.mgrid[fy0:fy1, fx0:fx1].astype(np.float64)
    # Face pixel centre -> template coordinate -> canonical window mm (u along flow, v across).
    tx, ty = (fx + 0.5) / k - 0.5, (fy + 0.5) / k - 0.5
    inv = np.linalg.inv(window_to_template(kit))
    u = inv[0, 0] * tx + inv[0, 1] * ty + inv[0, 2]
    v = inv[1, 0] * tx + inv[1, 1] * ty + inv[1, 2]
    edge_mm = np.minimum(np.minimum(u, length - u), np.minimum(v, width - v))
    cover = np.clip(edge_mm * ppm_face + 0.5, 0, 1).astype(np.float32)

    base = np.array([rng.uniform(0.8, 0.95), rng.uniform(0.94, 1.0), 1.0]) * rng.uniform(0.72, 0.88)
    dye_od = np.zeros(u.shape)
    # Lines: one global shift of all lines (placement tolerance), tiny independent jitter,
    # a slight tilt, soft edges and unevenness along the line.
    shift = rng.uniform(-1.5, 1.5)
    tilt = math.tan(math.radians(rng.uniform(-0.8, 0.8)))
    line_at: dict[str, float] = {}
    channel = int(np.argmax(absorbance))  # where the dye's density is defined
    lw = kit.line_width_mm
    vmid = width / 2
    for line in kit.lines:
        centre = line.at * length + shift + float(np.clip(rng.normal(0, 0.07), -0.2, 0.2))
        centre = float(np.clip(centre, lw / 2 + 0.3, length - lw / 2 - 0.3))
        line_at[line.name] = round(centre / length, 5)
        level = exposed_level * float(base[channel] / base.max())
        strength = linear_od(od.get(line.name, 0.0), level)
        if strength <= 0:
            continue
        sigma = lw * rng.uniform(0.08, 0.22)
        d = u - (centre + tilt * (v - vmid))
        if not clean:
            d = d - 0.04 * _smooth1d(rng, v, width, 0.8)
        hw, r2s = lw / 2, 1 / (math.sqrt(2) * sigma)
        profile = (erf((hw - d) * r2s) + erf((hw + d) * r2s)) / (2 * erf(hw * r2s))
        if not clean:
            profile = profile * (1 + rng.uniform(0.0, 0.08) * _smooth1d(rng, v, width, 1.0))
        dye_od += strength * profile

    stain_od = np.zeros(u.shape)
    multiplier = np.ones(u.shape)
    stain_abs = np.array([1.0, 0.35, 0.08])
    if not clean:
        # Unbound conjugate tints the membrane; sample matrix stains from the sample end.
        dye_od += rng.uniform(0.0, 0.025) * (rng.random() < 0.6)
        front = rng.uniform(1.5, 8.0) * (1 + 0.3 * _smooth1d(rng, v, width, 1.5))
        stain = rng.uniform(0.0, 0.07) * np.exp(-u / front)
        mix = rng.uniform(0, 1)
        stain_abs = mix * absorbance + (1 - mix) * stain_abs
        stain_od += stain
        # Mottle, streaks along the flow and faint partial ghost marks.
        mottle = _field(rng, u, v, rng.uniform(0.3, 1.2), length, width)
        multiplier *= 1 + rng.uniform(0.0, 0.015) * mottle
        streaks = _smooth1d(rng, v, width, rng.uniform(0.15, 0.5))
        multiplier *= 1 + rng.uniform(0.0, 0.015) * streaks
        dye_od += _ghosts(rng, kit, u, v, length, width, line_at)
        # Recessed window: the rim casts a soft shade on the membrane edge.
        if kit.description.format == "cassette":
            multiplier *= 1 - rng.uniform(0.03, 0.2) * np.exp(
                -np.clip(edge_mm, 0, None) / rng.uniform(0.2, 0.5)
            )
    absorb = dye_od[..., None] * absorbance + stain_od[..., None] * stain_abs
    membrane = (base * multiplier[..., None] * np.power(10.0, -absorb)).astype(np.float32)
    region = face[fy0:fy1, fx0:fx1]
    a = cover[..., None]
    region[..., :3] = region[..., :3] * (1 - a) + membrane * a
    region[..., 3] = np.maximum(region[..., 3], cover)
    return line_at, float(base.max())


def _smooth1d(
    rng: np.random.Generator, coord: np.ndarray, extent: float, cell_mm: float
) -> np.ndarray:
    """Smooth zero-mean noise in about [-1, 1] as a function of one coordinate (mm)."""
    n = max(4, math.ceil(extent / cell_mm) + 4)
    knots = rng.standard_normal(n)
    knots -= knots.mean()
    pos = np.clip(coord / extent, -0.1, 1.1) * (n - 4) + 2
    return np.interp(pos, np.arange(n), knots) / 1.5


def _field(
    rng: np.random.Generator,
    u: np.ndarray,
    v: np.ndarray,
    cell_mm: float,
    length: float,
    width: float,
) -> np.ndarray:
    """Smooth 2-D noise over the window, sampled at (u, v) mm."""
    gh, gw = max(3, math.ceil(width / cell_mm) + 3), max(3, math.ceil(length / cell_mm) + 3)
    grid = rng.standard_normal((gh, gw)).astype(np.float32)
    mx = (np.clip(u / length, 0, 1) * (gw - 3) + 1).astype(np.float32)
    my = (np.clip(v / width, 0, 1) * (gh - 3) + 1).astype(np.float32)
    return cv2.remap(grid, mx, my, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT) / 1.5


def _ghosts(
    rng: np.random.Generator,
    kit: Kit,
    u: np.ndarray,
    v: np.ndarray,
    length: float,
    width: float,
    line_at: dict[str, float],
) -> np.ndarray:
    """Faint, partial, irregular marks (never a full-width line), often near test positions."""
    out = np.zeros(u.shape)
    tests = [line_at[ln.name] * length for ln in kit.lines if ln.role == "test"]
    for _ in range(int(rng.poisson(1.2))):
        kind = rng.choice(["partial", "spot", "smear"], p=[0.5, 0.3, 0.2])
        if kind == "partial":
            near = tests and rng.random() < 0.5
            uc = (
                tests[rng.integers(len(tests))] + rng.normal(0, 0.5)
                if near
                else rng.uniform(1, length - 1)
            )
            span = rng.uniform(0.15, 0.45) * width
            vc = rng.uniform(span / 2, width - span / 2)
            along = np.exp(-0.5 * ((u - uc) / rng.uniform(0.2, 0.5)) ** 2)
            across = np.clip(1 - np.abs(v - vc) / (span / 2), 0, 1) ** 0.7
            rough = np.clip(1 + 0.6 * _field(rng, u, v, 0.4, length, width), 0, None)
            out += rng.uniform(0.003, 0.015) * along * across * rough
        elif kind == "spot":
            uc, vc, r = rng.uniform(0, length), rng.uniform(0, width), rng.uniform(0.15, 0.6)
            out += rng.uniform(0.005, 0.03) * np.exp(-0.5 * ((u - uc) ** 2 + (v - vc) ** 2) / r**2)
        else:
            uc, vc = rng.uniform(0, length), rng.uniform(0, width)
            ang = rng.uniform(0.3, 1.2) * rng.choice([-1, 1])
            du, dv = u - uc, v - vc
            along = du * math.cos(ang) + dv * math.sin(ang)
            perp = -du * math.sin(ang) + dv * math.cos(ang)
            out += rng.uniform(0.004, 0.012) * np.exp(
                -0.5 * (perp / 0.25) ** 2 - 0.5 * (along / 1.5) ** 2
            )
    return out


def _draw_qr(face: np.ndarray, kit: Kit, rng: np.random.Generator, k: float, code: str) -> None:
    """Print the unit's QR code into the code box (finder patterns upright on the template)."""
    box = kit.code_box
    assert box is not None
    matrix = np.array(segno.make_qr(code, error="m").matrix, dtype=bool)
    n = matrix.shape[0]
    fx0 = max(0, math.floor((box.x + 0.5) * k - 0.5) - 1)
    fy0 = max(0, math.floor((box.y + 0.5) * k - 0.5) - 1)
    fx1 = min(face.shape[1], math.ceil((box.x + box.size + 0.5) * k - 0.5) + 2)
    fy1 = min(face.shape[0], math.ceil((box.y + box.size + 0.5) * k - 0.5) + 2)
    cover = np.zeros((fy1 - fy0, fx1 - fx0), np.float32)
    module = box.size / n
    for oy in (-0.25, 0.25):  # 2x2 supersampling for clean module edges
        for ox in (-0.25, 0.25):
            fy, fx = np.mgrid[fy0:fy1, fx0:fx1].astype(np.float64)
            tx = (fx + 0.5 + ox) / k - 0.5 - box.x + 0.5
            ty = (fy + 0.5 + oy) / k - 0.5 - box.y + 0.5
            ix, iy = np.floor(tx / module).astype(int), np.floor(ty / module).astype(int)
            inside = (ix >= 0) & (ix < n) & (iy >= 0) & (iy < n)
            dark = np.zeros(ix.shape, bool)
            dark[inside] = matrix[iy[inside], ix[inside]]
            cover += dark * 0.25
    ink = rng.uniform(0.02, 0.06)
    region = face[fy0:fy1, fx0:fx1]
    a = cover[..., None]
    region[..., :3] = region[..., :3] * (1 - a) + ink * region[..., 3:] * a


# --- camera and placement ---------------------------------------------------------------------


def _rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    cz, sz = math.cos(yaw), math.sin(yaw)
    cx, sx = math.cos(pitch), math.sin(pitch)
    cy, sy = math.cos(roll), math.sin(roll)
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    return rx @ ry @ rz


def _outline(kit: Kit) -> np.ndarray:
    """The kit's outline in template pixels, (N, 2) float."""
    mask = (kit.template[..., 3] > 127).astype(np.uint8)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        h, w = mask.shape
        return np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64)
    c = max(contours, key=cv2.contourArea)
    c = cv2.approxPolyDP(c, 0.6, True)
    return c[:, 0, :].astype(np.float64)


def _project(h: np.ndarray, pts: np.ndarray) -> np.ndarray:
    p = np.c_[pts, np.ones(len(pts))] @ h.T
    return p[:, :2] / p[:, 2:3]


def _camera(
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
    pts = _project(hom, outline)
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


def _composite_kit(
    img: np.ndarray,
    kit: Kit,
    rng: np.random.Generator,
    face: _Face,
    hom: np.ndarray,
    outline: np.ndarray,
    s: float,
    clean: bool,
) -> None:
    """Drop shadow, side walls and the face of the kit onto the scene, in place."""
    h_img, w_img = img.shape[:2]
    top = _project(hom, outline)
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


def _lighting(
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
        poly = _rect(
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


def _glare_band(
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


def _glare_patch(rng: np.random.Generator, w: int, h: int, corners: np.ndarray) -> np.ndarray:
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


def _motion_kernel(length: float, angle: float) -> np.ndarray:
    n = max(3, math.ceil(length) | 1)
    k = np.zeros((n, n), np.float32)
    c = n // 2
    dx, dy = math.cos(angle) * length / 2, math.sin(angle) * length / 2
    cv2.line(
        k,
        (round((c - dx) * 16), round((c - dy) * 16)),
        (round((c + dx) * 16), round((c + dy) * 16)),
        1.0,
        1,
        cv2.LINE_AA,
        shift=4,
    )
    return k / k.sum()


# --- the photo ------------------------------------------------------------------------------


def render_photo(
    kit: Kit,
    rng: np.random.Generator,
    *,
    od: dict[str, float],
    code: str | None,
    flaw: str | None = None,
    size: tuple[int, int] | None = None,
    clean: bool = False,
) -> RenderedPhoto:
    """Render one phone photo of a used unit of ``kit``.

    Parameters
    ----------
    kit : Kit
    rng : numpy.random.Generator
        All randomness comes from here (same state, same photo).
    od : dict
        Optical density of each line by name (missing lines: 0, no line).
    code : str or None
        The unit's code, printed as a QR code into the kit's ``code_box``.
    flaw : str, optional
        One of :data:`FLAWS` to make the photo unreadable for that reason;
        ``None`` for a readable photo (moderate degradations only).
    size : (width, height), optional
        Photo size in pixels; drawn from :data:`SIZES` when omitted.
    clean : bool
        No sensor noise, blur, glare, shadows or membrane artefacts: for
        checking photometry and geometry.

    Returns
    -------
    RenderedPhoto

    Examples
    --------
    >>> import numpy as np
    >>> from pipeline.kit import load_kit
    >>> kit = load_kit("datasets/kits/demo/kit.json")
    >>> photo = render_photo(kit, np.random.default_rng(1), od={"T": 0.1, "C": 0.5},
    ...                      code="ABC123", size=(800, 600))
    >>> photo.image.shape, photo.truth["result"]
    ((600, 800, 3), 'positive')
    """
    if flaw is not None and flaw not in FLAWS:
        raise ValueError(f"unknown flaw {flaw!r}; expected one of {FLAWS}")
    unknown = set(od) - {line.name for line in kit.lines}
    if unknown:
        raise ValueError(f"od names lines the kit does not have: {sorted(unknown)}")
    truth = kit_truth(kit, od, code, flaw)
    ods = truth["od"]
    w, h = size if size is not None else SIZES[rng.integers(len(SIZES))]
    meta: dict[str, Any] = {"size": [w, h]}

    # Resolution on the window: 6-25 px/mm when readable, under 3 when "far". Mostly framed
    # like people do (the kit fills a third to most of the frame), sometimes any scale.
    outline = _outline(kit)
    kit_mm = float(np.ptp(outline, axis=0).max()) / kit.px_per_mm
    if flaw == "far":
        s = float(rng.uniform(1.5, 2.8))
    elif rng.random() < 0.75:
        s = float(np.clip(rng.uniform(0.3, 0.9) * max(w, h) / kit_mm, 6.0, 25.0))
    else:
        s = float(math.exp(rng.uniform(math.log(6), math.log(25))))
    img, meta["background"] = _background(rng, w, h, s)
    meta["clutter"] = _clutter(rng, img, s)

    absorbance, dye = _kit_absorbance(kit, rng)
    meta["dye"] = dye
    # The membrane's exposed level is chosen first: line densities depend on it (linear_od).
    if flaw == "dark":
        target = rng.uniform(0.002, 0.007)
    elif flaw == "overexposed":
        target = rng.uniform(1.6, 4.0)
    else:
        target = rng.uniform(0.2, 0.8)
    hom: np.ndarray | None = None
    face: _Face | None = None
    corners = None
    if flaw != "no_cassette":
        hom = _camera(kit, rng, outline, (w, h), s, flaw)
        hom = hom / hom[2, 2]
        s = window_px_per_mm(kit, hom)
        work_ppm = float(np.clip(s * 1.3, 3.0, 40.0))
        face = _render_face(kit, rng, work_ppm, ods, code, absorbance, clean, min(target, 1.0))
        _composite_kit(img, kit, rng, face, hom, outline, s, clean)
        corners = window_corners(kit, hom)

    # Light: shape, colour cast and exposure (set on the membrane so fit photos never clip).
    light, cast = _lighting(rng, w, h, clean)
    lh, lw = light.shape
    if corners is not None:
        cx, cy = corners.mean(0) / 8
        at_window = float(light[int(np.clip(cy, 0, lh - 1)), int(np.clip(cx, 0, lw - 1))])
    else:
        at_window = float(light.mean())
    membrane = (face.membrane_level if face is not None else 0.8) * float(cast.max()) * at_window
    exposure = target / max(membrane, 1e-6)
    meta["exposure"] = round(exposure, 4)

    glare = None
    if flaw == "glare" and corners is not None:
        glare = _glare_patch(rng, w, h, corners)
    elif not clean and rng.random() < 0.3:
        avoid = None
        if corners is not None and flaw is None:
            avoid = window_corners(kit, hom, margin_mm=2.0) if hom is not None else None
        glare = _glare_band(rng, w, h, avoid, rng.uniform(0.05, 0.4))

    # Multiplicative light and colour cast in one full-resolution pass; glare adds on top.
    gain = cv2.resize(light[..., None] * (cast * exposure), (w, h), interpolation=cv2.INTER_LINEAR)
    cv2.multiply(img, gain, dst=img)
    if glare is not None:
        tint = cast / cast.max() * exposure if flaw != "glare" else np.ones(3, np.float32)
        glow = cv2.resize(
            glare[..., None] * tint.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR
        )
        cv2.add(img, glow, dst=img)

    # Optics: mild defocus and hand shake; strong for the "blur" flaw.
    if flaw == "blur":
        sigma = rng.uniform(1.0, 2.2) * s
        q = max(1.0, sigma / 3)
        small = cv2.resize(
            img, (max(8, round(w / q)), max(8, round(h / q))), interpolation=cv2.INTER_AREA
        )
        small = cv2.GaussianBlur(small, (0, 0), sigma / q)
        if rng.random() < 0.5:
            small = cv2.filter2D(
                small, -1, _motion_kernel(rng.uniform(2, 5) * s / q, rng.uniform(0, np.pi))
            )
        img = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        meta["blur_px"] = round(sigma, 2)
    elif not clean:
        sigma = min(rng.uniform(0.0, 1.3), 0.12 * s)
        if sigma > 0.3:
            img = cv2.GaussianBlur(img, (0, 0), sigma)
        if rng.random() < 0.25:
            img = cv2.filter2D(
                img, -1, _motion_kernel(min(rng.uniform(1.5, 4.0), 0.2 * s), rng.uniform(0, np.pi))
            )
        meta["blur_px"] = round(sigma, 2)

    # Sensor noise (shot + read), spatially correlated by demosaicing and denoising.
    if not clean:
        shot = rng.uniform(2e-5, 1.5e-4)
        read = rng.uniform(0.0005, 0.002) if flaw != "dark" else rng.uniform(0.001, 0.003)
        nh, nw = (h + 1) // 2, (w + 1) // 2
        noise = rng.standard_normal((nh, nw, 3), dtype=np.float32)
        noise = cv2.resize(noise, (w, h), interpolation=cv2.INTER_LINEAR) * 1.6
        sd = np.maximum(img, 0.0) * np.float32(shot) + np.float32(read * read)
        cv2.sqrt(sd, dst=sd)
        cv2.multiply(noise, sd, dst=noise)
        cv2.add(img, noise, dst=img)

    image = to_srgb(img)
    quality = int(rng.integers(70, 96))
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    meta["jpeg_quality"] = quality
    return RenderedPhoto(
        image=image,
        truth=truth,
        homography=hom,
        jpeg=buf.tobytes(),
        line_at=face.line_at if face is not None else {},
        window_px_per_mm=round(s, 3) if hom is not None else None,
        meta=meta,
    )


__all__ = [
    "DYE_ABSORBANCE",
    "FLAWS",
    "SIZES",
    "VISIBLE_OD",
    "RenderedPhoto",
    "kit_truth",
    "render_photo",
    "to_linear",
    "to_srgb",
]
