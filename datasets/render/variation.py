"""How a real unit and a real phone differ from the kit description: :class:`Variation`.

A kit description is measured from one unit; other units of the same product
differ from it, and phones process their photos. A :class:`Variation` holds
every such difference of one photo as plain numbers, so it can be recorded in
``labels.jsonl`` and a test can render exactly the case it pins:

- **misregistration**: the window (moulded rim, membrane and lines together)
  sits ``window_offset_mm`` / ``window_rotation_deg`` away from where the
  template shows it, relative to the template's print and outline; the lines
  sit ``lines_shift_mm`` along the flow from their nominal place in the
  window, tilted ``lines_tilt_deg``; the code sits ``code_offset_mm`` /
  ``code_rotation_deg`` from the code box;
- **hand-applied label** (``code_label``): the code is printed on a sticker
  (``label_margin_mm`` of paper around it, with a visible edge) stuck on by
  hand, so its offset and rotation are larger;
- **moulded rim** (``rim_bevel_mm`` > 0): a bevelled window wall, lit from
  ``rim_light_deg``, soft over the bevel's width, casting ``rim_shadow`` on the
  membrane on the side towards the light;
- **small in the frame** (``kit_frac``): the kit's length spans this share of
  the photo's width;
- **membrane tint** (``membrane_tint``, BGR reflectance relative to the
  brightest channel) and ``read_level``: the exposed linear level of the
  channels the line dye absorbs; the other channels may clip (a yellowish or
  pinkish membrane that saturates a channel the lines are not read in);
- **phone optics** (``optics_sigma_px``): a phone's lens and demosaicing soften
  every edge, print and rim alike (Gaussian sigma in photo pixels); sharp real
  12-MP photos of small cassettes measure 0.25-0.36 mm of edge spread;
- **phone processing**: noise reduction (``denoise``, bilateral filter
  strength in 8-bit levels) that smears fine texture, then unsharp-mask
  sharpening (``sharpen_amount`` at ``sharpen_radius_px``) with halos.

``Variation()`` changes nothing: the photo is the one :func:`render_photo`
draws without it, byte for byte. :func:`draw_variation` draws one from a named
profile (:data:`PROFILES`).

Offsets and angles are in the template's frame (x right, y down, degrees
counter-clockwise as seen on the image), millimetres on the cassette.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import shapely

from pipeline.kit import Kit

#: Named variation profiles for :func:`draw_variation`. ``none`` is the plain
#: renderer; ``mild`` the training and benchmark mix; ``realworld-wide`` the
#: widest variation, a held-out slice only.
PROFILES = ("none", "mild", "realworld-wide")
#: Photo size (width, height) of a 12-megapixel phone photo, landscape and portrait.
TWELVE_MP = ((4000, 3000), (3000, 4000))
#: Membrane tints (BGR reflectance, brightest channel 1): nitrocellulose turns
#: yellowish with age and sample matrix, pinkish from gold conjugate left behind.
TINTS: dict[str, tuple[tuple[float, float], tuple[float, float], tuple[float, float]]] = {
    "yellow": ((0.45, 0.65), (0.72, 0.85), (1.0, 1.0)),
    "pink": ((0.88, 1.0), (0.62, 0.75), (1.0, 1.0)),
}


@dataclass(frozen=True)
class Variation:
    """The differences of one unit and one photo from the kit description (see module)."""

    window_offset_mm: tuple[float, float] = (0.0, 0.0)
    window_rotation_deg: float = 0.0
    lines_shift_mm: float | None = None  # None: the renderer's own draw (±1.5 mm)
    lines_tilt_deg: float | None = None  # None: the renderer's own draw (±0.8°)
    code_offset_mm: tuple[float, float] = (0.0, 0.0)
    code_rotation_deg: float = 0.0
    code_label: bool = False
    label_margin_mm: float = 2.0
    label_paper: float = 0.93  # linear reflectance of the label paper
    rim_bevel_mm: float = 0.0
    rim_light_deg: float = 45.0
    rim_shadow: float = 0.0
    kit_frac: float | None = None
    size: tuple[int, int] | None = None  # photo size this variation asks for
    membrane_tint: tuple[float, float, float] | None = None
    membrane_name: str = "white"
    read_level: float | None = None
    optics_sigma_px: float = 0.0
    denoise: float = 0.0
    sharpen_amount: float = 0.0
    sharpen_radius_px: float = 1.0
    profile: str = field(default="none", compare=False)

    @property
    def moves_window(self) -> bool:
        return self.window_offset_mm != (0.0, 0.0) or self.window_rotation_deg != 0.0

    @property
    def moves_code(self) -> bool:
        return self.code_label or self.code_offset_mm != (0.0, 0.0) or self.code_rotation_deg != 0

    def to_json(self) -> dict[str, Any]:
        """The variation as a JSON-ready dict (tuples become lists), for ``labels.jsonl``."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}


