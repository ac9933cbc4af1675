"""One phone photo of one used unit, with exact ground truth (:func:`render_photo`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from datasets.render.camera import kit_outline, place_kit, project
from datasets.render.codes import code_corners
from datasets.render.colour import to_srgb
from datasets.render.composite import composite_kit
from datasets.render.face import (
    Face,
    code_placement,
    kit_absorbance,
    render_face,
    window_placement,
)
from datasets.render.membrane import IDENTITY
from datasets.render.optics import (
    burst_motion,
    defocus_and_shake,
    encode_jpeg,
    phone_process,
    sensor_noise,
)
from datasets.render.scene import background, clutter, glare_band, glare_patch, lighting
from datasets.render.truth import kit_truth
from datasets.render.variation import NO_VARIATION, Variation
from pipeline.kit import Kit
from pipeline.rectify import window_corners, window_px_per_mm

#: Flaws that make a photo unreadable; photos with one are labelled ``fit: false``.
#: ``motion``: a burst frame taken while the phone moved.
FLAWS = ("blur", "glare", "cutoff", "dark", "overexposed", "no_cassette", "far", "motion")
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
    window_homography : ndarray or None
        3x3 map from template pixels to photo pixels *for the result window*:
        where this unit's window really is. Equal to ``homography`` unless the
        variation misregisters the window (``rectify_window(image, kit,
        window_homography)`` is the true window).
    code_corners : ndarray or None
        Where the unit's code symbol is in the photo (4, 2): corners of the
        upright symbol, top-left, top-right, bottom-right, bottom-left.
    variation : Variation
        The variation this photo was rendered with.
    """

    image: np.ndarray
    truth: dict[str, Any]
    homography: np.ndarray | None
    jpeg: bytes
    line_at: dict[str, float] = field(default_factory=dict)
    window_px_per_mm: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    window_homography: np.ndarray | None = None
    code_corners: np.ndarray | None = None
    variation: Variation = NO_VARIATION

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
    variation: Variation = NO_VARIATION,
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
        Photo size in pixels; ``variation.size``, else drawn from :data:`SIZES`.
    clean : bool
        No sensor noise, blur, glare, shadows or membrane artefacts: for
        checking photometry and geometry.
    variation : Variation
        How this unit and this phone differ from the kit description (see
        :mod:`datasets.render.variation`); the default changes nothing.

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
    size = size or variation.size
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
    if variation.kit_frac is not None and flaw != "far":  # small in the frame
        s = variation.kit_frac * w / kit_mm
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
    exposed_level = min(target, 1.0)
    if variation.read_level is not None and flaw not in ("dark", "overexposed"):
        # Exposed for the channel the lines are read in; a tinted membrane's brighter
        # channels may clip (tint: relative reflectance, brightest channel 1).
        relative = variation.membrane_tint or (1.0, 1.0, 1.0)
        target = exposed_level = variation.read_level / relative[int(np.argmax(absorbance))]
    hom: np.ndarray | None = None
    window_hom: np.ndarray | None = None
    face: Face | None = None
    corners = None
    if flaw != "no_cassette":
        hom = place_kit(kit, rng, outline, (w, h), s, flaw)
        hom = hom / hom[2, 2]
        s = window_px_per_mm(kit, hom)
        work_ppm = float(np.clip(s * 1.3, 3.0, 40.0))
        face = render_face(
            kit, rng, work_ppm, ods, code, absorbance, clean, exposed_level, variation
        )
        composite_kit(img, kit, rng, face, hom, outline, s, clean)
        placed = window_placement(kit, variation)
        window_hom = hom if placed is IDENTITY else hom @ placed
        corners = window_corners(kit, window_hom)
        frame = project(hom, outline)
        # The kit's length in the photo as a share of the photo's width.
        (_, _), (a, b), _ = cv2.minAreaRect(frame.astype(np.float32))
        meta["kit_frac"] = round(max(a, b) / w, 4)

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
            avoid = (
                window_corners(kit, window_hom, margin_mm=2.0) if window_hom is not None else None
            )
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

    img = defocus_and_shake(img, rng, s, flaw, clean, meta, variation.optics_sigma_px)
    if flaw == "motion":
        along = corners[3] + corners[2] - corners[0] - corners[1] if corners is not None else None
        angle = math.atan2(along[1], along[0]) if along is not None else rng.uniform(0, np.pi)
        img = burst_motion(img, rng, s, angle, meta)
    if not clean:
        sensor_noise(img, rng, flaw)
    image = phone_process(to_srgb(img), variation)
    jpeg = encode_jpeg(image, rng, meta)
    return RenderedPhoto(
        image=image,
        truth=truth,
        homography=hom,
        jpeg=jpeg,
        line_at=face.line_at if face is not None else {},
        window_px_per_mm=round(s, 3) if hom is not None else None,
        meta=meta,
        window_homography=window_hom,
        code_corners=(
            project(hom, code_corners(kit, code_placement(kit, variation)))
            if hom is not None and code is not None and kit.code_box is not None
            else None
        ),
        variation=variation,
    )
