"""Quality gates: could a person read this photo, and can the model?

Each check returns a :class:`QualityCheck`: the numbers it measured with their
limits, and the issues it found, each with a message the patient can act on. A
check is iterable over its issues, so ``issues += check_blur(...)`` collects them.

A retake is the last resort: an issue here means a person could not read the
photo either. Where a person could but the model should not alone (soft focus),
a check says so with ``by_eye``. Every threshold below states where its value
comes from; fit and unfit renders pin them in ``tests/pipeline/test_quality.py``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np

from pipeline.color import channel_max, channel_min, clipped_mask, in_channel
from pipeline.kit import Kit
from pipeline.reading import QualityIssue
from pipeline.rectify import window_corners
from pipeline.sharpness import edge_spread_mm, photo_blur_px

MIN_PX_PER_MM = 4.0
"""Resolution on the window (full-size photo) below which lines cannot be measured: a
1-mm line spans fewer than four pixels, fewer than the JPEG's 8-px blocks resolve."""
BY_EYE_BLUR = 0.3
"""Edge spread (:func:`edge_spread_mm`) in line widths above which the model should not
read alone. A line blurred by sigma = 0.3 line widths keeps erf(1 / (0.6 sqrt 2)) = 90 %
of its peak density: a faint line at its band's floor (OD 0.02) still reads 0.018, above
the trace band. Phone optics in focus spread 1-1.8 px, 0.13-0.36 mm on a cassette 10-15 %
of a 12-MP photo's width (5-8 px/mm): the read benchmark's wide slice measured 0.25-0.29
line widths on photos in focus whose lines the model read right at confidence 1.0, sent to
be read by eye at the earlier 0.25 (the measure reads about 0.87 of the true sigma,
tests/pipeline/test_quality.py)."""
RETAKE_BLUR = 0.35
"""... and above which nobody can tell the lines apart: the renderer's unreadable blur
(true sigma 1-2.2 line widths) measures 0.23-0.6 on lines and print, or leaves no edge at
all; 0.35 mm was the rim-based limit for 1-mm lines. The measure saturates on strong blur
of thin features, so this limit sits on its own scale, not at a true sigma."""
DARK_LEVEL = 45
"""Membrane level (8-bit, in the channel the lines are read in) below which the photo is
too dark: a faint line (OD 0.02, 4.5 %) then differs by under two code values."""
OVEREXPOSED_FRACTION = 0.5
"""Share of window pixels clipped in the lines' channel above which the window is washed
out: lines on clipped membrane leave no trace."""
WASHED_OUT_FLOOR = 246
"""Membrane level in the lines' channel (8-bit) from which the window is washed out: the
camera's tone curve flattens faint lines in its shoulder. Fit renders measure up to
about 235 in the lines' channel, overexposed ones 250 and more (tests/pipeline)."""
GLARE_FRACTION = 0.02
"""Share of the window covered by specular highlights (clipped blobs in the lines'
channel) above which glare may hide a line: 2 % of a 5 x 19 mm window is about a
line's area."""
GLARE_EDGE_MM = 0.6
"""Band along the window's long edges left out of the glare measure: a phone's sharpening
halo there (clipped rows 0.3-0.4 mm thick on a bright strip of the read benchmark's wide
slice, photo 015, read right once left out) or the rim's highlight hides no line, which
runs across the whole window."""
FRAME_MARGIN_MM = 1.0
"""How far inside the picture the window's edges must stay."""
PHOTO_DARK_LEVEL = 60
"""Brightest 0.5 % of a photo (8-bit) below which the whole photo is too dark."""
PHOTO_CLIPPED_FRACTION = 0.4
"""Share of a photo clipped white (every channel) above which it is overexposed as a whole;
one saturated colour channel (a tinted scene) is not overexposure."""
PHOTO_BLUR_PX = 2.5
"""Edge spread (px of a 1000-px-wide copy, worst direction) above which a whole photo is
blurred: fit renders measure 0.5-1.5, unreadable ones 3 and more."""
TOO_FAR = QualityIssue(
    "too_far",
    "The test is too small in the photo. Move the phone closer so the test fills most of "
    "the picture, and take the photo again.",
)
BLUR = QualityIssue(
    "blur",
    "The photo is blurred. Hold the phone still, tap the screen on the test so the camera "
    "focuses on it, and take the photo again.",
)
TOO_DARK = QualityIssue(
    "too_dark",
    "The photo is too dark. Take it in a brighter place, without your shadow on the test.",
)
OVEREXPOSED = QualityIssue(
    "overexposed",
    "The photo is too bright and the result window is washed out. Avoid direct sunlight "
    "and the flash, and take the photo again.",
)
GLARE = QualityIssue(
    "glare",
    "Light is reflecting off the result window. Tilt the phone a little or move away from "
    "the lamp or window, and take the photo again.",
)
WINDOW_OUT_OF_FRAME = QualityIssue(
    "window_out_of_frame",
    "Part of the result window is outside the picture. Move the phone back so the whole "
    "test is in the photo.",
)

