"""The camera's optics and processing: defocus, hand shake, burst motion, sensor noise,
the phone's noise reduction and sharpening, JPEG."""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from datasets.render.variation import Variation


def motion_kernel(length: float, angle: float) -> np.ndarray:
    """A straight motion-blur kernel ``length`` px long at ``angle`` radians."""
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


def defocus_and_shake(
    img: np.ndarray,
    rng: np.random.Generator,
    s: float,
    flaw: str | None,
    clean: bool,
    meta: dict[str, Any],
    optics_sigma_px: float = 0.0,
) -> np.ndarray:
    """Mild defocus and hand shake; strong defocus for the ``blur`` flaw; then the phone's
    own softness (``optics_sigma_px``, lens and demosaicing), on every photo it is given for."""
    h, w = img.shape[:2]
    if flaw == "blur":
        sigma = rng.uniform(1.0, 2.2) * s
        q = max(1.0, sigma / 3)
        small = cv2.resize(
            img, (max(8, round(w / q)), max(8, round(h / q))), interpolation=cv2.INTER_AREA
        )
        small = cv2.GaussianBlur(small, (0, 0), sigma / q)
        if rng.random() < 0.5:
            small = cv2.filter2D(
                small, -1, motion_kernel(rng.uniform(2, 5) * s / q, rng.uniform(0, np.pi))
            )
        img = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        meta["blur_px"] = round(sigma, 2)
    elif not clean:
        sigma = min(rng.uniform(0.0, 1.3), 0.12 * s)
        if sigma > 0.3:
            img = cv2.GaussianBlur(img, (0, 0), sigma)
        if rng.random() < 0.25:
            img = cv2.filter2D(
                img, -1, motion_kernel(min(rng.uniform(1.5, 4.0), 0.2 * s), rng.uniform(0, np.pi))
            )
        meta["blur_px"] = round(sigma, 2)
    if optics_sigma_px > 0:
        img = cv2.GaussianBlur(img, (0, 0), optics_sigma_px)
    return img


def burst_motion(
    img: np.ndarray, rng: np.random.Generator, s: float, along: float, meta: dict[str, Any]
) -> np.ndarray:
    """A burst frame taken while the phone moved (flaw ``motion``): a 3-6 mm smear.

    The smear runs within 45° of the flow (``along``, radians in the photo), so
    the lines, 1 mm wide and 3 mm or more apart, run into each other: no person
    could read them either.
    """
    h, w = img.shape[:2]
    smear_mm = rng.uniform(3.0, 6.0)
    angle = along + rng.uniform(-math.pi / 4, math.pi / 4)
    length = smear_mm * s
    q = max(1.0, length / 24)
    small = cv2.resize(
        img, (max(8, round(w / q)), max(8, round(h / q))), interpolation=cv2.INTER_AREA
    )
    small = cv2.filter2D(small, -1, motion_kernel(length / q, angle))
    meta["motion_mm"] = round(float(smear_mm), 2)
    meta["motion_deg"] = round(math.degrees(angle) % 180, 1)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def sensor_noise(img: np.ndarray, rng: np.random.Generator, flaw: str | None) -> None:
    """Shot and read noise, spatially correlated by demosaicing and denoising, in place."""
    h, w = img.shape[:2]
    shot = rng.uniform(2e-5, 1.5e-4)
    read = rng.uniform(0.0005, 0.002) if flaw != "dark" else rng.uniform(0.001, 0.003)
    nh, nw = (h + 1) // 2, (w + 1) // 2
    noise = rng.standard_normal((nh, nw, 3), dtype=np.float32)
    noise = cv2.resize(noise, (w, h), interpolation=cv2.INTER_LINEAR) * 1.6
    sd = np.maximum(img, 0.0) * np.float32(shot) + np.float32(read * read)
    cv2.sqrt(sd, dst=sd)
    cv2.multiply(noise, sd, dst=noise)
    cv2.add(img, noise, dst=img)


def phone_process(image: np.ndarray, variation: Variation) -> np.ndarray:
    """A phone's own processing of the encoded photo: noise reduction, then sharpening.

    The bilateral filter (``denoise``: its colour sigma in 8-bit levels) flattens
    whatever varies less than that, fine membrane texture and faint marks
    included; unsharp masking (``sharpen_amount`` at ``sharpen_radius_px``)
    then steepens edges and leaves bright and dark halos beside them.

    Examples
    --------
    >>> step = np.full((20, 40, 3), 50, np.uint8); step[:, 20:] = 200
    >>> out = phone_process(step, Variation(sharpen_amount=1.0, sharpen_radius_px=1.5))
    >>> int(out[10, 21, 0]) > 200, int(out[10, 18, 0]) < 50   # halos on both sides
    (True, True)
    """
    if variation.denoise > 0:
        image = cv2.bilateralFilter(image, 5, variation.denoise, 3.0)
    if variation.sharpen_amount > 0:
        f = image.astype(np.float32)
        soft = cv2.GaussianBlur(f, (0, 0), variation.sharpen_radius_px)
        f += variation.sharpen_amount * (f - soft)
        image = np.clip(f + 0.5, 0, 255).astype(np.uint8)
    return image


def encode_jpeg(image: np.ndarray, rng: np.random.Generator, meta: dict[str, Any]) -> bytes:
    """The photo as a phone saves it: JPEG at quality 70-95."""
    quality = int(rng.integers(70, 96))
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    meta["jpeg_quality"] = quality
    return bytes(buf.tobytes())
