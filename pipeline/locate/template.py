"""The kit's template prepared for alignment: structure, patches and masks per resolution.

Prepared once per template *content* (a hash of the image and the geometry), so
two ``Kit`` objects of the same product share the work and a changed template
never reuses a stale one.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field

import cv2
import numpy as np

from pipeline.color import channel_min
from pipeline.kit import Kit
from pipeline.locate.correlate import MaskedPattern, masked_pattern
from pipeline.locate.geometry import Axis
from pipeline.locate.structure import blur_sigma, disk, edge_strength


@dataclass(frozen=True)
class Pass:
    """One alignment pass: the template's structure at one resolution, and its patches."""

    ppm: float  # frame pixels per mm
    size: tuple[int, int]  # frame (width, height)
    frame_to_template: np.ndarray  # 3x3
    blur: float  # Gaussian sigma (frame px) applied to both structures
    structure: np.ndarray  # float32: the template's structure in the frame
    half: int  # patch half-size, px
    radius: int  # search radius, px
    centres: np.ndarray  # (N, 2) int: patch centres, frame px
    masked: list[MaskedPattern | None]  # per patch: itself over where it is known; None: all is
    crops: np.ndarray  # (N, 4): x0, y0, x1, y1 of the part of each patch compared
    near_window: np.ndarray  # (N,) bool: patch lies on the window's rim
    normals: np.ndarray  # (N, 2): unit normal of edge patches; zero for corner patches
    trust: np.ndarray  # (N,) weight of each patch in the fit
    mask: np.ndarray  # uint8: where structure is compared for the score
    window_mask: np.ndarray  # uint8: the window's rim
    outline_mask: np.ndarray  # uint8: a band along the cassette's outline
    bright: np.ndarray  # bool: the face's brightest material, which clips first in bright light


@dataclass(frozen=True)
class KitModel:
    aspect: float  # long / short side of the cassette outline
    outline: np.ndarray  # (4, 2) template px: corners of the outline's rectangle
    passes: dict[tuple[float, float, float], Pass]
    keypoints: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    profile: list[tuple[Axis, np.ndarray, float]] = field(default_factory=list)


_MODELS: OrderedDict[str, KitModel] = OrderedDict()

BRIGHT_SHARE = 0.85
"""Share of the face's brightest level (weakest channel, 95th percentile) from which
template material counts as bright: a white plastic face and white paper differ by a few
per cent, print (even pale tints, about 0.7) by more."""


def sample_template(
    template: np.ndarray, frame_to_template: np.ndarray, size: tuple[int, int], scale: float
) -> np.ndarray:
    """Resample the RGBA template into a frame, anti-aliased when sampling down.

    Parameters
    ----------
    template : ndarray, shape (H, W, 4)
        The kit's template, uint8 RGBA.
    frame_to_template : ndarray, shape (3, 3)
        Maps a frame pixel to a template pixel (affine).
    size : tuple of int
        The frame's ``(width, height)``.
    scale : float
        Frame pixels per template pixel; below 1 the template is blurred first.

    Returns
    -------
    ndarray, shape (height, width, 4)
        float32; outside the template everything, alpha included, is 0.

    Examples
    --------
    >>> t = np.full((20, 10, 4), 255, np.uint8)
    >>> half = np.array([[2.0, 0, 0], [0, 2.0, 0], [0, 0, 1]])
    >>> sample_template(t, half, (5, 10), 0.5).shape
    (10, 5, 4)
    """
    image: np.ndarray = template.astype(np.float32)
    if scale < 1:  # anti-alias before sampling down
        image = cv2.GaussianBlur(image, (0, 0), 0.45 / scale)
    return cv2.warpAffine(
        image,
        frame_to_template[:2],
        size,
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0, 0),
    )


def kit_model(kit: Kit) -> KitModel:
    """The kit's prepared template, built once per template content (:attr:`Kit.content_key`)."""
    key = kit.content_key
    cached = _MODELS.get(key)
    if cached is not None:
        _MODELS.move_to_end(key)
        return cached
    alpha = kit.template[:, :, 3]
    face = (alpha > 127).astype(np.uint8)
    contours, _ = cv2.findContours(face, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if contours:
        rect = cv2.minAreaRect(np.vstack(contours))
        outline = cv2.boxPoints(rect).astype(float)
    else:  # no alpha: the whole image is the face
        h, w = alpha.shape
        outline = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], float)
    sides = [
        float(np.linalg.norm(outline[1] - outline[0])),
        float(np.linalg.norm(outline[2] - outline[1])),
    ]
    model = KitModel(
        aspect=float(max(sides) / max(min(sides), 1e-6)),
        outline=outline,
        passes={},
    )
    _MODELS[key] = model
    while len(_MODELS) > 16:
        _MODELS.popitem(last=False)
    return model


