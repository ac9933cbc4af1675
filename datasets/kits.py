"""Random kit designs (``rdt-kit/1`` documents with their template images).

The vision pipeline must read kits it has never seen, so training data cannot
come from one product. :func:`random_kit` draws a new product design: cassette
or bare strip, any flow direction, one to three test lines plus a control,
different window sizes, print, plastic colour and dye. The template it draws
is what a manufacturer would register: the blank upright face, transparent
outside, with a white square where each unit's own QR code goes.

:func:`benchmark_kits` returns the fixed held-out designs used by the
benchmark. Their product codes start with ``BENCH-``; training kits from
:func:`random_kit` start with ``RND-`` and are drawn from seeds the benchmark
does not use (see ``datasets.generate``), so no training photo shows a
benchmark design.

Geometry is planned in *canonical* millimetres, ``u`` along the flow from the
sample end and ``v`` across it, then mapped to template pixels for the
requested flow; print (labels, brand) is drawn upright in the template.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

FLOWS = ("up", "down", "left", "right")
Dye = Literal["gold", "blue", "black", "tint"]

#: Relative absorbance of each dye per BGR channel, the strongest channel at 1.
#: A line of optical density ``od`` multiplies linear reflectance in channel c
#: by ``10 ** (-od * absorbance[c])``.
DYE_ABSORBANCE: dict[str, tuple[float, float, float]] = {
    "gold": (0.55, 1.0, 0.22),  # colloidal gold: red-purple, absorbs green most
    "blue": (0.18, 0.62, 1.0),  # blue latex beads: absorbs red most
    "black": (0.97, 1.0, 0.96),  # carbon black: nearly neutral
}

# Test items a random kit may detect, by number of test lines: (test item,
# line names, analyte per line). LOINC is given only where we are sure of it.
_REACTIVE_CATALOGUE: dict[int, list[tuple[str, list[str], list[str]]]] = {
    1: [
        ("SARS-CoV-2 antigen", ["T"], ["SARS-CoV-2 antigen"]),
        ("HIV-1/2 antibody", ["T"], ["HIV-1/2 antibody"]),
        ("Malaria P. falciparum HRP2 antigen", ["T"], ["P. falciparum HRP2"]),
        ("Dengue NS1 antigen", ["T"], ["Dengue NS1 antigen"]),
        ("Group A Streptococcus antigen", ["T"], ["Strep A antigen"]),
        ("RSV antigen", ["T"], ["RSV antigen"]),
        ("Hepatitis B surface antigen", ["T"], ["HBsAg"]),
        ("Treponema pallidum antibody", ["T"], ["T. pallidum antibody"]),
    ],
    2: [
        ("Influenza A and B antigen", ["A", "B"], ["Influenza A antigen", "Influenza B antigen"]),
        ("Malaria Pf/Pan antigen", ["Pf", "Pan"], ["P. falciparum HRP2", "Plasmodium pLDH"]),
        ("Dengue IgM/IgG", ["M", "G"], ["Dengue IgM", "Dengue IgG"]),
        ("HIV-1 and HIV-2 antibody", ["1", "2"], ["HIV-1 antibody", "HIV-2 antibody"]),
        (
            "SARS-CoV-2 and Influenza A antigen",
            ["CoV", "Flu"],
            ["SARS-CoV-2 antigen", "Influenza A antigen"],
        ),
    ],
    3: [
        (
            "SARS-CoV-2, Influenza A and B antigen",
            ["CoV", "A", "B"],
            ["SARS-CoV-2 antigen", "Influenza A antigen", "Influenza B antigen"],
        ),
        (
            "Dengue NS1, IgM and IgG",
            ["NS1", "M", "G"],
            ["Dengue NS1 antigen", "Dengue IgM", "Dengue IgG"],
        ),
        (
            "HIV, HBV and HCV screen",
            ["HIV", "HBV", "HCV"],
            ["HIV-1/2 antibody", "HBsAg", "HCV antibody"],
        ),
    ],
}
# Competitive assays (drugs of abuse): a visible test line means negative.
_COMPETITIVE_ANALYTES = [
    ("THC", "Cannabinoids (THC)"),
    ("COC", "Cocaine"),
    ("MOR", "Opiates (morphine)"),
    ("AMP", "Amphetamine"),
    ("MET", "Methamphetamine"),
    ("BZO", "Benzodiazepines"),
]
_BRANDS = ["VIGIL", "QUICKCHECK", "RAPIDX", "MEDISURE", "CLEARVIEW", "TESTPRO", "BIOLINE", "SWIFT"]


@dataclass(frozen=True)
class Design:
    """One fixed held-out kit design of the benchmark (see :data:`BENCHMARK_DESIGNS`)."""

    product_code: str
    name: str
    flow: str
    n_test_lines: int
    dye: str
    fmt: str
    present_means: str | None
    line_names: tuple[str, ...]
    analytes: tuple[str, ...]
    test_item: str
    seed: int


#: Held-out designs for the benchmark, clearly unlike the demo kit (T+C, flow
#: down, gold) and unlike each other. Never used for training.
BENCHMARK_DESIGNS: tuple[Design, ...] = (
    Design(
        "BENCH-FLU-AB",
        "Bench Influenza A+B Antigen Combo",
        "right",
        2,
        "blue",
        "cassette",
        None,
        ("A", "B"),
        ("Influenza A antigen", "Influenza B antigen"),
        "Influenza A and B antigen",
        101,
    ),
    Design(
        "BENCH-THC-DOA",
        "Bench THC Urine Drug Screen",
        "up",
        1,
        "black",
        "cassette",
        "non-reactive",
        ("THC",),
        ("Cannabinoids (THC)",),
        "Cannabinoids (THC) screen",
        202,
    ),
    Design(
        "BENCH-HCG-STRIP",
        "Bench hCG Pregnancy Dipstick",
        "left",
        1,
        "gold",
        "strip",
        None,
        ("T",),
        ("hCG",),
        "Human chorionic gonadotropin",
        303,
    ),
    Design(
        "BENCH-DEN-3",
        "Bench Dengue NS1/IgM/IgG Triple",
        "down",
        3,
        "tint",
        "cassette",
        None,
        ("NS1", "M", "G"),
        ("Dengue NS1 antigen", "Dengue IgM", "Dengue IgG"),
        "Dengue NS1, IgM and IgG",
        404,
    ),
)


# --- colour helpers --------------------------------------------------------------------------


def srgb_to_linear(x: np.ndarray | float) -> np.ndarray:
    """sRGB-encoded values in [0, 1] to linear light."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: np.ndarray | float) -> np.ndarray:
    """Linear light in [0, 1] to sRGB-encoded values."""
    x = np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055)