# A person can read these photos; the model should not alone (status "by_eye").
LOCATED_ROUGHLY = QualityIssue(
    "located_roughly",
    "A clinician will read your photo: the test's result window could only be found roughly.",
)
SOFT_FOCUS = QualityIssue(
    "soft_focus",
    "A clinician will read your photo: it is a little out of focus. Next time, tap the "
    "screen on the test so the camera focuses on it.",
)
AMBIGUOUS_LINES = QualityIssue(
    "ambiguous_line",
    "A clinician will read your photo: a line on the test is too faint to call automatically.",
)


@dataclass(frozen=True)
class QualityCheck:
    """What one check measured and the issues it found (iterable over the issues).

    Examples
    --------
    >>> check = check_resolution(2.5)
    >>> [issue.code for issue in check], check.metrics, check.limits
    (['too_far'], {'px_per_mm': 2.5}, {'px_per_mm': 4.0})
    >>> bool(check_resolution(9.0))
    False
    """

    issues: list[QualityIssue] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    limits: dict[str, float] = field(default_factory=dict)
    by_eye: bool = False
    """A person can read the photo, but the model should not alone."""

    def __iter__(self) -> Iterator[QualityIssue]:
        return iter(self.issues)

    def __bool__(self) -> bool:
        return bool(self.issues)

    def __len__(self) -> int:
        return len(self.issues)


def check_resolution(px_per_mm: float) -> QualityCheck:
    """Too far away: fewer than :data:`MIN_PX_PER_MM` full-size photo pixels per mm on the window.

    Examples
    --------
    >>> [i.code for i in check_resolution(3.0)], [i.code for i in check_resolution(12.0)]
    (['too_far'], [])
    """
    issues = [TOO_FAR] if px_per_mm < MIN_PX_PER_MM else []
    return QualityCheck(
        issues, {"px_per_mm": round(float(px_per_mm), 3)}, {"px_per_mm": MIN_PX_PER_MM}
    )