def prepared_pass(kit: Kit, ppm: float, patch_mm: float, radius_mm: float) -> Pass:
    model = kit_model(kit)
    key = (ppm, patch_mm, radius_mm)
    cached = model.passes.get(key)
    if cached is not None:
        return cached
    s = ppm / kit.px_per_mm  # frame px per template px
    half = max(3, round(patch_mm * ppm / 2))
    radius = max(2, round(radius_mm * ppm))
    m = round(half + radius + 1.5 * ppm)  # room to search around patches on the outline
    th, tw = kit.template.shape[:2]
    size = (round(tw * s + 2 * m), round(th * s + 2 * m))
    # Frame pixel (u, v) -> template pixel ((u - m) / s, (v - m) / s).
    frame_to_template = np.array([[1 / s, 0, -m / s], [0, 1 / s, -m / s], [0, 0, 1.0]])
    framed = sample_template(kit.template, frame_to_template, size, s)
    alpha = framed[:, :, 3] / 255.0
    blur = blur_sigma(ppm)
    # The face on black: its outline is an edge, as it is against any background.
    structure = cv2.GaussianBlur(edge_strength(framed[:, :, :3] * alpha[:, :, None]), (0, 0), blur)

    face = (alpha > 0.5).astype(np.uint8)
    # Overexposure clips the brightest material first: where the photo is clipped, only
    # a face as bright as BRIGHT_SHARE of the face's brightest is what the template predicts.
    weakest = channel_min(framed[:, :, :3]).astype(np.float32)
    top = float(np.percentile(weakest[face > 0], 95)) if face.any() else 255.0
    bright = (face > 0) & (weakest >= BRIGHT_SHARE * top)
    mask = cv2.dilate(face, disk(1.0 * ppm)) > 0
    outline_mask = mask & (cv2.erode(face, disk(1.0 * ppm)) == 0)

    def frame_rect(x: float, y: float, w: float, h: float, grow_mm: float) -> tuple[int, ...]:
        g = grow_mm * ppm
        return (
            max(round(x * s + m - g), 0),
            max(round(y * s + m - g), 0),
            round((x + w) * s + m + g),
            round((y + h) * s + m + g),
        )

    win = kit.window
    window_mask = np.zeros_like(mask)
    x0, y0, x1, y1 = frame_rect(win.x, win.y, win.w, win.h, 1.0)
    window_mask[y0:y1, x0:x1] = True
    # Neither the unit's code nor the membrane (its lines, its recess shading) is structure the
    # template predicts: leave them out of the score, and out of the patches, widened by the
    # reach of the gradient and blur.
    reach = 0.5 + (2 * blur + 1) / ppm
    code = np.zeros_like(mask)
    unknown = np.zeros_like(mask)
    if kit.code_box is not None:
        c = kit.code_box
        x0, y0, x1, y1 = frame_rect(c.x, c.y, c.size, c.size, 0.5)
        code[y0:y1, x0:x1] = True
        x0, y0, x1, y1 = frame_rect(c.x, c.y, c.size, c.size, reach)
        unknown[y0:y1, x0:x1] = True
    x0, y0, x1, y1 = frame_rect(win.x, win.y, win.w, win.h, -0.6)
    mask[y0:y1, x0:x1] = False
    mask &= ~code
    window_mask &= mask
    outline_mask &= mask
    x0, y0, x1, y1 = frame_rect(win.x, win.y, win.w, win.h, reach - 0.5)
    unknown[y0:y1, x0:x1] = True

    # Patches centred on corner-like structure outside the unknown regions; a patch that
    # overlaps one is compared with those pixels masked out.
    allowed = (cv2.dilate(face, disk(0.5 * ppm)) > 0) & ~unknown
    # Outside the outline lies the cassette's side wall, its shadow and the table: patches on
    # the outline see only the face and the edge itself, or they lock on the wall's far edge.
    exterior = cv2.dilate(face, disk(2 * blur + 1)) == 0
    hidden = unknown | exterior
    border = np.zeros_like(allowed)
    border[m:-m, m:-m] = True
    allowed &= border
    found = cv2.goodFeaturesToTrack(
        structure,
        maxCorners=32,
        qualityLevel=0.03,
        minDistance=max(3.0, 0.8 * half),
        mask=allowed.astype(np.uint8),
        blockSize=max(3, (half // 2) * 2 + 1),
    )
    centres_list = []
    patch_masks: list[np.ndarray | None] = []
    for x, y in [] if found is None else np.round(found[:, 0]).astype(int):
        known = 1 - hidden[y - half : y + half + 1, x - half : x + half + 1]
        if known.mean() < 0.4:
            continue
        centres_list.append((x, y))
        patch_masks.append(known)
    normals_list = [(0.0, 0.0)] * len(centres_list)
    for x, y, normal in _edge_points(framed, structure, allowed, centres_list, half):
        known = 1 - hidden[y - half : y + half + 1, x - half : x + half + 1]
        if known.mean() < 0.4:
            continue
        centres_list.append((x, y))
        patch_masks.append(known)
        normals_list.append(normal)
    centres = np.array(centres_list, int).reshape(-1, 2)
    # A patch cut by a straight hidden border (the outline's outside, mostly) is compared on
    # its known rectangle without a mask: masked correlation costs about twice as much.
    crops = np.tile([0, 0, 2 * half + 1, 2 * half + 1], (len(patch_masks), 1))
    for k, known in enumerate(patch_masks):
        if known is None or known.all():
            patch_masks[k] = None
            continue
        ys, xs = np.nonzero(known)
        x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
        if known[y0:y1, x0:x1].mean() > 0.97 and (x1 - x0) * (y1 - y0) >= 0.3 * known.size:
            crops[k] = (x0, y0, x1, y1)
            patch_masks[k] = None
        else:
            patch_masks[k] = known.astype(np.float32)
    # A masked patch compared by plain correlations (masked_zncc): prepared here, once.
    masked = [
        None
        if known is None
        else masked_pattern(structure[y - half : y + half + 1, x - half : x + half + 1], known)
        for (x, y), known in zip(centres_list, patch_masks, strict=True)
    ]
    # Patches on the outline share it with the side wall and the table: trusted half as much.
    rim = (cv2.dilate(face, disk(2 * blur + 1)) > 0) & (cv2.erode(face, disk(2 * blur + 1)) == 0)
    on_outline = rim[centres[:, 1], centres[:, 0]] > 0 if len(centres) else np.zeros(0, bool)
    near_window = (
        window_mask[centres[:, 1], centres[:, 0]] > 0 if len(centres) else np.zeros(0, bool)
    )
    level = Pass(
        ppm=ppm,
        size=size,
        frame_to_template=frame_to_template,
        blur=blur,
        structure=structure,
        half=half,
        radius=radius,
        centres=centres,
        masked=masked,
        crops=crops,
        near_window=near_window,
        normals=np.array(normals_list, float).reshape(-1, 2),
        trust=np.where(on_outline, 0.5, 1.0),
        mask=mask,
        window_mask=window_mask,
        outline_mask=outline_mask,
        bright=bright,
    )
    model.passes[key] = level
    return level


def _edge_points(
    framed: np.ndarray,
    structure: np.ndarray,
    allowed: np.ndarray,
    corners: list[tuple[int, int]],
    half: int,
) -> list[tuple[int, int, tuple[float, float]]]:
    """Points on strong straight edges (the outline's sides, label and rim edges) and their
    normals. A patch there fixes the position across the edge only; on a thin strip the long
    sides are the only thing that fixes it at all.
    """
    face = framed[:, :, :3] * (framed[:, :, 3:4] / 255.0)
    gx = cv2.Sobel(face, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(face, cv2.CV_32F, 0, 1, ksize=3)
    # Structure tensor summed over the colour channels, smoothed over about a patch.
    sigma = max(1.0, half / 2)
    jxx = cv2.GaussianBlur((gx * gx).sum(axis=2), (0, 0), sigma)
    jyy = cv2.GaussianBlur((gy * gy).sum(axis=2), (0, 0), sigma)
    jxy = cv2.GaussianBlur((gx * gy).sum(axis=2), (0, 0), sigma)
    spread = np.sqrt((jxx - jyy) ** 2 + 4 * jxy**2)
    coherence = spread / (jxx + jyy + 1e-6)  # 1 on a straight edge, 0 at corners and flats
    angle = 0.5 * np.arctan2(2 * jxy, jxx - jyy)
    strength = structure * (coherence > 0.8) * allowed
    if not strength.any():
        return []
    ys, xs = np.nonzero(strength > 0.25 * float(np.percentile(strength[strength > 0], 99)))
    order = np.argsort(-strength[ys, xs])
    spacing = max(2, round(3.0 * half))
    blocked = np.zeros(structure.shape, np.uint8)
    for x, y in corners:
        cv2.circle(blocked, (int(x), int(y)), spacing, 1, -1)
    found: list[tuple[int, int, tuple[float, float]]] = []
    for k in order:
        x, y = int(xs[k]), int(ys[k])
        if blocked[y, x]:
            continue
        cv2.circle(blocked, (x, y), spacing, 1, -1)
        a = float(angle[y, x])
        found.append((x, y, (math.cos(a), math.sin(a))))
        if len(found) >= 32:
            break
    return found
