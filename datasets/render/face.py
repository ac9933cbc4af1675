"""One unit's face: the kit's template with this unit's membrane, lines and code."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from datasets.kits import absorbance_from_hex, dye_absorbance
from datasets.render.codes import draw_code
from datasets.render.colour import to_linear
from datasets.render.membrane import draw_membrane
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


def render_face(
    kit: Kit,
    rng: np.random.Generator,
    work_ppm: float,
    od: dict[str, float],
    code: str | None,
    absorbance: np.ndarray,
    clean: bool,
    exposed_level: float,
) -> Face:
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

    line_at, level = draw_membrane(face, kit, rng, k, od, absorbance, clean, exposed_level)
    if code is not None and kit.code_box is not None:
        draw_code(face, kit, rng, k, code)
    return Face(face, k, body.astype(np.float32), level, line_at)