def check_framing(image_shape: tuple[int, ...], homography: np.ndarray, kit: Kit) -> QualityCheck:
    """The result window, widened by :data:`FRAME_MARGIN_MM`, must lie inside the picture.

    Parameters
    ----------
    image_shape : tuple
        ``image.shape`` of the photo ``homography`` maps into.
    homography : ndarray
        3x3 map from template pixels to photo pixels.
    kit : Kit

    Examples
    --------
    >>> from pipeline.kit import load_kit
    >>> kit = load_kit("datasets/kits/demo/kit.json")
    >>> [i.code for i in check_framing((900, 300, 3), np.eye(3), kit)]
    []
    >>> shifted = np.array([[1, 0, -120.0], [0, 1, 0], [0, 0, 1]])
    >>> [i.code for i in check_framing((900, 300, 3), shifted, kit)]
    ['window_out_of_frame']
    """
    h, w = image_shape[:2]
    corners = window_corners(kit, homography, margin_mm=FRAME_MARGIN_MM)
    # Share of the window (a grid over it) inside the picture, for the explanation.
    grid = np.linspace(0.0, 1.0, 9)
    u, v = np.meshgrid(grid, grid)
    u, v = u.ravel()[:, None], v.ravel()[:, None]
    inner = window_corners(kit, homography)
    pts = (
        inner[0] * (1 - u) * (1 - v)
        + inner[3] * u * (1 - v)
        + inner[1] * (1 - u) * v
        + inner[2] * u * v
    )
    inside = (pts[:, 0] >= 0) & (pts[:, 0] <= w - 1) & (pts[:, 1] >= 0) & (pts[:, 1] <= h - 1)
    ok = bool(
        (corners[:, 0] >= 0).all()
        and (corners[:, 0] <= w - 1).all()
        and (corners[:, 1] >= 0).all()
        and (corners[:, 1] <= h - 1).all()
    )
    metrics = {"window_inside": round(float(inside.mean()), 3)}
    return QualityCheck([] if ok else [WINDOW_OUT_OF_FRAME], metrics, {"window_inside": 1.0})


