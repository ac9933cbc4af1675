"""Keypoint guesses: SIFT matches of the kit's print give template -> photo homographies."""

from __future__ import annotations

import cv2
import numpy as np

from pipeline.kit import Kit
from pipeline.locate.structure import disk
from pipeline.locate.template import kit_model

_KEYPOINT_SIDE = 640  # px: image size for keypoint matching
FINE_KEYPOINT_SIDE = 2000
"""px: image size for a second look where the photo has the pixels (a finer decode, after
nothing was found at the first size): a test 10-15 % of a 12-MP photo's width spans about
50 px at 640, too few for its print's keypoints, and 150-230 px here (read benchmark's wide
slice, photo 011: a pale cassette on ruled white paper, found 1.2 mm off and refined)."""
_SIFT_PPM = 4.0  # px/mm at which the template's keypoints are described


def _template_keypoints(kit: Kit) -> tuple[np.ndarray, np.ndarray]:
    """SIFT keypoints (template px) and descriptors of the kit's print, cached per kit."""
    model = kit_model(kit)
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
    mask = cv2.erode((alpha[:, :, 0] > 0.5).astype(np.uint8), disk(2))
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


def keypoint_hypotheses(
    image: np.ndarray, kit: Kit, side: int = _KEYPOINT_SIDE
) -> list[np.ndarray]:
    """Template -> image homographies from SIFT matches of the kit's print, RANSAC-filtered.

    Rotation and scale invariant, indifferent to clutter and the table; needs a
    sharp enough photo with the print at least ~2 px/mm once reduced to ``side`` px.

    Examples
    --------
    >>> from pipeline.kit import load_kit
    >>> kit = load_kit("datasets/kits/demo/kit.json")
    >>> keypoint_hypotheses(np.full((300, 400, 3), 128, np.uint8), kit)
    []
    """
    xy_t, desc_t = _template_keypoints(kit)
    if len(xy_t) < 6:
        return []
    h, w = image.shape[:2]
    f = min(1.0, side / max(h, w))
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
