"""Small geometry of homographies and rectangles shared by the locator's steps."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.kit import Kit


@dataclass(frozen=True)
class Axis:
    """A rectangle's centre, long axis, normal (axis turned +90 degrees) and size in px."""

    centre: np.ndarray
    axis: np.ndarray
    normal: np.ndarray
    length: float
    width: float

    @classmethod
    def of(cls, quad: np.ndarray) -> Axis:
        quad = np.asarray(quad, float)
        e1, e2 = quad[1] - quad[0], quad[2] - quad[1]
        along, across = (e1, e2) if np.linalg.norm(e1) >= np.linalg.norm(e2) else (e2, e1)
        axis = along / np.linalg.norm(along)
        return cls(
            centre=quad.mean(0),
            axis=axis,
            normal=np.array([-axis[1], axis[0]]),
            length=float(np.linalg.norm(along)),
            width=float(np.linalg.norm(across)),
        )


def local_scale(m: np.ndarray, at: tuple[float, float]) -> float:
    """sqrt(|det J|) of a homography at a point: output px per input px."""
    x, y = at
    w = m[2, 0] * x + m[2, 1] * y + m[2, 2]
    px = (m[0, 0] * x + m[0, 1] * y + m[0, 2]) / w
    py = (m[1, 0] * x + m[1, 1] * y + m[1, 2]) / w
    j = np.array(
        [
            [(m[0, 0] - px * m[2, 0]) / w, (m[0, 1] - px * m[2, 1]) / w],
            [(m[1, 0] - py * m[2, 0]) / w, (m[1, 1] - py * m[2, 1]) / w],
        ]
    )
    return float(math.sqrt(abs(np.linalg.det(j))))


def centre_px_per_mm(kit: Kit, homography: np.ndarray) -> float:
    """Photo px per mm at the template's centre."""
    th, tw = kit.template.shape[:2]
    return local_scale(homography, (tw / 2, th / 2)) * kit.px_per_mm


def corners_apart_mm(kit: Kit, a: np.ndarray, b: np.ndarray) -> float:
    """How far apart (mm on the kit, at ``a``'s scale) two homographies put the template's corners.

    Examples
    --------
    >>> from pipeline.kit import load_kit
    >>> kit = load_kit("datasets/kits/demo/kit.json")
    >>> shift = np.array([[1, 0, 2 * kit.px_per_mm], [0, 1, 0], [0, 0, 1.0]])
    >>> round(corners_apart_mm(kit, np.eye(3), shift), 3)
    2.0
    """
    th, tw = kit.template.shape[:2]
    corners = np.array([[0, 0], [tw, 0], [tw, th], [0, th]], np.float64).reshape(-1, 1, 2)
    pa = cv2.perspectiveTransform(corners, a).reshape(-1, 2)
    pb = cv2.perspectiveTransform(corners, b).reshape(-1, 2)
    return float(np.linalg.norm(pa - pb, axis=1).max() / max(centre_px_per_mm(kit, a), 1e-6))