def dye_absorbance(dye: str, rng: np.random.Generator | None = None) -> np.ndarray:
    """Relative BGR absorbance of a dye, strongest channel exactly 1.

    ``"tint"`` draws a random coloured dye (needs ``rng``).
    """
    if dye in DYE_ABSORBANCE:
        return np.array(DYE_ABSORBANCE[dye])
    if dye != "tint":
        raise ValueError(f"unknown dye {dye!r}")
    if rng is None:
        raise ValueError("a random tint needs rng")
    a = rng.uniform(0.05, 1.0, 3)
    a[rng.integers(3)] = 1.0
    return a / a.max()


def line_color_hex(absorbance: np.ndarray, od: float = 0.8) -> str:
    """``#rrggbb`` of a line of optical density ``od`` on white (for ``line_color``)."""
    bgr = linear_to_srgb(10.0 ** (-od * np.asarray(absorbance)))
    r, g, b = (round(float(c) * 255) for c in bgr[::-1])
    return f"#{r:02x}{g:02x}{b:02x}"


def absorbance_from_hex(color: str, od: float = 0.8) -> np.ndarray:
    """Inverse of :func:`line_color_hex`: relative BGR absorbance from ``#rrggbb``."""
    rgb = np.array([int(color[i : i + 2], 16) for i in (1, 3, 5)]) / 255.0
    lin = np.clip(srgb_to_linear(rgb[::-1]), 1e-4, 1.0)
    a = -np.log10(lin) / od
    return np.maximum(a / max(a.max(), 1e-6), 0.0)


# --- drawing on a float BGRA canvas (values 0..1, template pixels) ---------------------------


