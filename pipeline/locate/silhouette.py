"""Whether a placed template's outline runs along the object's own outline in the photo."""

from __future__ import annotations

import cv2
import numpy as np

from pipeline.kit import Kit
from pipeline.locate.geometry import centre_px_per_mm
from pipeline.locate.pyramid import Pyramid
from pipeline.locate.structure import without_thin_lines
from pipeline.locate.template import kit_model

_PPM = 6.0  # px/mm of the view compared (at most the photo's own)
_MARGIN_MM = 2.0  # view around the outline
_REACH_MM = 0.8
"""Colours are compared this far inside and outside the outline: past the blur of a phone
photo's edge (0.3-0.4 mm), within a strip 5 mm across."""
_STEP_MM = 0.5  # between compared points along the outline
_THIN_MM = 1.5
"""Lines thinner than this are wiped out first: ruled and squared paper's lines, wood grain
and the print's own lines (1 mm) say nothing about where the object ends."""
EDGE_DELTA_E = 8.0
"""Colour difference (CIELAB, OpenCV's 8-bit scale) across the outline that shows an edge
there: clearly visible (about 3 just noticeable differences). On the read benchmark's
wide slice, small strips on ruled paper (photos 016, 087, 143) measure a median of 14-150
per side along their true outline, the places the locator tried 30-270 mm off it 0-3."""


def silhouette(image: np.ndarray | Pyramid, kit: Kit, homography: np.ndarray) -> float:
    """Share of the template's outline, placed by ``homography``, where the photo shows an
    edge: the colour just inside differs from the colour just outside.

    A strip slid along its own length, or placed on the gap between two ruled lines,
    agrees with much of its print but not with its outline: both ends, or both sides,
    lie on the table. Points outside the picture show no edge.

    Parameters
    ----------
    image : ndarray or Pyramid
        The BGR photo (or its pyramid) the homography refers to.
    kit : Kit
    homography : ndarray
        3x3 map from template px to photo px.

    Returns
    -------
    float
        0..1.

    Examples
    --------
    >>> from pipeline.kit import load_kit
    >>> kit = load_kit("datasets/kits/demo/kit.json")
    >>> h = np.array([[0.5, 0, 100], [0, 0.5, 100], [0, 0, 1.0]])
    >>> corners = kit_model(kit).outline * 0.5 + 100
    >>> photo = np.full((600, 800, 3), 90, np.uint8)  # a dark table
    >>> _ = cv2.fillPoly(photo, [corners.round().astype(np.int32)], (230, 230, 230))
    >>> slid = h + [[0, 0, 60], [0, 0, 0], [0, 0, 0]]
    >>> round(silhouette(photo, kit, h), 2), silhouette(photo, kit, slid) < 0.7
    (1.0, True)
    """
    lab, real, to_view, ppm = _view(image, kit, homography)
    outline = kit_model(kit).outline @ to_view[:2, :2].T + to_view[:2, 2]
    centre = outline.mean(axis=0)
    shown = []
    for a, b in zip(outline, np.roll(outline, -1, axis=0), strict=True):
        length = float(np.linalg.norm(b - a))
        along = (b - a) / max(length, 1e-6)
        out = np.array([-along[1], along[0]])
        if (centre - a) @ out > 0:
            out = -out
        t = np.arange(_STEP_MM * ppm, length - _STEP_MM * ppm + 1e-6, _STEP_MM * ppm)
        points = a + t[:, None] * along
        inside, outside = points - _REACH_MM * ppm * out, points + _REACH_MM * ppm * out
        both = _sample(real.astype(np.float32), inside) * _sample(real.astype(np.float32), outside)
        delta = np.linalg.norm(_sample(lab, inside) - _sample(lab, outside), axis=-1)
        shown.append((delta >= EDGE_DELTA_E) & (both > 0.99))
    every = np.concatenate(shown)
    return float(every.mean()) if len(every) else 0.0


