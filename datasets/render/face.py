"""One unit's face: the kit's template with this unit's membrane, lines and code."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from datasets.kits import absorbance_from_hex, dye_absorbance
from datasets.render.codes import draw_code
from datasets.render.colour import to_linear
from datasets.render.membrane import IDENTITY, draw_membrane
from datasets.render.rim import move_window, shade_rim
from datasets.render.variation import NO_VARIATION, Variation
from pipeline.kit import Kit


@dataclass
class Face:
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


def kit_absorbance(kit: Kit, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    colour = kit.description.line_color
    if colour is not None:
        return absorbance_from_hex(colour), colour
    dye = str(rng.choice(["gold", "blue", "black", "tint"], p=[0.6, 0.15, 0.1, 0.15]))
    return dye_absorbance(dye, rng), dye


def placement(
    centre: tuple[float, float], offset_mm: tuple[float, float], rotation_deg: float, ppm: float
) -> np.ndarray:
    """3x3 template-to-template map: turn by ``rotation_deg`` about ``centre``, then shift.

    Where a part of this unit really is, given where the template shows it;
    positive angles turn counter-clockwise as seen on the image (y down).

    Examples
    --------
    >>> m = placement((10.0, 20.0), (1.0, -0.5), 0.0, 10.0)
    >>> (m @ [10.0, 20.0, 1.0])[:2]
    array([20., 15.])
    """
    if offset_mm == (0.0, 0.0) and rotation_deg == 0.0:
        return IDENTITY
    a = math.radians(rotation_deg)
    c, s = math.cos(a), math.sin(a)
    cx, cy = centre
    turn = np.array([[c, s, 0], [-s, c, 0], [0, 0, 1.0]])
    to_origin = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1.0]])
    back = np.array([[1, 0, cx + offset_mm[0] * ppm], [0, 1, cy + offset_mm[1] * ppm], [0, 0, 1.0]])
    return back @ turn @ to_origin


def window_placement(kit: Kit, variation: Variation) -> np.ndarray:
    """Where this unit's window (rim, membrane, lines) is relative to the template's print."""
    if kit.description.format != "cassette" or not variation.moves_window:
        return IDENTITY
    w = kit.window
    centre = (w.x + w.w / 2, w.y + w.h / 2)
    return placement(
        centre, variation.window_offset_mm, variation.window_rotation_deg, kit.px_per_mm
    )


def code_placement(kit: Kit, variation: Variation) -> np.ndarray:
    """Where this unit's code symbol is relative to the template's code box."""
    box = kit.code_box
    if box is None or not variation.moves_code:
        return IDENTITY
    centre = (box.x + box.size / 2, box.y + box.size / 2)
    return placement(centre, variation.code_offset_mm, variation.code_rotation_deg, kit.px_per_mm)


def render_face(
    kit: Kit,
    rng: np.random.Generator,
    work_ppm: float,
    od: dict[str, float],
    code: str | None,
    absorbance: np.ndarray,
    clean: bool,
    exposed_level: float,
    variation: Variation = NO_VARIATION,
) -> Face:
    """This unit's face: the template with its own window, membrane, lines and code."""
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

    window = window_placement(kit, variation)
    if window is not IDENTITY:
        move_window(face, kit, k, window)
    line_at, level = draw_membrane(
        face,
        kit,
        rng,
        k,
        od,
        absorbance,
        clean,
        exposed_level,
        placement=window,
        tint=variation.membrane_tint,
        lines_shift_mm=variation.lines_shift_mm,
        lines_tilt_deg=variation.lines_tilt_deg,
    )
    if variation.rim_bevel_mm > 0 and kit.description.format == "cassette":
        shade_rim(face, kit, k, window, variation)
    if code is not None and kit.code_box is not None:
        draw_code(face, kit, rng, k, code, code_placement(kit, variation), variation)
    return Face(face, k, body.astype(np.float32), level, line_at)
