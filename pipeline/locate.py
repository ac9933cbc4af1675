"""Find the test in a photo: a homography from the kit's template to the photo.

Two ways in, one way to finish:

* **code path** -- the unit's code (QR) is decoded with zxing-cpp; its four
  corners, matched to the kit's ``code_box``, give a first homography.
* **template path** -- for kits without a code box and photos whose code
  cannot be read (blur, glare): candidate cassette outlines (smooth regions and
  pairs of long parallel edges of the right proportions) are tried in every
  orientation and scored against the template's structure.

Both finish by aligning the template's *structure* (gradient magnitude, so the
cassette's colour does not matter) to the photo with ECC (``cv2.findTransformECC``)
coarse to fine, with the code box and the window's membrane masked out because
they differ from unit to unit. The aligned agreement is the location's score;
a poor agreement where an object was found means a different product.

All coordinates are pixel centres on integers (OpenCV's convention).
"""

from __future__ import annotations

import itertools
import math
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import cv2
import numpy as np
import zxingcpp

from pipeline.kit import Kit
from pipeline.quality import photo_problem
from pipeline.reading import QualityIssue

_QR = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)

NO_CASSETTE = QualityIssue(
    "no_cassette",
    "We could not find the test in the photo. Place the whole test flat in the middle of "
    "the picture, close enough that it fills most of it, and try again.",
)
WRONG_PRODUCT = QualityIssue(
    "wrong_product",
    "This photo shows a different test than the one you registered. Please take a photo "
    "of the test you registered, or register this test first.",
)

MIN_SCORE = 0.7
"""Aligned structural agreement below which the object is not the kit's product."""
MIN_WINDOW_SCORE = 0.5
"""Agreement around the result window below which the window is not where the kit says."""
CODE_SCORE = 0.85
"""Placed from the unit's own code and matching this well elsewhere, the kit is the right one."""
CODE_WINDOW_SCORE = 0.3
"""Window agreement needed then: strong lines crossing the rim band lower it on many-line kits."""

_MARGIN_MM = 3.0  # frame margin around the template, so the outline's outside is seen
_COARSE_PPM = 2.0  # px/mm of the coarse alignment level
_FINE_PPM = 6.0  # px/mm of the finest alignment level (the photo may cap it lower)
_SEARCH_SIDES = (320, 640)  # px: image sizes for the template path's candidate regions
_LINE_SIDE = 480  # px: image size for line segment detection (1.5 times that for strips)
_MAX_PAIRS = 40  # edge pairs tried as outlines
_JUDGE_PPM = 2.5  # px/mm a view needs before it may be called a different product
_PROFILE_PPM = 3.0  # samples per mm along the long axis for profile matching
_KEYPOINT_SIDE = 640  # px: image size for keypoint matching


@dataclass(frozen=True)
class CodeSighting:
    """A code symbol found in an image.

    Attributes
    ----------
    text : str
        The decoded text.
    corners : ndarray
        (4, 2) image pixels of the symbol's outer corners, ordered top-left,
        top-right, bottom-right, bottom-left as the symbol reads upright.
    """

    text: str
    corners: np.ndarray


@dataclass(frozen=True)
class Location:
    """Where the test is in the image.

    Attributes
    ----------
    homography : ndarray
        3x3 map from template pixels to pixels of the image given to :func:`locate`.
    method : str
        ``"code"`` when found from the unit's code, ``"template"`` otherwise.
    code : str or None
        The unit's code text, when it could be read.
    score : float
        0..1, agreement of the photo's structure with the template's after alignment.
    window_score : float
        0..1, the same around the result window only.
    metrics : dict
        Further numbers for explanations and calibration.
    """

    homography: np.ndarray
    method: str
    code: str | None
    score: float
    window_score: float
    metrics: dict[str, float] = field(default_factory=dict)


# --------------------------------------------------------------------------- codes


def find_codes(image: np.ndarray, *, thorough: bool = True) -> list[CodeSighting]:
    """Decode the QR codes in an image.

    Parameters
    ----------
    image : ndarray
        BGR or grey ``uint8`` image.
    thorough : bool
        When the plain pass finds nothing, retry on a contrast-stretched,
        sharpened copy and, for small images, on a copy upscaled twice.

    Returns
    -------
    list of CodeSighting
        Possibly empty.

    Examples
    --------
    >>> import segno, numpy as np
    >>> qr = np.array(segno.make_qr("UNIT-0001").matrix, np.uint8)
    >>> img = np.kron(1 - qr, np.full((6, 6), 255, np.uint8))
    >>> img = np.pad(img, 24, constant_values=255)
    >>> [(c.text, c.corners[0].round().tolist()) for c in find_codes(img)]
    [('UNIT-0001', [24.0, 24.0])]
    """
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    found = _read_codes(grey, 1.0)
    if found or not thorough:
        return found
    # Low contrast or soft focus: stretch the contrast locally and sharpen.
    clahe = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(8, 8)).apply(grey)
    soft = cv2.GaussianBlur(clahe, (0, 0), 2.0)
    sharp = cv2.addWeighted(clahe, 2.0, soft, -1.0, 0)
    found = _read_codes(sharp, 1.0)
    if found or max(grey.shape) > 2000:
        return found
    # Small symbols (few pixels per module): more pixels help the binarizer.
    big = cv2.resize(sharp, None, fx=2.0, fy=2.0, interpolation=cv2.INTER_CUBIC)
    return _read_codes(big, 2.0)


def _read_codes(grey: np.ndarray, upscale: float) -> list[CodeSighting]:
    results = zxingcpp.read_barcodes(grey, formats=_QR)
    sightings = []
    for r in results:
        if not r.valid or not r.text:
            continue
        p = r.position
        pts = [p.top_left, p.top_right, p.bottom_right, p.bottom_left]
        # zxing reports pixel-edge coordinates; shift to pixel centres.
        corners = np.array([[q.x, q.y] for q in pts], float) - 0.5
        corners = (corners + 0.5) / upscale - 0.5
        sightings.append(CodeSighting(r.text, corners))
    return sightings