#: The plain renderer: no variation at all.
NO_VARIATION = Variation()
#: How far a hand-applied label stays from the result window's edge (its rim included), mm.
LABEL_CLEARANCE_MM = 2.0


def _label_square(
    kit: Kit, offset_mm: tuple[float, float], turn_deg: float, margin_mm: float
) -> shapely.Polygon:
    """The label's outline in template pixels (a shapely polygon)."""
    box = kit.code_box
    assert box is not None
    ppm = kit.px_per_mm
    half = box.size / 2 + margin_mm * ppm
    a = math.radians(turn_deg)
    turn = np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
    centre = np.array(
        [box.x + box.size / 2 + offset_mm[0] * ppm, box.y + box.size / 2 + offset_mm[1] * ppm]
    )
    corners = np.array([[-half, -half], [half, -half], [half, half], [-half, half]]) @ turn.T
    return shapely.Polygon(corners + centre)


def _label_clear(
    kit: Kit, offset_mm: tuple[float, float], turn_deg: float, margin_mm: float
) -> bool:
    w = kit.window
    window = shapely.box(w.x, w.y, w.x + w.w, w.y + w.h)
    label = _label_square(kit, offset_mm, turn_deg, margin_mm)
    return bool(label.distance(window) >= LABEL_CLEARANCE_MM * kit.px_per_mm)


def _away_from_window(kit: Kit | None, distance_mm: float) -> tuple[float, float]:
    """An offset of ``distance_mm`` pointing from the window to the code box."""
    assert kit is not None
    assert kit.code_box is not None
    box, w = kit.code_box, kit.window
    d = np.array([box.x + box.size / 2 - w.x - w.w / 2, box.y + box.size / 2 - w.y - w.h / 2])
    d = d / max(float(np.linalg.norm(d)), 1e-9) * distance_mm
    return round(float(d[0]), 4), round(float(d[1]), 4)


def _polar(rng: np.random.Generator, lo: float, hi: float) -> tuple[float, float]:
    """An offset of length uniform in [lo, hi] in a uniformly random direction."""
    r, a = rng.uniform(lo, hi), rng.uniform(0, 2 * math.pi)
    return round(r * math.cos(a), 4), round(r * math.sin(a), 4)


def _signed(rng: np.random.Generator, lo: float, hi: float) -> float:
    return round(float(rng.uniform(lo, hi) * rng.choice([-1.0, 1.0])), 4)


def _tint(rng: np.random.Generator, name: str) -> tuple[float, float, float]:
    b, g, r = (round(float(rng.uniform(*span)), 4) for span in TINTS[name])
    return b, g, r


