"""The membrane in the result window: base colour, lines, stains, mottle and ghost marks."""

from __future__ import annotations

import math

import cv2
import numpy as np
from scipy.special import erf

from datasets.render.colour import linear_od
from pipeline.kit import Kit
from pipeline.rectify import window_to_template

#: No misregistration: the unit is where the template shows it.
IDENTITY = np.eye(3)


def window_coords(
    kit: Kit, k: float, placement: np.ndarray, shape: tuple[int, ...], margin_mm: float
) -> tuple[tuple[slice, slice], np.ndarray, np.ndarray]:
    """Face pixels around the unit's window and their canonical window mm (u along flow, v across).

    ``placement`` maps template pixels of the kit's window to where this unit's window
    really is (identity: where the template shows it); ``margin_mm`` widens the region.
    """
    w = kit.window
    to_template = placement @ window_to_template(kit)
    mm = np.array(
        [[0, 0, 1], [kit.window_length_mm, 0, 1], [0, kit.window_width_mm, 1]], np.float64
    )
    mm = np.vstack([mm, [kit.window_length_mm, kit.window_width_mm, 1]])
    if placement is IDENTITY:  # the kit's own rectangle, exactly as it was always cut
        x0, y0, x1, y1 = w.x, w.y, w.x + w.w, w.y + w.h
    else:
        corners = mm @ to_template.T
        x0, y0 = corners[:, :2].min(0)
        x1, y1 = corners[:, :2].max(0)
    pad = margin_mm * kit.px_per_mm
    fx0 = max(0, math.floor((x0 - pad + 0.5) * k - 0.5) - 1)
    fy0 = max(0, math.floor((y0 - pad + 0.5) * k - 0.5) - 1)
    fx1 = min(shape[1], math.ceil((x1 + pad + 0.5) * k - 0.5) + 2)
    fy1 = min(shape[0], math.ceil((y1 + pad + 0.5) * k - 0.5) + 2)
    fy, fx = np.mgrid[fy0:fy1, fx0:fx1].astype(np.float64)
    # Face pixel centre -> template coordinate -> canonical window mm.
    tx, ty = (fx + 0.5) / k - 0.5, (fy + 0.5) / k - 0.5
    inv = np.linalg.inv(to_template)
    u = inv[0, 0] * tx + inv[0, 1] * ty + inv[0, 2]
    v = inv[1, 0] * tx + inv[1, 1] * ty + inv[1, 2]
    return (slice(fy0, fy1), slice(fx0, fx1)), u, v


def draw_membrane(
    face: np.ndarray,
    kit: Kit,
    rng: np.random.Generator,
    k: float,
    od: dict[str, float],
    absorbance: np.ndarray,
    clean: bool,
    exposed_level: float,
    *,
    placement: np.ndarray = IDENTITY,
    tint: tuple[float, float, float] | None = None,
    lines_shift_mm: float | None = None,
    lines_tilt_deg: float | None = None,
) -> tuple[dict[str, float], float]:
    """Replace the window area of ``face`` by the membrane with its lines, in place.

    ``exposed_level`` is the membrane's linear level in the photo once lit and exposed:
    line densities are converted to linear light at that level (see :func:`linear_od`).
    ``placement`` moves the window (see :func:`window_coords`); ``tint`` replaces the
    drawn membrane colour (BGR, brightest 1); ``lines_shift_mm`` and ``lines_tilt_deg``
    replace the drawn placement of the lines in the window.
    """
    ppm_face = kit.px_per_mm * k
    length, width = kit.window_length_mm, kit.window_width_mm
    (rows, cols), u, v = window_coords(kit, k, placement, face.shape, 0.0)
    edge_mm = np.minimum(np.minimum(u, length - u), np.minimum(v, width - v))
    cover = np.clip(edge_mm * ppm_face + 0.5, 0, 1).astype(np.float32)

    base = np.array([rng.uniform(0.8, 0.95), rng.uniform(0.94, 1.0), 1.0]) * rng.uniform(0.72, 0.88)
    if tint is not None:
        base = np.array(tint) * base.max()
    dye_od = np.zeros(u.shape)
    # Lines: one global shift of all lines (placement tolerance), tiny independent jitter,
    # a slight tilt, soft edges and unevenness along the line.
    shift = rng.uniform(-1.5, 1.5)
    tilt = math.tan(math.radians(rng.uniform(-0.8, 0.8)))
    if lines_shift_mm is not None:
        shift = lines_shift_mm
    if lines_tilt_deg is not None:
        tilt = math.tan(math.radians(lines_tilt_deg))
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
    region = face[rows, cols]
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