def code_homography(kit: Kit, sighting: CodeSighting) -> np.ndarray:
    """Map from template pixels to image pixels implied by a code's corners alone.

    An affine fit: four corners of a small symbol fix perspective too poorly to
    extrapolate it across the cassette, so :func:`refine` estimates perspective
    on the cassette's structure.

    Examples
    --------
    >>> from pipeline.kit import load_kit
    >>> kit = load_kit("datasets/kits/demo/kit.json")
    >>> box = kit.code_box
    >>> corners = np.array([[0, 0], [135, 0], [135, 135], [0, 135]], float) + 7
    >>> h = code_homography(kit, CodeSighting("x", corners))
    >>> (h @ [box.x, box.y, 1.0]).round(3).tolist()
    [7.0, 7.0, 1.0]
    """
    box = kit.code_box
    if box is None:
        raise ValueError(f"kit {kit.product_code} has no code box")
    x0, y0, x1, y1 = box.x, box.y, box.x + box.size, box.y + box.size
    src = np.array([[x0, y0, 1], [x1, y0, 1], [x1, y1, 1], [x0, y1, 1]], float)
    affine, *_ = np.linalg.lstsq(src, np.asarray(sighting.corners, float), rcond=None)
    return np.vstack([affine.T, [0.0, 0.0, 1.0]])


# --------------------------------------------------------------------------- kit model


@dataclass(frozen=True)
class _Pass:
    """One alignment pass: the template's structure at one resolution, and its patches."""

    ppm: float  # frame pixels per mm
    size: tuple[int, int]  # frame (width, height)
    frame_to_template: np.ndarray  # 3x3
    blur: float  # Gaussian sigma (frame px) applied to both structures
    structure: np.ndarray  # float32: the template's structure in the frame
    half: int  # patch half-size, px
    radius: int  # search radius, px
    centres: np.ndarray  # (N, 2) int: patch centres, frame px
    patch_masks: list[np.ndarray | None]  # per patch: where it is known, or None (everywhere)
    crops: np.ndarray  # (N, 4): x0, y0, x1, y1 of the part of each patch compared
    near_window: np.ndarray  # (N,) bool: patch lies on the window's rim
    normals: np.ndarray  # (N, 2): unit normal of edge patches; zero for corner patches
    trust: np.ndarray  # (N,) weight of each patch in the fit
    mask: np.ndarray  # uint8: where structure is compared for the score
    window_mask: np.ndarray  # uint8: the window's rim
    outline_mask: np.ndarray  # uint8: a band along the cassette's outline


@dataclass(frozen=True)
class _Axis:
    """A rectangle's centre, long axis, normal (axis turned +90 degrees) and size in px."""

    centre: np.ndarray
    axis: np.ndarray
    normal: np.ndarray
    length: float
    width: float

    @classmethod
    def of(cls, quad: np.ndarray) -> _Axis:
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


@dataclass(frozen=True)
class _KitModel:
    template: np.ndarray  # kept so the cache key (its id) stays valid
    aspect: float  # long / short side of the cassette outline
    outline: np.ndarray  # (4, 2) template px: corners of the outline's rectangle
    passes: dict[tuple[float, float, float], _Pass]
    keypoints: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    profile: list[tuple[_Axis, np.ndarray, float]] = field(default_factory=list)


_MODELS: OrderedDict[tuple[int, str], _KitModel] = OrderedDict()


def _model(kit: Kit) -> _KitModel:
    key = (id(kit.template), kit.product_code)
    cached = _MODELS.get(key)
    if cached is not None and cached.template is kit.template:
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
    model = _KitModel(
        template=kit.template,
        aspect=float(max(sides) / max(min(sides), 1e-6)),
        outline=outline,
        passes={},
    )
    _MODELS[key] = model
    while len(_MODELS) > 16:
        _MODELS.popitem(last=False)
    return model


