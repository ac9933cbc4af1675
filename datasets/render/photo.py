"""One phone photo of one used unit, with exact ground truth (:func:`render_photo`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from datasets.render.camera import kit_outline, place_kit
from datasets.render.colour import to_srgb
from datasets.render.composite import composite_kit
from datasets.render.face import Face, kit_absorbance, render_face
from datasets.render.optics import motion_kernel
from datasets.render.scene import background, clutter, glare_band, glare_patch, lighting
from datasets.render.truth import kit_truth
from pipeline.kit import Kit
from pipeline.rectify import window_corners, window_px_per_mm

#: Flaws that make a photo unreadable; photos with one are labelled ``fit: false``.
FLAWS = ("blur", "glare", "cutoff", "dark", "overexposed", "no_cassette", "far")
#: Photo sizes (width, height) drawn when none is given: 3 to 12 megapixels, both orientations.
SIZES = ((2048, 1536), (2592, 1944), (3264, 2448), (4000, 3000), (1536, 2048), (3000, 4000))


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
    outline = kit_outline(kit)
    kit_mm = float(np.ptp(outline, axis=0).max()) / kit.px_per_mm
    if flaw == "far":
        s = float(rng.uniform(1.5, 2.8))
    elif rng.random() < 0.75:
        s = float(np.clip(rng.uniform(0.3, 0.9) * max(w, h) / kit_mm, 6.0, 25.0))
    else:
        s = float(math.exp(rng.uniform(math.log(6), math.log(25))))
    img, meta["background"] = background(rng, w, h, s)
    meta["clutter"] = clutter(rng, img, s)

    absorbance, dye = kit_absorbance(kit, rng)
    meta["dye"] = dye
    # The membrane's exposed level is chosen first: line densities depend on it (linear_od).
    if flaw == "dark":
        target = rng.uniform(0.002, 0.007)
    elif flaw == "overexposed":
        target = rng.uniform(1.6, 4.0)
    else:
        target = rng.uniform(0.2, 0.8)
    hom: np.ndarray | None = None
    face: Face | None = None
    corners = None
    if flaw != "no_cassette":
        hom = place_kit(kit, rng, outline, (w, h), s, flaw)
        hom = hom / hom[2, 2]
        s = window_px_per_mm(kit, hom)
        work_ppm = float(np.clip(s * 1.3, 3.0, 40.0))
        face = render_face(kit, rng, work_ppm, ods, code, absorbance, clean, min(target, 1.0))
        composite_kit(img, kit, rng, face, hom, outline, s, clean)
        corners = window_corners(kit, hom)

    # Light: shape, colour cast and exposure (set on the membrane so fit photos never clip).
    light, cast = lighting(rng, w, h, clean)
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
        glare = glare_patch(rng, w, h, corners)
    elif not clean and rng.random() < 0.3:
        avoid = None
        if corners is not None and flaw is None:
            avoid = window_corners(kit, hom, margin_mm=2.0) if hom is not None else None
        glare = glare_band(rng, w, h, avoid, rng.uniform(0.05, 0.4))

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
