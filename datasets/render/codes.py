"""The unit's own code: a QR symbol printed into the kit's code box."""

from __future__ import annotations

import math

import numpy as np
import segno

from pipeline.kit import Kit


def draw_code(face: np.ndarray, kit: Kit, rng: np.random.Generator, k: float, code: str) -> None:
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