def _pass(kit: Kit, ppm: float, patch_mm: float, radius_mm: float) -> _Pass:
    model = _model(kit)
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
    template: np.ndarray = kit.template.astype(np.float32)
    if s < 1:  # anti-alias before sampling down
        template = cv2.GaussianBlur(template, (0, 0), 0.45 / s)
    framed = cv2.warpAffine(
        template,
        frame_to_template[:2],
        size,
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0, 0),
    )
    alpha = framed[:, :, 3] / 255.0
    blur = _blur_sigma(ppm)
    # The face on black: its outline is an edge, as it is against any background.
    structure = cv2.GaussianBlur(_structure(framed[:, :, :3] * alpha[:, :, None]), (0, 0), blur)

    face = (alpha > 0.5).astype(np.uint8)
    mask = cv2.dilate(face, _disk(1.0 * ppm)) > 0
    outline_mask = mask & (cv2.erode(face, _disk(1.0 * ppm)) == 0)

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
    allowed = (cv2.dilate(face, _disk(0.5 * ppm)) > 0) & ~unknown
    # Outside the outline lies the cassette's side wall, its shadow and the table: patches on
    # the outline see only the face and the edge itself, or they lock on the wall's far edge.
    exterior = cv2.dilate(face, _disk(2 * blur + 1)) == 0
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
    # its known rectangle without a mask: masked correlation costs four times as much.
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
    # Patches on the outline share it with the side wall and the table: trusted half as much.
    rim = (cv2.dilate(face, _disk(2 * blur + 1)) > 0) & (cv2.erode(face, _disk(2 * blur + 1)) == 0)
    on_outline = rim[centres[:, 1], centres[:, 0]] > 0 if len(centres) else np.zeros(0, bool)
    near_window = (
        window_mask[centres[:, 1], centres[:, 0]] > 0 if len(centres) else np.zeros(0, bool)
    )
    level = _Pass(
        ppm=ppm,
        size=size,
        frame_to_template=frame_to_template,
        blur=blur,
        structure=structure,
        half=half,
        radius=radius,
        centres=centres,
        patch_masks=patch_masks,
        crops=crops,
        near_window=near_window,
        normals=np.array(normals_list, float).reshape(-1, 2),
        trust=np.where(on_outline, 0.5, 1.0),
        mask=mask,
        window_mask=window_mask,
        outline_mask=outline_mask,
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


def _blur_sigma(ppm: float) -> float:
    # About 0.3 mm of blur: robust to JPEG noise and texture, still sharp on the rim.
    return max(0.7, 0.3 * ppm)


def _disk(radius: float) -> np.ndarray:
    r = max(1, round(radius))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def _structure(bgr: np.ndarray) -> np.ndarray:
    """Colour-blind edge strength: the strongest channel gradient, square-root compressed."""
    img = bgr.astype(np.float32, copy=False)
    gx = cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(img, cv2.CV_32F, 0, 1, ksize=3)
    mag = cv2.magnitude(gx, gy) if img.ndim == 2 else _channel_max(cv2.magnitude(gx, gy))
    return cv2.sqrt(mag)


def _channel_max(image: np.ndarray) -> np.ndarray:
    channels = cv2.split(image)
    out = channels[0]
    for c in channels[1:]:
        out = cv2.max(out, c)
    return out


# --------------------------------------------------------------------------- alignment


class _Pyramid:
    """The photo at halving resolutions, so each pass samples a level near its own scale."""

    def __init__(self, image: np.ndarray) -> None:
        self.levels = [image]

    def level(self, ratio: float) -> int:
        """The coarsest level with at least one pixel per frame pixel, built on demand."""
        k = 0
        while ratio / 2 ** (k + 1) >= 1.0 and min(self.levels[k].shape[:2]) > 64:
            k += 1
            if k == len(self.levels):
                self.levels.append(cv2.pyrDown(self.levels[-1]))
        return k

    def warp(self, homography: np.ndarray, level: _Pass) -> tuple[np.ndarray, np.ndarray]:
        """The photo seen in a pass's frame through ``homography`` (template -> photo), and
        where that view is real: inside the picture and not clipped white."""
        m = homography @ level.frame_to_template
        ratio = _local_scale(m, (level.size[0] / 2, level.size[1] / 2))
        k = self.level(ratio)
        d = np.diag([0.5**k, 0.5**k, 1.0])
        image = self.levels[k]
        # Outside the picture reads as pure black: one warp gives the view and its extent.
        view = cv2.warpPerspective(
            image,
            d @ m,
            level.size,
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=(0, 0, 0),
        )
        if view.ndim == 3:
            channels = cv2.split(view)
            high = cv2.max(cv2.max(channels[0], channels[1]), channels[2])
            low = cv2.min(cv2.min(channels[0], channels[1]), channels[2])
        else:
            high = low = view
        return view, (high > 0) & (low < 250)


def _local_scale(m: np.ndarray, at: tuple[float, float]) -> float:
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


def _zncc(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    sel = mask > 0
    if sel.sum() < 10:
        return 0.0
    x = a[sel].astype(np.float64)
    y = b[sel].astype(np.float64)
    x -= x.mean()
    y -= y.mean()
    den = math.sqrt(float((x * x).sum() * (y * y).sum()))
    return float((x * y).sum() / den) if den > 0 else 0.0


@dataclass
class _Match:
    homography: np.ndarray
    matched: int = 0
    inliers: int = 0
    window_inliers: int = 0
    patches: int = 0
    scores: dict[str, float] = field(default_factory=dict)


def _match(
    level: _Pass, pyramid: _Pyramid, homography: np.ndarray, motion: str = "homography"
) -> _Match:
    """One pass: find each template patch near where ``homography`` puts it, fit a homography.

    Patches are compared by normalised cross-correlation of structure, so colour and
    contrast do not matter; RANSAC drops patches that matched clutter or the side of
    the cassette.
    """
    view, real = pyramid.warp(homography, level)
    photo = cv2.GaussianBlur(_structure(view), (0, 0), level.blur)
    tpl = level.structure
    half, r = level.half, level.radius
    src, dst, normal, trust, on_window = [], [], [], [], []
    for (cx, cy), near, known, crop, n, t in zip(
        level.centres,
        level.near_window,
        level.patch_masks,
        level.crops,
        level.normals,
        level.trust,
        strict=True,
    ):
        if not (real[cy - half, cx - half] and real[cy + half, cx + half]):
            continue  # beyond the picture's edge or under glare: nothing to match
        x0, y0, x1, y1 = crop
        top, left = cy - half + y0, cx - half + x0  # patch origin in the frame
        patch = tpl[top : cy - half + y1, left : cx - half + x1]
        area = photo[top - r : cy - half + y1 + r, left - r : cx - half + x1 + r]
        if known is None:
            res = cv2.matchTemplate(area, patch, cv2.TM_CCOEFF_NORMED)
        else:
            res = cv2.matchTemplate(area, patch, cv2.TM_CCOEFF_NORMED, mask=known)
        res[~np.isfinite(res)] = -1.0  # flat masked windows give no correlation
        _, peak, _, (px, py) = cv2.minMaxLoc(res)
        if not peak > 0.5:
            continue
        dx, dy = _subpixel(res, px, py)
        src.append((cx, cy))
        dst.append((cx + px + dx - r, cy + py + dy - r))
        normal.append(n)
        trust.append(t)
        on_window.append(near)
    result = _Match(homography, matched=len(src), patches=len(level.centres))
    fitted = _fit(
        np.array(src, float).reshape(-1, 2),
        np.array(dst, float).reshape(-1, 2),
        np.array(normal, float).reshape(-1, 2),
        np.array(trust, float),
        motion,
        max(1.0, 0.15 * level.ppm),  # within ~0.15 mm of the consensus
        level.size,
    )
    if fitted is None:
        return result
    correction, keep = fitted
    a = level.frame_to_template
    refined = homography @ a @ correction @ np.linalg.inv(a)
    result.homography = refined / refined[2, 2]
    result.inliers = int(keep.sum())
    result.window_inliers = int((keep & np.array(on_window, bool)).sum())
    return result


def _fit(
    src: np.ndarray,
    dst: np.ndarray,
    normals: np.ndarray,
    trust: np.ndarray,
    motion: str,
    threshold: float,
    size: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray] | None:
    """Frame -> frame correction from matched patches: RANSAC on the corner patches, then
    robust Gauss-Newton on corners (both coordinates) and edges (across the edge only).

    Returns the 3x3 correction and which patches agree with it, or None.
    """
    edge = np.abs(normals).sum(axis=1) > 0
    corner = ~edge
    # Normalised coordinates keep the 8 parameters on comparable scales.
    sc = max(size) / 2
    c = np.array([(size[0] - 1) / 2, (size[1] - 1) / 2])
    u, v = (src - c) / sc, (dst - c) / sc
    tol = threshold / sc
    params = 8 if motion == "homography" else 6
    h = np.eye(3)
    if corner.sum() >= 5:
        if motion == "homography":
            start, _ = cv2.findHomography(
                u[corner].astype(np.float32),
                v[corner].astype(np.float32),
                cv2.RANSAC,
                tol,
                maxIters=400,
            )
        else:
            affine, _ = cv2.estimateAffine2D(
                u[corner].astype(np.float32),
                v[corner].astype(np.float32),
                method=cv2.RANSAC,
                ransacReprojThreshold=tol,
                maxIters=400,
            )
            start = None if affine is None else np.vstack([affine, [0.0, 0.0, 1.0]])
        if start is not None:
            h = start / start[2, 2]
    elif len(src) < params:
        return None
    for _ in range(6):
        w = h[2, 0] * u[:, 0] + h[2, 1] * u[:, 1] + 1.0
        x = (h[0, 0] * u[:, 0] + h[0, 1] * u[:, 1] + h[0, 2]) / w
        y = (h[1, 0] * u[:, 0] + h[1, 1] * u[:, 1] + h[1, 2]) / w
        ex, ey = x - v[:, 0], y - v[:, 1]
        zero = np.zeros_like(w)
        jx = np.stack(
            [u[:, 0] / w, u[:, 1] / w, 1 / w, zero, zero, zero, -u[:, 0] * x / w, -u[:, 1] * x / w],
            axis=1,
        )[:, :params]
        jy = np.stack(
            [zero, zero, zero, u[:, 0] / w, u[:, 1] / w, 1 / w, -u[:, 0] * y / w, -u[:, 1] * y / w],
            axis=1,
        )[:, :params]
        # Corners: two rows each; edges: one row, the residual across the edge.
        rows = np.vstack(
            [jx[corner], jy[corner], normals[edge, :1] * jx[edge] + normals[edge, 1:] * jy[edge]]
        )
        res = np.concatenate(
            [ex[corner], ey[corner], normals[edge, 0] * ex[edge] + normals[edge, 1] * ey[edge]]
        )
        # Tukey weights: patches far off (clutter, the cassette's side wall) count for nothing.
        mag = np.abs(res)
        cut = 3 * tol
        wts = np.where(mag < cut, (1 - (mag / cut) ** 2) ** 2, 0.0)
        wts *= np.concatenate([trust[corner], trust[corner], trust[edge]])
        if (wts > 0).sum() < params + 1:
            return None
        jw = rows * wts[:, None]
        hess = jw.T @ rows
        step = np.linalg.solve(hess + 1e-6 * np.trace(hess) * np.eye(params), -jw.T @ res)
        flat = np.zeros(8)
        flat[:params] = step
        h = h + np.array(
            [[flat[0], flat[1], flat[2]], [flat[3], flat[4], flat[5]], [flat[6], flat[7], 0.0]]
        )
        if np.abs(step).max() < 1e-6:
            break
    w = h[2, 0] * u[:, 0] + h[2, 1] * u[:, 1] + 1.0
    x = (h[0, 0] * u[:, 0] + h[0, 1] * u[:, 1] + h[0, 2]) / w
    y = (h[1, 0] * u[:, 0] + h[1, 1] * u[:, 1] + h[1, 2]) / w
    ex, ey = x - v[:, 0], y - v[:, 1]
    err = np.where(edge, np.abs(normals[:, 0] * ex + normals[:, 1] * ey), np.hypot(ex, ey))
    keep = err < 2 * tol
    if keep[corner].sum() + 0.5 * keep[edge].sum() < 5:
        return None
    norm = np.array([[1 / sc, 0, -c[0] / sc], [0, 1 / sc, -c[1] / sc], [0, 0, 1.0]])
    return np.linalg.inv(norm) @ h @ norm, keep


def _subpixel(res: np.ndarray, x: int, y: int) -> tuple[float, float]:
    """Parabola vertex through the correlation peak and its neighbours."""

    def vertex(a: float, b: float, c: float) -> float:
        den = a - 2 * b + c
        if not den < 0:  # also false for NaN
            return 0.0
        return min(0.5, max(-0.5, 0.5 * (a - c) / den))

    h, w = res.shape
    dx = vertex(*map(float, res[y, x - 1 : x + 2])) if 0 < x < w - 1 else 0.0
    dy = vertex(*map(float, res[y - 1 : y + 2, x])) if 0 < y < h - 1 else 0.0
    return dx, dy


def _scores(level: _Pass, pyramid: _Pyramid, homography: np.ndarray) -> dict[str, float]:
    view, real = pyramid.warp(homography, level)
    photo = cv2.GaussianBlur(_structure(view), (0, 0), level.blur)
    # Compare only where the photo shows something: not beyond its edge, not under glare.
    real = cv2.erode(real.astype(np.uint8), _disk(2 * level.blur + 1)) > 0

    def agreement(where: np.ndarray) -> float:
        seen = where & real
        if seen.sum() < 0.25 * where.sum() or seen.sum() < 10:
            return math.nan  # too little of it in view to judge
        return _zncc(level.structure, photo, seen)

    return {
        "score": agreement(level.mask),
        "window_score": agreement(level.window_mask),
        "outline_score": agreement(level.outline_mask),
        "seen": float((level.mask & real).sum() / max(1, level.mask.sum())),
    }


def _photo_ppm(kit: Kit, homography: np.ndarray) -> float:
    """Photo px per mm at the template's centre."""
    th, tw = kit.template.shape[:2]
    return _local_scale(homography, (tw / 2, th / 2)) * kit.px_per_mm


def _schedule(photo_ppm: float, coarse: bool) -> list[tuple[float, float, float, str]]:
    """(px/mm, patch mm, search radius mm, motion) of each pass, coarse to fine.

    The coarse pass fits an affine map: its few, blurry patches cannot pin down
    perspective.
    """
    # Whole px/mm steps: each step's template structure and patches are built once per kit.
    fine = float(np.clip(round(photo_ppm), _COARSE_PPM, _FINE_PPM))
    mid = float(np.clip(round(photo_ppm), _COARSE_PPM, 4.0))
    passes = [(_COARSE_PPM, 8.0, 6.0, "affine")] if coarse else []
    passes.append((mid, 5.0, 2.5, "homography"))
    passes.append((fine, 4.0, 1.0, "homography"))
    return passes


def refine(
    image: np.ndarray,
    kit: Kit,
    homography: np.ndarray,
    *,
    coarse: bool = True,
    pyramid: _Pyramid | None = None,
) -> tuple[np.ndarray, dict[str, float]]:
    """Align the template's structure to the photo, starting from ``homography``.

    Parameters
    ----------
    image : ndarray
        BGR photo.
    kit : Kit
    homography : ndarray
        Initial 3x3 map from template pixels to photo pixels, good to about
        5 mm (``coarse=True``) or 2 mm (``coarse=False``).
    coarse : bool
        Start with a coarse pass that corrects larger errors.

    Returns
    -------
    homography : ndarray
        The refined map.
    metrics : dict
        ``score`` (structural agreement, ZNCC, 0..1 for a match), ``window_score``,
        ``outline_score``, and the patch counts of the last pass (``patches``,
        ``matched``, ``inliers``, ``window_inliers``).

    Examples
    --------
    >>> from pipeline.kit import load_kit
    >>> kit = load_kit("datasets/kits/demo/kit.json")
    >>> photo = np.full((700, 500, 3), 90, np.uint8)
    >>> truth = np.array([[0.6, 0.0, 40.0], [0.0, 0.6, 50.0], [0, 0, 1]])
    >>> face = kit.template[:, :, :3]
    >>> photo = cv2.warpPerspective(face, truth, (500, 700), dst=photo,
    ...                             borderMode=cv2.BORDER_TRANSPARENT)
    >>> start = truth @ np.array([[1, 0, 12.0], [0, 1, -9.0], [0, 0, 1]])
    >>> h, metrics = refine(photo, kit, start)
    >>> p = h @ [120, 400, 1.0]
    >>> bool(np.abs(p[:2] / p[2] - (truth @ [120, 400, 1.0])[:2]).max() < 0.5)
    True
    """
    pyramid = pyramid or _Pyramid(image)
    h = np.asarray(homography, float)
    match = _Match(h)
    level = None
    schedule = _schedule(_photo_ppm(kit, h), coarse)
    for ppm, patch_mm, radius_mm, motion in schedule:
        level = _pass(kit, ppm, patch_mm, radius_mm)
        match = _match(level, pyramid, h, motion)
        h = match.homography
    assert level is not None
    metrics = _scores(level, pyramid, h)
    metrics.update(
        patches=float(match.patches),
        matched=float(match.matched),
        inliers=float(match.inliers),
        window_inliers=float(match.window_inliers),
    )
    return h, metrics


# --------------------------------------------------------------------------- template path


def _candidate_boxes(image: np.ndarray, aspect: float) -> list[np.ndarray]:
    """Rectangles (4, 2) in ``image`` px that could be the cassette's outline.

    The face is a region without strong edges inside its outline except its print:
    regions bounded by edges, at a few edge thresholds and two scales (small
    cassettes fragment at the coarse one), whose hull is a filled rectangle of about
    the template's proportions.
    """
    boxes: list[np.ndarray] = []
    h, w = image.shape[:2]
    for side in _SEARCH_SIDES:
        f = min(1.0, side / max(h, w))
        small = cv2.resize(image, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        boxes += [box / f for box in _boxes_at(small, aspect)]
        if f == 1.0:
            break
    boxes += _edge_pair_boxes(image, aspect)
    return _dedupe(boxes)


def _boxes_at(small: np.ndarray, aspect: float) -> list[np.ndarray]:
    lab = cv2.cvtColor(cv2.GaussianBlur(small, (3, 3), 0), cv2.COLOR_BGR2Lab).astype(np.float32)
    gx = cv2.Sobel(lab, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(lab, cv2.CV_32F, 0, 1)
    grad = np.sqrt((gx * gx + gy * gy).sum(axis=2))
    top = float(np.percentile(grad, 99))
    area = grad.size
    lo, hi = 0.6 * aspect, 1.5 * aspect
    regions = []
    for frac in (0.08, 0.15, 0.3):
        edges = cv2.dilate((grad > frac * top).astype(np.uint8), np.ones((3, 3), np.uint8))
        regions.append(1 - edges)
    # Blur leaves few edges but keeps the face brighter (or darker) than the table.
    lightness = lab[:, :, 0].astype(np.uint8)
    _, bright = cv2.threshold(lightness, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    regions += [bright, 1 - bright]
    boxes = []
    for region in regions:
        _, labels, stats, _ = cv2.connectedComponentsWithStats(region, connectivity=4)
        for k in np.nonzero(
            (stats[:, cv2.CC_STAT_AREA] > max(60, 0.001 * area))
            & (stats[:, cv2.CC_STAT_AREA] < 0.8 * area)
        )[0]:
            if k == 0:
                continue
            x, y, bw, bh = stats[k, :4]
            comp = (labels[y : y + bh, x : x + bw] == k).astype(np.uint8)
            contours, _ = cv2.findContours(comp, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            hull = cv2.convexHull(np.vstack(contours) + np.array([x, y]))
            (cx, cy), (rw, rh), angle = cv2.minAreaRect(hull)
            if min(rw, rh) < 4:
                continue
            ratio = max(rw, rh) / min(rw, rh)
            fill = cv2.contourArea(hull) / (rw * rh)
            if lo < ratio < hi and fill > 0.8:
                # The region stops one dilation short of the edge.
                boxes.append(cv2.boxPoints(((cx, cy), (rw + 2, rh + 2), angle)))
    return boxes


def _inside_contrast(
    grey: np.ndarray, side_a: np.ndarray, side_b: np.ndarray, axis: np.ndarray, length: np.ndarray
) -> np.ndarray:
    """How different the band between two parallel sides looks from the bands just outside.

    Sampled along the middle of each band: a strip or cassette differs from the table,
    the gap between two ruled lines does not.
    """
    centre = (side_a + side_b) / 2
    across = side_b - centre  # half the width, pointing to side b
    t = np.linspace(-0.4, 0.4, 12)[None, :, None] * (length[:, None, None] * axis[:, None, :])
    inside = centre[:, None, :] + t
    outside = np.concatenate(
        [inside + 1.6 * across[:, None, :], inside - 1.6 * across[:, None, :]], 1
    )

    def sample(points: np.ndarray) -> np.ndarray:
        flat = points.reshape(-1, 2).astype(np.float32)
        got = cv2.remap(
            grey, flat[:, :1], flat[:, 1:], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        return got.reshape(points.shape[:2]).astype(float)

    a, b = sample(inside), sample(outside)
    spread = a.std(axis=1) + b.std(axis=1) + 4.0
    return np.abs(np.median(a, axis=1) - np.median(b, axis=1)) / spread


def _merge_collinear(seg: np.ndarray, tolerance: float) -> np.ndarray:
    """Join line segments that lie on one line (within ``tolerance`` px) with small gaps.

    An edge whose contrast changes along it (a strip's coloured pads, a shadow) comes out
    of the detector in pieces.
    """
    if len(seg) < 2:
        return seg
    d = seg[:, 2:] - seg[:, :2]
    length = np.maximum(np.hypot(d[:, 0], d[:, 1]), 1e-6)
    u = d / length[:, None]
    n = np.stack([-u[:, 1], u[:, 0]], 1)
    # Distance of every segment's end points from every other segment's line, and the gap
    # between them along it.
    rel_a = seg[None, :, :2] - seg[:, None, :2]
    rel_b = seg[None, :, 2:] - seg[:, None, :2]
    off = np.maximum(np.abs((rel_a * n[:, None]).sum(-1)), np.abs((rel_b * n[:, None]).sum(-1)))
    ta, tb = (rel_a * u[:, None]).sum(-1), (rel_b * u[:, None]).sum(-1)
    gap = np.maximum(np.minimum(ta, tb) - length[:, None], -np.maximum(ta, tb))
    parallel = np.abs(u @ u.T) > math.cos(math.radians(3))
    near = parallel & (off < tolerance) & (gap < np.minimum.outer(length, length) + 3)
    groups = _components(near)
    merged = []
    for members in groups:
        if len(members) == 1:
            merged.append(seg[members[0]])
            continue
        main = members[int(np.argmax(length[members]))]
        pts = seg[members].reshape(-1, 2)
        t = (pts - seg[main, :2]) @ u[main]
        a, b = seg[main, :2] + u[main] * t.min(), seg[main, :2] + u[main] * t.max()
        merged.append(np.concatenate([a, b]))
    return np.array(merged)


def _components(adjacent: np.ndarray) -> list[list[int]]:
    """Connected groups of a symmetric-ish adjacency matrix (union-find)."""
    parent = list(range(len(adjacent)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(adjacent), strict=True):
        ri, rj = root(int(i)), root(int(j))
        if ri != rj:
            parent[ri] = rj
    groups: dict[int, list[int]] = {}
    for i in range(len(adjacent)):
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())


def _edge_pair_boxes(image: np.ndarray, aspect: float) -> list[np.ndarray]:
    """Rectangles whose long sides are two long, nearly parallel line segments.

    The long sides of a cassette or strip are its most persistent cue: they survive
    low contrast against the table, print that splits the face, and blur.
    """
    h, w = image.shape[:2]
    # Thin strips need more pixels across than cassettes to show both sides.
    f = min(1.0, (_LINE_SIDE if aspect < 6 else 1.5 * _LINE_SIDE) / max(h, w))
    small = cv2.resize(image, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    found = cv2.createLineSegmentDetector(cv2.LSD_REFINE_NONE).detect(grey)[0]
    if found is None:
        return []
    seg = found.reshape(-1, 4).astype(float)
    # Texture gives thousands of tiny segments: only pieces of real edges are worth joining.
    piece = np.hypot(seg[:, 2] - seg[:, 0], seg[:, 3] - seg[:, 1])
    seg = seg[np.argsort(-piece)[: min(300, int((piece >= 0.015 * max(grey.shape)).sum()))]]
    seg = _merge_collinear(seg, 2.0)
    d = seg[:, 2:] - seg[:, :2]
    length = np.hypot(d[:, 0], d[:, 1])
    keep = length >= 0.04 * max(grey.shape)
    seg, d, length = seg[keep], d[keep], length[keep]
    if len(seg) < 2:
        return []
    order = np.argsort(-length)[:150]
    seg, d, length = seg[order], d[order], length[order]
    u = d / length[:, None]
    u[u[:, 0] < 0] *= -1  # direction modulo 180 degrees
    mid = (seg[:, :2] + seg[:, 2:]) / 2
    n = len(seg)
    i, j = np.triu_indices(n, 1)
    cos = np.abs((u[i] * u[j]).sum(1))
    axis = u[i] + np.sign((u[i] * u[j]).sum(1))[:, None] * u[j]
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    normal = np.stack([-axis[:, 1], axis[:, 0]], 1)
    sep = np.abs(((mid[j] - mid[i]) * normal).sum(1))
    full = aspect * sep
    longest = np.maximum(length[i], length[j])
    ok = (cos > math.cos(math.radians(10))) & (sep > 3) & (longest < 1.2 * full)
    ok &= np.minimum(length[i], length[j]) > 0.25 * full
    # Ruled paper and tiles make many pairs: first those that show most of the expected
    # length and whose inside looks unlike the outside.
    cover = np.minimum((length[i] + length[j]) / (2 * np.maximum(full, 1e-6)), 1.0)
    picked = np.nonzero(ok)[0]
    if len(picked) > _MAX_PAIRS:
        contrast = _inside_contrast(
            grey, mid[i[picked]], mid[j[picked]], axis[picked], full[picked]
        )
        picked = picked[np.argsort(-(cover[picked] * contrast))][:_MAX_PAIRS]
    boxes = []
    for k in picked:
        a, b = i[k], j[k]
        ax, nm = axis[k], normal[k]
        ends = np.array([seg[a, :2], seg[a, 2:], seg[b, :2], seg[b, 2:]])
        along = ends @ ax
        lo, hi = along.min(), along.max()
        if hi - lo > 1.3 * full[k]:
            continue
        across = ((mid[a] + mid[b]) / 2) @ nm
        # Where the segments stop short of the ends, the cassette may extend either way.
        centres = {round((lo + hi) / 2, 1)}
        if hi - lo < 0.85 * full[k]:
            centres |= {round(lo + full[k] / 2, 1), round(hi - full[k] / 2, 1)}
        for c in centres:
            centre = ax * c + nm * across
            half_l, half_w = ax * full[k] / 2, nm * sep[k] / 2
            box = np.array(
                [
                    centre - half_l - half_w,
                    centre + half_l - half_w,
                    centre + half_l + half_w,
                    centre - half_l + half_w,
                ]
            )
            boxes.append(box / f)
    return boxes


_SIFT_PPM = 4.0  # px/mm at which the template's keypoints are described


def _template_keypoints(kit: Kit) -> tuple[np.ndarray, np.ndarray]:
    """SIFT keypoints (template px) and descriptors of the kit's print, cached per kit."""
    model = _model(kit)
    if model.keypoints:
        return model.keypoints[0]
    s = _SIFT_PPM / kit.px_per_mm
    small = cv2.resize(kit.template, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    alpha = small[:, :, 3:4].astype(np.float32) / 255.0
    grey = cv2.cvtColor(
        (small[:, :, :3] * alpha + 128.0 * (1.0 - alpha)).astype(np.uint8), cv2.COLOR_BGR2GRAY
    )
    # The print only: not the outline (its look depends on the table), not the unit's code,
    # not the membrane.
    mask = cv2.erode((alpha[:, :, 0] > 0.5).astype(np.uint8), _disk(2))
    regions = [(kit.window.x, kit.window.y, kit.window.w, kit.window.h, -0.5)]
    if kit.code_box is not None:
        c = kit.code_box
        regions.append((c.x, c.y, c.size, c.size, 0.7))
    for x, y, w, h, grow_mm in regions:
        g = grow_mm * kit.px_per_mm
        x0, y0 = max(0, int((x - g) * s)), max(0, int((y - g) * s))
        mask[y0 : int((y + h + g) * s) + 1, x0 : int((x + w + g) * s) + 1] = 0
    points, descriptors = _sift().detectAndCompute(grey, mask)
    if descriptors is None:
        found = (np.zeros((0, 2)), np.zeros((0, 128), np.float32))
    else:
        xy = np.array([p.pt for p in points], float)
        found = (((xy + 0.5) / s - 0.5), descriptors)
    model.keypoints.append(found)
    return found


def _sift(features: int = 0) -> cv2.Feature2D:
    # A busy table yields thousands of keypoints; the strongest thousand are plenty.
    return cv2.SIFT.create(nfeatures=features)


def _keypoint_hypotheses(image: np.ndarray, kit: Kit) -> list[np.ndarray]:
    """Template -> image homographies from SIFT matches of the kit's print, RANSAC-filtered.

    Rotation and scale invariant, indifferent to clutter and the table; needs a
    sharp enough photo with the print at least ~2 px/mm.
    """
    xy_t, desc_t = _template_keypoints(kit)
    if len(xy_t) < 6:
        return []
    h, w = image.shape[:2]
    f = min(1.0, _KEYPOINT_SIDE / max(h, w))
    small = cv2.resize(image, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    points, desc = _sift(1000).detectAndCompute(grey, None)
    if desc is None or len(points) < 6:
        return []
    pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(desc_t, desc, k=2)
    good = [m[0] for m in pairs if len(m) == 2 and m[0].distance < 0.8 * m[1].distance]
    if len(good) < 6:
        return []
    src = np.array([xy_t[m.queryIdx] for m in good], np.float32)
    dst = np.array([points[m.trainIdx].pt for m in good], np.float32)
    dst = (dst + 0.5) / f - 0.5
    found, inliers = cv2.findHomography(src, dst, cv2.RANSAC, 3.0 / f)
    if found is None or inliers is None or int(inliers.sum()) < 6:
        return []
    return [found.astype(float)]


def _dedupe(boxes: list[np.ndarray]) -> list[np.ndarray]:
    kept: list[np.ndarray] = []
    for box in boxes:
        size = np.linalg.norm(box[2] - box[0])
        if all(np.abs(box.mean(0) - k.mean(0)).max() > 0.05 * size for k in kept):
            kept.append(box)
    return kept


def _template_profile(kit: Kit) -> tuple[_Axis, np.ndarray, float]:
    """The template's outline axis, its structure profile along it, and the profile's span (mm).

    The span reaches past both ends so that the ends' edges are part of the pattern.
    Each unit's code fills its box with busy structure, so the box gets a stand-in
    pattern of random modules rather than the template's blank.
    """
    model = _model(kit)
    if model.profile:
        return model.profile[0]
    frame = _Axis.of(model.outline)
    face = kit.template[:, :, :3].copy()
    if kit.code_box is not None:
        c = kit.code_box
        modules = np.random.default_rng(0).integers(0, 2, (25, 25)).astype(np.uint8) * 255
        size = max(1, round(c.size))
        face[round(c.y) : round(c.y) + size, round(c.x) : round(c.x) + size] = cv2.resize(
            modules, (size, size), interpolation=cv2.INTER_NEAREST
        )[:, :, None]
    face = face.astype(np.float32) * (kit.template[:, :, 3:4] / 255.0)
    span = 1.15 * frame.length / kit.px_per_mm
    found = (frame, _profile(face, frame, span, kit.px_per_mm), span)
    model.profile.append(found)
    return found


def _profile(
    source: np.ndarray | _Pyramid, frame: _Axis, span_mm: float, px_per_mm: float
) -> np.ndarray:
    """Mean structure across the middle of a rectangle, sampled along its axis over ``span_mm``.

    Edges across the axis (band and print edges, the ends) make the peaks; the long
    sides, whose look depends on the table, are left out. A photo is sampled from the
    pyramid level nearest the sampling step, which stands in for anti-aliasing.
    """
    n_along = max(8, round(span_mm * _PROFILE_PPM))
    width_mm = frame.width / px_per_mm
    n_across = max(3, round(0.6 * width_mm * _PROFILE_PPM))
    step = px_per_mm / _PROFILE_PPM  # image px per sample
    if isinstance(source, _Pyramid):
        k = source.level(step)
        image = source.levels[k]
    else:
        k = 0
        image = cv2.GaussianBlur(source, (0, 0), 0.4 * step) if step > 1.5 else source
    shrink = 0.5**k
    # Sample (i, j) -> image: centre + axis * (i - n_along / 2) * step + normal * (j - ...)
    ox = (
        frame.centre
        - frame.axis * step * (n_along - 1) / 2
        - frame.normal * step * (n_across - 1) / 2
    )
    m = (
        np.array(
            [
                [frame.axis[0] * step, frame.normal[0] * step, ox[0]],
                [frame.axis[1] * step, frame.normal[1] * step, ox[1]],
            ]
        )
        * shrink
    )
    strip = cv2.warpAffine(
        image,
        m,
        (n_along, n_across),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return _structure(strip).mean(axis=0).astype(float)


def _box_hypotheses(
    kit: Kit, image: np.ndarray | _Pyramid, box: np.ndarray
) -> list[tuple[float, np.ndarray]]:
    """Place the template on a candidate rectangle: its width fixes the scale across, the
    structure profile along the axis fixes scale, position and which end is which.

    Returns (profile correlation, template -> image homography) pairs, best first.
    """
    tframe, tprofile, _ = _template_profile(kit)
    width_mm = tframe.width / kit.px_per_mm
    length_mm = tframe.length / kit.px_per_mm
    frame = _Axis.of(box)
    px_per_mm = frame.width / width_mm
    if px_per_mm < 0.8:
        return []
    span = 1.9 * length_mm
    photo = _profile(image, frame, span, px_per_mm)
    found = []
    for flip in (1, -1):
        base = tprofile if flip == 1 else tprofile[::-1]
        for scale in np.exp(np.linspace(math.log(0.75), math.log(1.33), 11)):
            n = max(8, round(len(base) * scale))
            if n >= len(photo):
                continue
            t = np.interp(np.linspace(0, len(base) - 1, n), np.arange(len(base)), base)
            ncc = _sliding_ncc(photo, t)
            o = int(np.argmax(ncc))
            found.append((float(ncc[o]), flip, float(scale), o, n))
    found.sort(key=lambda f: -f[0])
    out = []
    for ncc_value, flip, scale, o, n in found[:2]:
        # Template centre lands at profile sample o + (n - 1) / 2.
        centre_mm = (o + (n - 1) / 2) / _PROFILE_PPM - span / 2 + 0.5 / _PROFILE_PPM
        centre = frame.centre + frame.axis * centre_mm * px_per_mm
        k = px_per_mm / kit.px_per_mm  # image px per template px, across
        along = frame.axis * k * scale * flip
        across = frame.normal * k * flip
        # template px -> (along, across) template px about the template's centre -> image
        rot = np.array([tframe.axis, tframe.normal])  # rows: template axis, normal
        lin = np.column_stack([along, across]) @ rot
        h = np.eye(3)
        h[:2, :2] = lin
        h[:2, 2] = centre - lin @ tframe.centre
        out.append((ncc_value, h))
    return out


def _sliding_ncc(signal: np.ndarray, pattern: np.ndarray) -> np.ndarray:
    """Normalised cross-correlation of ``pattern`` at every offset inside ``signal``."""
    n = len(pattern)
    p = pattern - pattern.mean()
    pn = math.sqrt(float((p * p).sum())) or 1.0
    num = np.correlate(signal, p, mode="valid")
    c1 = np.concatenate([[0.0], np.cumsum(signal)])
    c2 = np.concatenate([[0.0], np.cumsum(signal * signal)])
    s1 = c1[n:] - c1[:-n]
    s2 = c2[n:] - c2[:-n]
    var = np.maximum(s2 - s1 * s1 / n, 1e-9)
    return num / (np.sqrt(var) * pn)


def _quick_score(kit: Kit, pyramid: _Pyramid, h: np.ndarray) -> float:
    return _scores(_pass(kit, _COARSE_PPM, 8.0, 6.0), pyramid, h)["score"]


# --------------------------------------------------------------------------- locate


def read_code(image: np.ndarray, kit: Kit, homography: np.ndarray) -> CodeSighting | None:
    """Decode the unit's code where the kit's ``code_box`` lies, given a homography.

    The box (with its quiet zone) is rectified upright and enlarged before decoding,
    which reads codes too small or too skewed for a search over the whole photo.

    Examples
    --------
    >>> import segno
    >>> from pipeline.kit import load_kit
    >>> kit = load_kit("datasets/kits/demo/kit.json")
    >>> face = kit.template[:, :, :3].copy()
    >>> box = kit.code_box
    >>> qr = np.array(segno.make_qr("UNIT-0002").matrix, np.uint8)
    >>> size = round(box.size)
    >>> symbol = cv2.resize((1 - qr) * 255, (size, size), interpolation=cv2.INTER_NEAREST)
    >>> face[round(box.y):round(box.y) + size, round(box.x):round(box.x) + size] = symbol[..., None]
    >>> small = cv2.resize(face, None, fx=0.3, fy=0.3, interpolation=cv2.INTER_AREA)
    >>> read_code(small, kit, np.diag([0.3, 0.3, 1.0])).text
    'UNIT-0002'
    """
    box = kit.code_box
    if box is None:
        return None
    quiet = 0.25 * box.size  # room for the quiet zone and a little misplacement
    side = 240  # px: about 7 px per module for the largest codes that fit a box
    s = side / (box.size + 2 * quiet)
    # Output px -> template px -> image px.
    to_template = np.array([[1 / s, 0, box.x - quiet], [0, 1 / s, box.y - quiet], [0, 0, 1.0]])
    m = homography @ to_template
    if _local_scale(m, (side / 2, side / 2)) * s * box.size < 20:
        return None  # under about one pixel per module: nothing to read
    upright = cv2.warpPerspective(
        image,
        m,
        (side, side),
        flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    found = find_codes(upright)
    if not found:
        return None
    best = found[0]
    corners = cv2.perspectiveTransform(best.corners[None].astype(np.float64), m)[0]
    return CodeSighting(best.text, corners)


def locate(image: np.ndarray, kit: Kit, *, codes: bool = True) -> Location | QualityIssue:
    """Find the kit's test in a photo.

    Parameters
    ----------
    image : ndarray
        BGR ``uint8`` photo, ideally reduced to a long side of about 1000 px;
        the homography refers to this image's pixels.
    kit : Kit
    codes : bool
        Look for the unit's code first (``False`` forces the template path).

    Returns
    -------
    Location or QualityIssue
        The issue's code is ``"no_cassette"`` or ``"wrong_product"``.

    Examples
    --------
    >>> from pipeline.kit import load_kit
    >>> kit = load_kit("datasets/kits/demo/kit.json")
    >>> locate(np.full((480, 640, 3), 128, np.uint8), kit).code
    'no_cassette'
    """
    pyramid = _Pyramid(image)
    tried: list[Location] = []

    def attempt(
        start: np.ndarray, method: str, code: str | None = None, coarse: bool = True
    ) -> Location:
        h, metrics = refine(image, kit, start, coarse=coarse, pyramid=pyramid)
        found = Location(h, method, code, metrics["score"], metrics["window_score"], metrics)
        tried.append(found)
        return found

    # 1. The unit's code: its corners place the template to within a millimetre or two.
    sightings = find_codes(image) if codes and kit.code_box is not None else []
    for sighting in sightings:
        # Near the code the start is good to a fraction of a millimetre: skip the coarse pass
        # unless perspective far from the code needs it.
        start = code_homography(kit, sighting)
        for coarse in (False, True):
            found = attempt(start, "code", sighting.text, coarse)
            if _accepted(found):
                return found
    code_seen = bool(sightings)

    # 2. The template alone: keypoints of the print, then outline-shaped regions.
    # A photo blurred, dark or washed out all over hides the print the search relies on:
    # say so at once rather than search in vain.
    problem = photo_problem(image)
    if problem is not None:
        return problem

    def outline_starts() -> Iterator[np.ndarray]:
        boxes: list[tuple[float, np.ndarray]] = []
        for box in _candidate_boxes(image, _model(kit).aspect):
            boxes += _box_hypotheses(kit, pyramid, box)
        boxes.sort(key=lambda item: -item[0])
        yield from (h for _, h in boxes[:4])

    # The outline search only runs when the print's keypoints did not place the kit.
    for start in itertools.chain(_keypoint_hypotheses(image, kit), outline_starts()):
        found = attempt(start, "template")
        if _accepted(found):
            if codes and kit.code_box is not None:
                read = read_code(image, kit, found.homography)
                if read is not None:
                    found = replace(found, code=read.text)
            return found

    # 3. Nothing that matches: say why as helpfully as we can.
    # Only a sharp, well resolved view in full sight can tell one product from another.
    judged = [
        f
        for f in tried
        if f.metrics.get("seen", 0.0) > 0.5
        and not math.isnan(f.score)
        and _photo_ppm(kit, f.homography) >= _JUDGE_PPM
    ]
    best = max(judged, key=lambda f: f.score, default=None)
    if best is not None and (code_seen or best.metrics.get("outline_score", 0.0) > 0.6):
        # A unit code, or something the size and shape of the kit, in full view and sharp,
        # whose print and window do not match the kit's.
        return WRONG_PRODUCT
    return NO_CASSETTE


def _accepted(found: Location) -> bool:
    # A window hidden by glare (no score there) does not count against the location; the
    # quality gates report the glare.
    if math.isnan(found.window_score):
        return found.score >= MIN_SCORE
    if found.method == "code" and found.score >= CODE_SCORE:
        return found.window_score >= CODE_WINDOW_SCORE
    return found.score >= MIN_SCORE and found.window_score >= MIN_WINDOW_SCORE