def cassette_view(image: np.ndarray, homography: np.ndarray, kit: Kit) -> np.ndarray:
    """The kit's face rectified upright at 2 px/mm, outside the outline blanked to mid grey.

    A cheap view for telling a reflection on the window from overexposure (see
    :func:`check_exposure`).

    Examples
    --------
    >>> from pipeline.kit import load_kit
    >>> kit = load_kit("datasets/kits/demo/kit.json")
    >>> cassette_view(kit.template[:, :, :3], np.eye(3), kit).shape
    (171, 48, 3)
    """
    s = 2.0 / kit.px_per_mm
    th, tw = kit.template.shape[:2]
    size = (max(2, round(tw * s)), max(2, round(th * s)))
    to_template = np.array([[1 / s, 0, 0.5 / s - 0.5], [0, 1 / s, 0.5 / s - 0.5], [0, 0, 1.0]])
    view = cv2.warpPerspective(
        image,
        homography @ to_template,
        size,
        flags=cv2.INTER_AREA | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    view[_outside_face(kit, size)] = 128
    return view


_OUTSIDE: dict[tuple[str, tuple[int, int]], np.ndarray] = {}


def _outside_face(kit: Kit, size: tuple[int, int]) -> np.ndarray:
    """Where the kit's template at ``size`` is not its face (bool); made once per kit."""
    key = (kit.content_key, size)
    cached = _OUTSIDE.get(key)
    if cached is None:
        if len(_OUTSIDE) >= 16:
            _OUTSIDE.pop(next(iter(_OUTSIDE)))
        face = cv2.resize(kit.template[:, :, 3], size, interpolation=cv2.INTER_AREA) > 127
        cached = _OUTSIDE[key] = ~face
        cached.setflags(write=False)
    return cached


def _local_highlight(window_bgr: np.ndarray, surround_bgr: np.ndarray | None) -> bool:
    """Is the window clipped while the cassette around it mostly is not? Then it is a
    reflection, not overexposure.

    ``surround_bgr`` is a larger view around the window: best :func:`cassette_view`
    (overexposure clips the whole face, a reflection only part of it); the photo
    itself also works where the table is as bright as the kit.
    """
    if surround_bgr is None:
        return False
    # A reflection is colourless: white clipping tells it from a membrane clipped in the
    # lines' channel only because it is the brightest thing in view.
    inside = float(clipped_mask(window_bgr).mean())
    around = float(clipped_mask(surround_bgr).mean())
    return inside > GLARE_FRACTION and around < min(0.5, 0.7 * inside)


def check_exposure(
    window_bgr: np.ndarray, surround_bgr: np.ndarray | None = None, channel: int | None = None
) -> QualityCheck:
    """Too dark, or washed out, on the rectified result window, in the lines' channel.

    Exposure is judged where the lines are read: a yellowish membrane whose blue
    channel clips while the green channel, where a gold line is read, is well
    exposed is not overexposed. Washed out means clipped, or so bright that the
    camera's tone curve flattens faint lines. A window clipped while the cassette
    around it is not (given ``surround_bgr``) is a reflection, left to :func:`check_glare`.

    Parameters
    ----------
    window_bgr : ndarray
        The rectified window (:func:`pipeline.rectify.rectify_window`), BGR ``uint8``.
    surround_bgr : ndarray, optional
        A larger view around the window, best :func:`cassette_view`: tells a local
        reflection (the window clipped, the cassette around it not) from overexposure.
    channel : int, optional
        BGR index of the channel the lines are read in (``Profile.channel``); without
        it, darkness is judged on the brightest channel and washing out on the weakest.

    Examples
    --------
    >>> dark = np.full((40, 160, 3), 20, np.uint8)
    >>> [i.code for i in check_exposure(dark)]
    ['too_dark']
    >>> [i.code for i in check_exposure(np.full((40, 160, 3), 252, np.uint8))]
    ['overexposed']
    >>> tinted = np.full((40, 160, 3), (255, 200, 240), np.uint8)   # blue clips, green fine
    >>> [i.code for i in check_exposure(tinted, channel=1)]   # read in green
    []
    >>> [i.code for i in check_exposure(tinted, channel=0)]   # read in blue
    ['overexposed']
    """
    level = float(np.percentile(in_channel(window_bgr, channel, "max"), 75))
    floor = float(np.percentile(in_channel(window_bgr, channel, "min"), 60))
    clipped = float(clipped_mask(window_bgr, channel).mean())
    metrics = {
        "membrane_level": round(level, 1),
        "membrane_floor": round(floor, 1),
        "clipped_fraction": round(clipped, 4),
    }
    limits = {
        "membrane_level": float(DARK_LEVEL),
        "membrane_floor": float(WASHED_OUT_FLOOR),
        "clipped_fraction": OVEREXPOSED_FRACTION,
    }
    issues = []
    if level < DARK_LEVEL:
        issues.append(TOO_DARK)
    elif (clipped > OVEREXPOSED_FRACTION or floor >= WASHED_OUT_FLOOR) and not _local_highlight(
        window_bgr, surround_bgr
    ):
        issues.append(OVEREXPOSED)
    return QualityCheck(issues, metrics, limits)


def check_glare(
    window_bgr: np.ndarray,
    surround_bgr: np.ndarray | None = None,
    channel: int | None = None,
    px_per_mm: float | None = None,
    exposure: QualityCheck | None = None,
) -> QualityCheck:
    """Specular highlights on the rectified window: clipped blobs in the lines' channel.

    A window washed out together with the cassette around it is overexposure,
    reported by :func:`check_exposure`, not glare.

    Parameters
    ----------
    window_bgr : ndarray
        The rectified window, BGR ``uint8``.
    surround_bgr : ndarray, optional
        A larger view around the window, as for :func:`check_exposure`.
    channel : int, optional
        The lines' channel, as for :func:`check_exposure` (default: white clipping).
    px_per_mm : float, optional
        Resolution of ``window_bgr``: with it, a band of :data:`GLARE_EDGE_MM` along the
        window's long edges is left out.
    exposure : QualityCheck, optional
        :func:`check_exposure` of the same window, surround and channel, where the
        caller has it: spares judging it again.

    Examples
    --------
    >>> window = np.full((40, 160, 3), 190, np.uint8)
    >>> window[5:35, 60:100] = 255
    >>> [i.code for i in check_glare(window)]
    ['glare']
    >>> [i.code for i in check_glare(np.full((40, 160, 3), 190, np.uint8))]
    []
    >>> flooded = np.full((40, 160, 3), 255, np.uint8)
    >>> around = np.full((80, 200, 3), 180, np.uint8)
    >>> [i.code for i in check_glare(flooded)], [i.code for i in check_glare(flooded, around)]
    ([], ['glare'])
    """
    clipped = clipped_mask(window_bgr, channel)
    if px_per_mm is not None:
        # The window's long edges: a phone's sharpening halo or the rim's highlight, where
        # no line is read.
        edge = min(round(GLARE_EDGE_MM * px_per_mm), clipped.shape[0] // 4)
        clipped = clipped[edge : clipped.shape[0] - edge]
    # Single clipped pixels are noise; glare comes in blobs.
    blobs = cv2.morphologyEx(clipped.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    fraction = float(blobs.mean())
    metrics = {"glare_fraction": round(fraction, 4)}
    if exposure is None:
        exposure = check_exposure(window_bgr, surround_bgr, channel)
    overexposed = bool(exposure)
    issues = [GLARE] if fraction > GLARE_FRACTION and not overexposed else []
    return QualityCheck(issues, metrics, {"glare_fraction": GLARE_FRACTION})


def photo_problem(image: np.ndarray) -> QualityIssue | None:
    """What is wrong with a whole photo in which no test was found, if anything obvious.

    Blurred all over, dark all over, or clipped white over much of the picture: each
    hides the test, and each has a better answer for the patient than "not found".

    Examples
    --------
    >>> [photo_problem(np.full((300, 400, 3), v, np.uint8)).code for v in (10, 255)]
    ['too_dark', 'overexposed']
    >>> photo_problem(np.full((300, 400, 3), 128, np.uint8)) is None
    True
    """
    bright = channel_max(image)
    if float(np.percentile(bright, 99.5)) < PHOTO_DARK_LEVEL:
        return TOO_DARK
    white = channel_min(image)
    if float((white >= 254).mean()) > PHOTO_CLIPPED_FRACTION:
        return OVEREXPOSED
    if photo_blur_px(image) > PHOTO_BLUR_PX:
        return BLUR
    return None


def check_blur(image: np.ndarray, homography: np.ndarray, kit: Kit) -> QualityCheck:
    """Blur where the lines are read, in millimetres (independent of distance).

    Above :data:`RETAKE_BLUR` line widths nobody can tell the lines apart: a retake.
    Above :data:`BY_EYE_BLUR` a person can still read them, the model should not
    alone: ``by_eye``.

    Parameters
    ----------
    image : ndarray
        The photo (BGR), at any decoding scale.
    homography : ndarray
        3x3 map from template pixels to pixels of ``image`` placing the window where
        it was found.
    kit : Kit

    Examples
    --------
    >>> from pipeline.kit import load_kit
    >>> kit = load_kit("datasets/kits/demo/kit.json")
    >>> face = kit.template[:, :, :3]
    >>> [i.code for i in check_blur(face, np.eye(3), kit)]
    []
    >>> soft = check_blur(cv2.GaussianBlur(face, (0, 0), 3.8), np.eye(3), kit)
    >>> [i.code for i in soft], soft.by_eye
    ([], True)
    >>> [i.code for i in check_blur(cv2.GaussianBlur(face, (0, 0), 12), np.eye(3), kit)]
    ['blur']
    """
    spread = edge_spread_mm(image, homography, kit)
    retake = RETAKE_BLUR * kit.line_width_mm
    by_eye = BY_EYE_BLUR * kit.line_width_mm
    limits = {"blur_mm": round(retake, 3), "blur_mm_by_eye": round(by_eye, 3)}
    if math.isnan(spread):
        return QualityCheck([], {"blur_mm": math.nan, "blur_mm_by_eye": math.nan}, limits)
    value = round(min(spread, 99.0), 4)
    issues = [BLUR] if not spread <= retake else []
    return QualityCheck(
        issues,
        {"blur_mm": value, "blur_mm_by_eye": value},
        limits,
        by_eye=not issues and spread > by_eye,
    )
