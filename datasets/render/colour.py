"""Linear light and sRGB: the renderer composes in linear light and encodes once at the end.

A line's optical density is defined, as readers (and the example photos' truth) measure it, on
the *encoded* pixel values; :func:`linear_od` converts it to the linear-light density the
renderer multiplies the membrane by.
"""

from __future__ import annotations

import math

import numpy as np

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