def colour_agreement(image: np.ndarray | Pyramid, kit: Kit, homography: np.ndarray) -> float:
    """Correlation of the face's colours (CIELAB, thin lines wiped out) with the template's,
    the window left out (its membrane's tint and lines vary from unit to unit).

    Edge structure is colour-blind: a strip turned end for end keeps its long sides, which
    carry most of its structure, and its print agreement stays near its own (up to 0.77
    on the read benchmark's strips). Its colours do not: the coloured handle lies at the
    other end.

    Examples
    --------
    >>> from pipeline.kit import load_kit
    >>> kit = load_kit("datasets/kits/demo/kit.json")
    >>> h = np.array([[0.5, 0, 100], [0, 0.5, 100], [0, 0, 1.0]])
    >>> photo = np.full((600, 800, 3), 90, np.uint8)
    >>> face = cv2.resize(kit.template[:, :, :3], None, fx=0.5, fy=0.5)
    >>> photo[100 : 100 + face.shape[0], 100 : 100 + face.shape[1]] = face
    >>> th, tw = kit.template.shape[:2]
    >>> turned = h @ np.array([[-1, 0, tw - 1], [0, -1, th - 1], [0, 0, 1.0]])
    >>> round(colour_agreement(photo, kit, h), 1), colour_agreement(photo, kit, turned) < 0.5
    (1.0, True)
    """
    lab, real, to_view, ppm = _view(image, kit, homography)
    size = (lab.shape[1], lab.shape[0])
    template = cv2.warpAffine(kit.template, to_view[:2], size, flags=cv2.INTER_AREA)
    inset = max(3, round(2 * _REACH_MM * ppm) | 1)
    face = cv2.erode((template[:, :, 3] > 127).astype(np.uint8), np.ones((inset, inset), np.uint8))
    win = kit.window
    corners = np.array([[win.x, win.y], [win.x + win.w, win.y + win.h]]) @ to_view[:2, :2].T
    (x0, y0), (x1, y1) = np.round(corners + to_view[:2, 2]).astype(int)
    face[max(y0, 0) : y1, max(x0, 0) : x1] = 0
    thin = max(3, round(_THIN_MM * ppm) | 1)
    expected = cv2.cvtColor(without_thin_lines(template[:, :, :3], thin), cv2.COLOR_BGR2Lab)
    where = (face > 0) & real
    if where.sum() < 0.5 * max(1, (face > 0).sum()):
        return 0.0
    a = lab[where].astype(np.float64)
    b = expected[where].astype(np.float64)
    a -= a.mean(axis=0)
    b -= b.mean(axis=0)
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else 0.0


def _view(
    image: np.ndarray | Pyramid, kit: Kit, homography: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """The photo around the placed template at up to :data:`_PPM` px/mm, thin lines wiped
    out, in CIELAB (float32); where it lies inside the picture; the map from template px
    to the view's px; and the view's px per mm."""
    pyramid = image if isinstance(image, Pyramid) else Pyramid(image)
    ppm = min(_PPM, centre_px_per_mm(kit, homography))
    s = ppm / kit.px_per_mm
    margin = _MARGIN_MM * ppm
    to_view = np.array([[s, 0, margin], [0, s, margin], [0, 0, 1.0]])
    outline = kit_model(kit).outline * s + margin
    width, height = np.ceil(outline.max(axis=0) + margin).astype(int)
    view, real = pyramid.warp(
        homography,
        np.linalg.inv(to_view),
        (int(width), int(height)),
        judge=False,
        clipped_unseen=False,
    )
    thin = max(3, round(_THIN_MM * ppm) | 1)
    lab = cv2.cvtColor(without_thin_lines(view, thin), cv2.COLOR_BGR2Lab).astype(np.float32)
    return lab, real, to_view, ppm


def _sample(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    x = points[:, 0].astype(np.float32).reshape(-1, 1)
    y = points[:, 1].astype(np.float32).reshape(-1, 1)
    got = cv2.remap(image, x, y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return got.reshape(len(points), -1) if got.ndim == 3 else got.reshape(len(points))