class _Canvas:
    """Antialiased shapes on a float32 BGRA image, shape by signed distance."""

    def __init__(self, width: int, height: int) -> None:
        self.img = np.zeros((height, width, 4), np.float32)

    def _paint(self, x0: float, y0: float, x1: float, y1: float, sdf: Any, color: Any) -> None:
        h, w = self.img.shape[:2]
        ix0, iy0 = max(0, math.floor(x0) - 1), max(0, math.floor(y0) - 1)
        ix1, iy1 = min(w, math.ceil(x1) + 2), min(h, math.ceil(y1) + 2)
        if ix1 <= ix0 or iy1 <= iy0:
            return
        ys, xs = np.mgrid[iy0:iy1, ix0:ix1].astype(np.float32)
        # Pixel centres at +0.5: shapes are given in continuous template coordinates.
        cover = np.clip(0.5 - sdf(xs + 0.5, ys + 0.5), 0.0, 1.0)[..., None]
        col = np.array(color, np.float32)
        if col.size == 3:
            col = np.append(col, 1.0)
        region = self.img[iy0:iy1, ix0:ix1]
        a = cover * col[3]
        region[..., :3] = region[..., :3] * (1 - a) + col[:3] * a
        region[..., 3:] = region[..., 3:] * (1 - a) + a

    def rounded_rect(
        self, x0: float, y0: float, x1: float, y1: float, r: float, color: Any, ring: float = 0
    ) -> None:
        """Filled rounded rectangle; with ``ring`` > 0 only a border that wide."""
        cx, cy, hx, hy = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
        r = min(r, hx, hy)

        def sdf(x: np.ndarray, y: np.ndarray) -> np.ndarray:
            qx = np.abs(x - cx) - (hx - r)
            qy = np.abs(y - cy) - (hy - r)
            outside = np.hypot(np.maximum(qx, 0), np.maximum(qy, 0))
            d = outside + np.minimum(np.maximum(qx, qy), 0) - r
            return np.abs(d + ring / 2) - ring / 2 if ring > 0 else d

        self._paint(x0, y0, x1, y1, sdf, color)

    def ellipse(
        self, cx: float, cy: float, rx: float, ry: float, color: Any, ring: float = 0
    ) -> None:
        def sdf(x: np.ndarray, y: np.ndarray) -> np.ndarray:
            k = np.hypot((x - cx) / rx, (y - cy) / ry)
            d = (k - 1) * min(rx, ry)
            return np.abs(d + ring / 2) - ring / 2 if ring > 0 else d

        self._paint(cx - rx, cy - ry, cx + rx, cy + ry, sdf, color)

    def polygon(self, points: np.ndarray, color: Any) -> None:
        # Supersampled fill keeps thin arrows smooth without a polygon SDF.
        h, w = self.img.shape[:2]
        ss = 4
        mask = np.zeros((h * ss, w * ss), np.uint8)
        cv2.fillPoly(mask, [np.round(points * ss).astype(np.int32)], 255, cv2.LINE_AA)
        cover = cv2.resize(mask, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
        self._blend(cover, color)

    def text(
        self,
        text: str,
        cx: float,
        cy: float,
        height: float,
        color: Any,
        *,
        rotate: int = 0,
        bold: bool = False,
        font: int = cv2.FONT_HERSHEY_SIMPLEX,
    ) -> None:
        """Text centred on (cx, cy), cap height ``height`` px, rotated by 90° steps (CCW)."""
        ss = 4
        scale = height * ss / 22.0  # Hershey simplex cap height is ~22 px at scale 1
        thick = max(1, round(scale * (3.2 if bold else 2.0)))
        (tw, th), base = cv2.getTextSize(text, font, scale, thick)
        pad = thick + 4
        mask = np.zeros((th + base + 2 * pad, tw + 2 * pad), np.uint8)
        cv2.putText(mask, text, (pad, pad + th), font, scale, 255, thick, cv2.LINE_AA)
        mask = mask[: pad + th + thick + 2]  # drop the descender space so centring is visual
        if rotate:
            mask = np.rot90(mask, rotate // 90).copy()
        mh, mw = mask.shape
        small = cv2.resize(
            mask, (max(1, round(mw / ss)), max(1, round(mh / ss))), interpolation=cv2.INTER_AREA
        )
        h, w = self.img.shape[:2]
        x0, y0 = round(cx - small.shape[1] / 2), round(cy - small.shape[0] / 2)
        sx0, sy0 = max(0, -x0), max(0, -y0)
        dx0, dy0 = max(0, x0), max(0, y0)
        dx1, dy1 = min(w, x0 + small.shape[1]), min(h, y0 + small.shape[0])
        if dx1 > dx0 and dy1 > dy0:
            cover = small[sy0 : sy0 + dy1 - dy0, sx0 : sx0 + dx1 - dx0].astype(np.float32) / 255.0
            self._blend(cover, color, keep_alpha=True, at=(dy0, dx0))

    def _blend(
        self, cover: np.ndarray, color: Any, keep_alpha: bool = False, at: tuple[int, int] = (0, 0)
    ) -> None:
        col = np.array(color, np.float32)[:3]
        y0, x0 = at
        region = self.img[y0 : y0 + cover.shape[0], x0 : x0 + cover.shape[1]]
        a = cover[..., None]
        if keep_alpha:  # print only on the body, never on the transparent outside
            a = a * region[..., 3:]
        region[..., :3] = region[..., :3] * (1 - a) + col * a
        if not keep_alpha:
            region[..., 3:] = region[..., 3:] * (1 - a) + a

    def to_bgra(self) -> np.ndarray:
        out = np.clip(self.img * 255 + 0.5, 0, 255).astype(np.uint8)
        out[out[..., 3] == 0, :3] = 0
        return out


def _plastic_colour(rng: np.random.Generator) -> np.ndarray:
    """BGR in 0..1 for the cassette body: mostly white, sometimes tinted or coloured."""
    kind = rng.choice(["white", "tinted", "coloured"], p=[0.5, 0.35, 0.15])
    if kind == "white":
        v, sat = rng.uniform(0.9, 0.98), rng.uniform(0.0, 0.04)
    elif kind == "tinted":
        v, sat = rng.uniform(0.82, 0.96), rng.uniform(0.05, 0.15)
    else:
        v, sat = rng.uniform(0.55, 0.85), rng.uniform(0.15, 0.4)
    return _hsv(int(rng.integers(0, 180)), sat, v)


def _hsv(hue: int, sat: float, val: float) -> np.ndarray:
    """BGR in 0..1 (float32) from OpenCV hue (0-179), saturation and value in 0..1."""
    hsv = np.array([[[hue, round(sat * 255), round(val * 255)]]], np.uint8)
    return np.asarray(cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR))[0, 0].astype(np.float32) / 255


def _ink(rng: np.random.Generator) -> np.ndarray:
    """A print colour (BGR 0..1): dark grey, navy, dark red or dark green."""
    options = [
        (0.2, 0.2, 0.2),
        (0.45, 0.22, 0.1),
        (0.15, 0.12, 0.55),
        (0.2, 0.4, 0.1),
        (0.1, 0.1, 0.1),
    ]
    return np.array(options[rng.integers(len(options))], np.float32)


# --- kit design ----------------------------------------------------------------------------


class _Frame:
    """Maps canonical cassette millimetres (u along flow, v across) to template pixels."""

    def __init__(self, flow: str, length_mm: float, width_mm: float, ppm: float, pad: int) -> None:
        self.flow, self.L, self.W, self.s, self.pad = flow, length_mm, width_mm, ppm, pad

    @property
    def size(self) -> tuple[int, int]:
        """Template (width, height) in pixels."""
        long_px = math.ceil(self.L * self.s) + 2 * self.pad
        short_px = math.ceil(self.W * self.s) + 2 * self.pad
        return (short_px, long_px) if self.flow in ("up", "down") else (long_px, short_px)

    def point(self, u: float, v: float) -> tuple[float, float]:
        s, p, length, width = self.s, self.pad, self.L, self.W
        if self.flow == "down":
            return p + (width - v) * s, p + u * s
        if self.flow == "up":
            return p + v * s, p + (length - u) * s
        if self.flow == "right":
            return p + u * s, p + v * s
        return p + (length - u) * s, p + (width - v) * s

    def rect(self, u0: float, v0: float, u1: float, v1: float) -> tuple[float, float, float, float]:
        (ax, ay), (bx, by) = self.point(u0, v0), self.point(u1, v1)
        return min(ax, bx), min(ay, by), max(ax, bx), max(ay, by)

    @property
    def long_axis_vertical(self) -> bool:
        return self.flow in ("up", "down")


def _choose_positions(
    rng: np.random.Generator, n_lines: int, window_len_mm: float, line_width: float
) -> list[float]:
    """Line centres in mm from the sample end of the window: spacing >= 3 mm, clear of the ends."""
    end_margin = 2.5 + line_width / 2  # the renderer may shift all lines by up to 1.5 mm
    spacing = rng.uniform(3.2, 6.0)
    span = spacing * (n_lines - 1)
    room = window_len_mm - 2 * end_margin
    if span > room:
        spacing = max(3.05, room / max(n_lines - 1, 1))
        span = spacing * (n_lines - 1)
    start = end_margin + rng.uniform(0, max(room - span, 0))
    return [start + i * spacing for i in range(n_lines)]


def random_kit(
    rng: np.random.Generator,
    *,
    flow: str | None = None,
    n_test_lines: int | None = None,
    dye: str | None = None,
    fmt: str = "cassette",
    present_means: str | None = None,
    product_code: str | None = None,
    name: str | None = None,
    line_names: Sequence[str] | None = None,
    analytes: Sequence[str] | None = None,
    test_item: str | None = None,
) -> tuple[dict[str, Any], np.ndarray]:
    """Draw a random kit design: an ``rdt-kit/1`` document and its BGRA template.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of all randomness (same state, same design).
    flow : {"up", "down", "left", "right"}, optional
        Flow direction on the upright template; random when omitted.
    n_test_lines : int, optional
        1 to 3 test lines (a control line is always added).
    dye : {"gold", "blue", "black", "tint"}, optional
        Line dye; sets ``line_color``.
    fmt : {"cassette", "strip"}
        ``"strip"`` draws a bare dipstick without a code box.
    present_means : {"reactive", "non-reactive"}, optional
        ``"non-reactive"`` makes a competitive (drug-screen) kit whose test
        lines mean negative when visible; omitted: 10 % of kits are competitive.
    product_code, name, line_names, analytes, test_item : optional
        Fix these fields instead of drawing them (used by the benchmark designs).

    Returns
    -------
    tuple of (dict, ndarray)
        The kit description (JSON-ready; ``template.image`` is ``"template.png"``)
        and the template, ``uint8`` BGRA, transparent outside the kit.

    Examples
    --------
    >>> import numpy as np
    >>> doc, template = random_kit(np.random.default_rng(0), flow="left", n_test_lines=2)
    >>> doc["template"]["flow"], len(doc["lines"]), template.shape[2]
    ('left', 3, 4)
    """
    if fmt not in ("cassette", "strip"):
        raise ValueError(f"fmt must be 'cassette' or 'strip', not {fmt!r}")
    flow = flow or str(rng.choice(FLOWS))
    if flow not in FLOWS:
        raise ValueError(f"flow must be one of {FLOWS}, not {flow!r}")
    if line_names is not None:
        n_test_lines = len(line_names)
    n_test = (
        int(n_test_lines)
        if n_test_lines is not None
        else int(rng.choice([1, 2, 3], p=[0.55, 0.3, 0.15]))
    )
    if not 1 <= n_test <= 3:
        raise ValueError("n_test_lines must be 1, 2 or 3")
    if present_means is None:
        competitive = rng.random() < 0.1
    elif present_means in ("reactive", "non-reactive"):
        competitive = present_means == "non-reactive"
    else:
        raise ValueError(
            f"present_means must be 'reactive' or 'non-reactive', not {present_means!r}"
        )
    dye = dye or str(rng.choice(["gold", "blue", "black", "tint"], p=[0.5, 0.2, 0.15, 0.15]))
    absorbance = dye_absorbance(dye, rng)

    # What the kit detects.
    if competitive:
        picks = rng.choice(len(_COMPETITIVE_ANALYTES), n_test, replace=False)
        names = [_COMPETITIVE_ANALYTES[i][0] for i in picks]
        what = [_COMPETITIVE_ANALYTES[i][1] for i in picks]
        item = "Drugs of abuse screen" if n_test > 1 else f"{what[0]} screen"
    else:
        cat = _REACTIVE_CATALOGUE[n_test]
        item, names, what = cat[rng.integers(len(cat))]
    names = list(line_names) if line_names is not None else list(names)
    what = list(analytes) if analytes is not None else list(what)
    item = test_item or item
    if "C" in names:
        raise ValueError("line name 'C' is reserved for the control line")

    ppm = float(round(rng.uniform(8.0, 12.0), 1))
    line_width = float(round(rng.uniform(0.8, 1.4), 2))
    window_len = rng.uniform(15.0, 25.0)
    window_wid = rng.uniform(4.0, 7.0)
    # Room for all lines with at least 3 mm spacing and clear ends.
    window_len = max(window_len, 3.05 * n_test + 2 * (2.5 + line_width / 2) + 0.5)
    positions = _choose_positions(rng, n_test + 1, window_len, line_width)

    if fmt == "strip":
        canvas, _, window_rect, code_box = _draw_strip(
            rng, flow, ppm, window_len, window_wid, absorbance
        )
    else:
        canvas, _, window_rect, code_box = _draw_cassette(
            rng, flow, ppm, window_len, window_wid, positions, [*names, "C"]
        )

    wx0, wy0, wx1, wy1 = window_rect
    lines: list[dict[str, Any]] = []
    for i, (nm, an) in enumerate(zip(names, what, strict=True)):
        line: dict[str, Any] = {
            "name": nm,
            "role": "test",
            "at": round(positions[i] / window_len, 4),
        }
        line["analyte"] = an
        if competitive:
            line["present_means"] = "non-reactive"
        lines.append(line)
    lines.append({"name": "C", "role": "control", "at": round(positions[-1] / window_len, 4)})

    code = product_code or f"RND-{int(rng.integers(16**6)):06X}"
    brand = _BRANDS[rng.integers(len(_BRANDS))].title()
    template: dict[str, Any] = {
        "image": "template.png",
        "px_per_mm": ppm,
        "window": {"x": wx0, "y": wy0, "w": wx1 - wx0, "h": wy1 - wy0},
        "flow": flow,
    }
    if code_box is not None:
        template["code_box"] = code_box
    doc: dict[str, Any] = {
        "spec": "rdt-kit/1",
        "product_code": code,
        "name": name or f"{brand} {item} {'Dipstick' if fmt == 'strip' else 'Rapid Test'}",
        "test_item": {"name": item},
        "format": fmt,
        "template": template,
        "lines": lines,
        "line_width_mm": line_width,
        "line_color": line_color_hex(absorbance),
        "read_time_minutes": {
            "min": int(rng.choice([5, 10, 15, 20])),
            "max": int(rng.choice([30, 40, 60])),
        },
    }
    return doc, canvas.to_bgra()


def _draw_cassette(
    rng: np.random.Generator,
    flow: str,
    ppm: float,
    window_len: float,
    window_wid: float,
    positions: list[float],
    names: list[str],
) -> tuple[_Canvas, _Frame, tuple[int, int, int, int], dict[str, int]]:
    code_mm = rng.uniform(9.0, 14.0)
    quiet = rng.uniform(1.6, 2.6)
    label = code_mm + 2 * quiet
    width = max(rng.uniform(19.0, 27.0), label + rng.uniform(3.0, 6.0), window_wid + 12.0)
    well_d = rng.uniform(4.5, 8.0)
    well_along = well_d * (rng.uniform(1.2, 1.6) if rng.random() < 0.35 else 1.0)
    u_well = rng.uniform(3.5, 7.0) + well_along / 2
    u_win = u_well + well_along / 2 + rng.uniform(4.5, 8.0)
    u_label = u_win + window_len + rng.uniform(3.0, 7.0)
    length = u_label + label + rng.uniform(4.0, 18.0)
    pad = 2
    frame = _Frame(flow, length, width, ppm, pad)
    w_px, h_px = frame.size
    canvas = _Canvas(w_px, h_px)
    body = _plastic_colour(rng)
    ink = _ink(rng)

    # Body with a faint moulded bevel near the edge.
    corner = rng.uniform(2.0, 5.0) * ppm
    x0, y0, x1, y1 = frame.rect(0, 0, length, width)
    canvas.rounded_rect(x0, y0, x1, y1, corner, body)
    bevel = rng.uniform(0.6, 1.2) * ppm
    canvas.rounded_rect(x0, y0, x1, y1, corner, (*(body * 0.93), 0.6), ring=bevel * 0.5)

    # Window across position: centred or nudged to one side, leaving room for labels.
    side = rng.uniform(-1, 1) * max(0.0, (width - window_wid) / 2 - 6.0)
    v_win = width / 2 + side - window_wid / 2
    rim = rng.uniform(0.6, 1.5)
    rim_col = body * rng.uniform(0.55, 0.8) if rng.random() < 0.6 else np.full(3, 0.55, np.float32)
    rx0, ry0, rx1, ry1 = frame.rect(
        u_win - rim, v_win - rim, u_win + window_len + rim, v_win + window_wid + rim
    )
    canvas.rounded_rect(rx0, ry0, rx1, ry1, rim * ppm * rng.uniform(0.3, 1.0), rim_col)
    wx0, wy0, wx1, wy1 = (
        round(c) for c in frame.rect(u_win, v_win, u_win + window_len, v_win + window_wid)
    )
    canvas.rounded_rect(wx0, wy0, wx1, wy1, 0, (0.95, 0.95, 0.95))

    # Sample well: round or oblong along the flow, with a rim and the pad visible inside.
    vc = width / 2 + rng.uniform(-1.0, 1.0)
    cx, cy = frame.point(u_well, vc)
    r_across = well_d / 2 * ppm
    r_along = r_across * (well_along / well_d)
    rx, ry = (r_across, r_along) if frame.long_axis_vertical else (r_along, r_across)
    canvas.ellipse(cx, cy, rx + 0.8 * ppm, ry + 0.8 * ppm, body * rng.uniform(0.6, 0.8))
    canvas.ellipse(cx, cy, rx, ry, np.array([0.8, 0.8, 0.82], np.float32) * rng.uniform(0.85, 1.0))

    # Print: "S" by the well, line names beside the lines, brand along the body.
    letter = rng.uniform(1.8, 2.6) * ppm
    label_side_v = v_win + window_wid + rng.uniform(1.2, 2.2) if rng.random() < 0.6 else v_win - 2.0
    label_side_v = float(np.clip(label_side_v, 1.8, width - 1.8))
    s_v = vc + well_d / 2 + 0.8 + letter / ppm * 0.8
    if s_v <= width - 1.5:
        sx, sy = frame.point(u_well, s_v)
    else:  # no room across: print it between the well and the window
        sx, sy = frame.point(u_well + well_along / 2 + 0.8 + letter / ppm * 0.6, vc)
    canvas.text("S", sx, sy, letter, ink, bold=True)
    # Line names: small enough not to run into each other, clear of the window rim.
    spacing = min(b - a for a, b in itertools.pairwise(positions))
    right = label_side_v > v_win
    for pos, nm in zip(positions, names, strict=True):
        h = letter * (0.85 if len(nm) > 1 else 1.0)
        if frame.long_axis_vertical:  # names run across the flow, stacked along it
            h = min(h, 0.6 * spacing * ppm)
            half = 0.5 * 0.95 * len(nm) * h / ppm
        else:  # names run along the flow, side by side
            h = min(h, 0.8 * spacing * ppm / (0.95 * len(nm)))
            half = 0.5 * h / ppm
        h = max(h, 1.2 * ppm)
        gap = rim + 0.5 + half
        v_lab = v_win + window_wid + gap if right else v_win - gap
        v_lab = float(np.clip(v_lab, half + 0.6, width - half - 0.6))
        lx, ly = frame.point(u_win + pos, v_lab)
        canvas.text(nm, lx, ly, h, ink)
    brand = _BRANDS[rng.integers(len(_BRANDS))]
    brand_v = v_win - 3.5 if label_side_v > v_win else v_win + window_wid + 3.5
    brand_v = float(np.clip(brand_v, 2.0, width - 2.0))
    bx, by = frame.point(u_win + window_len / 2, brand_v)
    size = min(2.2 * ppm, (window_len * ppm) / max(len(brand), 1) * 1.3)
    rotate = 90 if frame.long_axis_vertical else 0
    if rotate and rng.random() < 0.5:
        rotate = 270
    canvas.text(brand, bx, by, size, _ink(rng), rotate=rotate, bold=True)

    # Optional coloured band at the far end and a lot number.
    if rng.random() < 0.4:
        band_u = u_label + label + 1.5
        band_end = min(length - corner / ppm - 0.5, band_u + rng.uniform(3, 8))
        if band_end - band_u > 2:
            bx0, by0, bx1, by1 = frame.rect(band_u, 0, band_end, width)
            colour = _hsv(int(rng.integers(180)), 160 / 255, 200 / 255)
            canvas.rounded_rect(bx0, by0, bx1, by1, 0, (*colour, 1.0))
    if rng.random() < 0.6:
        lot = f"LOT {rng.integers(100000, 999999)}"
        lot_h = 1.2 * ppm
        lot_len = 0.95 * len(lot) * 1.2  # mm, Hershey simplex advance is about 0.95 cap height
        tail0 = u_label + label + 1.0
        along = 1.6 if frame.long_axis_vertical else lot_len + 1.0
        if length - tail0 > along + 1.5:
            lx, ly = frame.point((tail0 + length) / 2, width / 2)
            canvas.text(lot, lx, ly, lot_h, ink * 1.5)
    # The code box: a white label, quiet zone included; the QR goes inside at render time.
    cu, cv = u_label + quiet, width / 2 - code_mm / 2
    lx0, ly0, lx1, ly1 = frame.rect(u_label, cv - quiet, u_label + label, cv + code_mm + quiet)
    canvas.rounded_rect(lx0, ly0, lx1, ly1, 0.3 * ppm, (0.97, 0.97, 0.97))
    bx0, by0, bx1, by1 = frame.rect(cu, cv, cu + code_mm, cv + code_mm)
    size_px = round(min(bx1 - bx0, by1 - by0))
    code_box = {"x": round(bx0), "y": round(by0), "size": size_px}
    return canvas, frame, (wx0, wy0, wx1, wy1), code_box


def _draw_strip(
    rng: np.random.Generator,
    flow: str,
    ppm: float,
    window_len: float,
    window_wid: float,
    absorbance: np.ndarray,
) -> tuple[_Canvas, _Frame, tuple[int, int, int, int], None]:
    edge = rng.uniform(0.15, 0.35)
    width = window_wid + 2 * edge
    sample_pad = rng.uniform(8.0, 14.0)
    conj = rng.uniform(2.5, 5.0)
    u_win = sample_pad + conj
    handle = rng.uniform(18.0, 30.0)
    length = u_win + window_len + handle
    frame = _Frame(flow, length, width, ppm, 2)
    canvas = _Canvas(*frame.size)

    x0, y0, x1, y1 = frame.rect(0, 0, length, width)
    canvas.rounded_rect(x0, y0, x1, y1, 0.3 * ppm, (0.93, 0.94, 0.95))  # backing card
    # Sample pad (fibrous, cream) and conjugate pad (tinted by the dye).
    px0, py0, px1, py1 = frame.rect(0, 0, sample_pad + 0.8, width)
    canvas.rounded_rect(px0, py0, px1, py1, 0.3 * ppm, (0.78, 0.88, 0.9))
    conj_col = np.clip(10.0 ** (-0.12 * absorbance) * 0.9, 0, 1)
    cx0, cy0, cx1, cy1 = frame.rect(sample_pad, 0, u_win + 0.6, width)
    canvas.rounded_rect(cx0, cy0, cx1, cy1, 0, conj_col)
    # Absorbent pad under a printed handle.
    hue = int(rng.integers(180))
    handle_col = _hsv(hue, 200 / 255, 190 / 255)
    hx0, hy0, hx1, hy1 = frame.rect(u_win + window_len, 0, length, width)
    canvas.rounded_rect(hx0, hy0, hx1, hy1, 0.3 * ppm, handle_col)
    # "MAX" mark and arrows pointing at the sample end, printed on the handle.
    ink = np.full(3, 0.95, np.float32)
    arrow_len = min(width * 0.8, 4.0)
    for k in range(2):
        u_tip = u_win + window_len + 2.0 + k * (arrow_len + 1.5)
        pts = [
            frame.point(u_tip, width / 2),
            frame.point(u_tip + arrow_len, width / 2 - width * 0.3),
            frame.point(u_tip + arrow_len, width / 2 + width * 0.3),
        ]
        canvas.polygon(np.array(pts, np.float32), ink)
    mx0, my0, mx1, my1 = frame.rect(sample_pad - 1.2, 0, sample_pad - 0.8, width)
    canvas.rounded_rect(mx0, my0, mx1, my1, 0, (0.2, 0.2, 0.6))
    wx0, wy0, wx1, wy1 = (
        round(c) for c in frame.rect(u_win, edge, u_win + window_len, edge + window_wid)
    )
    canvas.rounded_rect(wx0, wy0, wx1, wy1, 0, (0.95, 0.95, 0.95))
    return canvas, frame, (wx0, wy0, wx1, wy1), None


def benchmark_kits(seed: int = 0) -> list[tuple[dict[str, Any], np.ndarray]]:
    """The held-out benchmark kit designs (see :data:`BENCHMARK_DESIGNS`).

    Parameters
    ----------
    seed : int
        Varies the incidental look (colours, exact geometry) of every design
        together; the designs' defining traits (flow, lines, dye, format,
        product code) never change. The benchmark uses seed 0.

    Examples
    --------
    >>> kits = benchmark_kits()
    >>> [d["template"]["flow"] for d, _ in kits]
    ['right', 'up', 'left', 'down']
    """
    out = []
    for design in BENCHMARK_DESIGNS:
        rng = np.random.default_rng([design.seed, seed])
        out.append(
            random_kit(
                rng,
                flow=design.flow,
                n_test_lines=design.n_test_lines,
                dye=design.dye,
                fmt=design.fmt,
                present_means=design.present_means or "reactive",
                product_code=design.product_code,
                name=design.name,
                line_names=design.line_names,
                analytes=design.analytes,
                test_item=design.test_item,
            )
        )
    return out


def write_kit(directory: str | Path, document: dict[str, Any], template: np.ndarray) -> Path:
    """Write ``kit.json`` and the template PNG it names into ``directory``.

    Returns
    -------
    Path
        The path of the written ``kit.json``.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    image_name = document.get("template", {}).get("image", "template.png")
    ok, png = cv2.imencode(".png", template)
    if not ok:
        raise ValueError("template could not be encoded as PNG")
    (directory / image_name).write_bytes(png.tobytes())
    path = directory / "kit.json"
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path