def draw_variation(
    rng: np.random.Generator,
    profile: str,
    *,
    cassette: bool = True,
    small_cassettes: bool = True,
    kit: Kit | None = None,
) -> Variation:
    """One photo's :class:`Variation`, drawn from a named profile.

    Parameters
    ----------
    rng : numpy.random.Generator
        All randomness comes from here.
    profile : {"none", "mild", "realworld-wide"}
        ``mild``: units misregistered up to 0.8 mm and 1°, a quarter of codes
        on labels up to 2.5 mm and 4° off, moulded rims, phone optics of
        0.4-1.4 px, most photos phone processed, a third of membranes tinted,
        some small cassettes.
        ``realworld-wide``: units misregistered 1-1.5 mm and up to 2°, every
        code on a label 2-5 mm and 3-8° off, moulded rims, phone optics of
        1.0-1.8 px, every photo phone processed, tinted membranes, every
        cassette 10-15 % of a 12-MP photo's width.
    cassette : bool
        The kit is a cassette (a bare strip has no moulding and no code).
    small_cassettes : bool
        Allow the 12-megapixel small-in-frame case (slow to render).
    kit : Kit, optional
        The kit the unit is of: its label is then placed at least
        :data:`LABEL_CLEARANCE_MM` clear of the result window (a person sticks
        a label next to the window, not over it).

    Examples
    --------
    >>> v = draw_variation(np.random.default_rng(0), "realworld-wide")
    >>> 1.0 <= float(np.hypot(*v.window_offset_mm)) <= 1.5, v.code_label, v.size[0] * v.size[1]
    (True, True, 12000000)
    >>> draw_variation(np.random.default_rng(0), "none") == Variation()
    True
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown variation profile {profile!r}; expected one of {PROFILES}")
    if profile == "none":
        return Variation()
    if kit is not None:
        cassette = kit.description.format == "cassette" and kit.code_box is not None
    wide = profile == "realworld-wide"
    out: dict[str, Any] = {"profile": profile}
    if cassette:
        out["window_offset_mm"] = _polar(rng, 1.0, 1.5) if wide else _polar(rng, 0.0, 0.8)
        out["window_rotation_deg"] = round(
            float(rng.uniform(-2, 2) if wide else rng.uniform(-1, 1)), 4
        )
        if wide or rng.random() < 0.25:  # a hand-applied label
            out["code_label"] = True
            out["label_margin_mm"] = round(float(rng.uniform(1.5, 3.0)), 4)
            out["label_paper"] = round(float(rng.uniform(0.85, 0.97)), 4)
            for _ in range(50):  # nobody sticks the label over the result window
                offset = _polar(rng, 2.0, 5.0) if wide else _polar(rng, 0.0, 2.5)
                turn = _signed(rng, 3.0, 8.0) if wide else _signed(rng, 0.0, 4.0)
                if kit is None or _label_clear(kit, offset, turn, out["label_margin_mm"]):
                    break
            else:
                offset = _away_from_window(kit, float(np.hypot(*offset)))
            out["code_offset_mm"], out["code_rotation_deg"] = offset, turn
        else:  # printed with the rest, slightly off
            out["code_offset_mm"] = _polar(rng, 0.0, 0.8)
            out["code_rotation_deg"] = round(float(rng.uniform(-1, 1)), 4)
        out["rim_bevel_mm"] = round(float(rng.uniform(0.25, 0.4)), 4)
        out["rim_light_deg"] = round(float(rng.uniform(0, 360)), 2)
        out["rim_shadow"] = round(float(rng.uniform(0.05, 0.3)), 4)
    out["lines_shift_mm"] = round(float(rng.uniform(-1.5, 1.5)), 4)
    out["lines_tilt_deg"] = round(float(rng.uniform(-2, 2) if wide else rng.uniform(-1, 1)), 4)
    if small_cassettes and (wide or rng.random() < 0.15):
        out["kit_frac"] = round(
            float(rng.uniform(0.10, 0.15) if wide else rng.uniform(0.13, 0.25)), 4
        )
        out["size"] = TWELVE_MP[int(rng.integers(2))]
    tinted = rng.random() < (0.67 if wide else 0.35)
    if tinted:
        name = str(rng.choice(list(TINTS)))
        out["membrane_name"] = name
        out["membrane_tint"] = _tint(rng, name)
        # Exposed for the channels the lines are read in; the tint's brightest channel may clip.
        level = rng.uniform(0.6, 0.88) if wide else rng.uniform(0.45, 0.8)
        out["read_level"] = round(float(level), 4)
    # Calibrated on real 12-MP photos of small cassettes: 0.25-0.36 mm of edge spread at
    # 5-8 px/mm on the window is 1.3-2 px; closer photos of the same phone are sharper in mm.
    optics = rng.uniform(1.0, 1.8) if wide else rng.uniform(0.4, 1.4)
    out["optics_sigma_px"] = round(float(optics), 4)
    if wide or rng.random() < 0.6:
        out["denoise"] = round(float(rng.uniform(6.0, 18.0)), 3)
        out["sharpen_amount"] = round(float(rng.uniform(0.4, 1.5)), 4)
        out["sharpen_radius_px"] = round(float(rng.uniform(1.0, 2.5)), 4)
    return Variation(**out)
