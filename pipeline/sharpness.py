"""Edge spread: how blurred a photo is, as the Gaussian sigma of its sharpest edges.

A step of contrast ``C`` blurred by a Gaussian of sigma ``s`` has a steepest slope of
``C / (s * sqrt(2 pi))``, so ``s`` follows from slope and local contrast at the sharpest
edges, whatever their contrast. :func:`edge_spread_mm` measures it where a test's lines are
read, :func:`photo_blur_px` over a whole photo; :mod:`pipeline.quality` judges both against
its limits.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from pipeline.color import clipped_mask
from pipeline.kit import Kit
from pipeline.rectify import rectify_window, window_px_per_mm

RIM_BAND_MM = 1.2
"""Half-width of the band around the window's edge left out of the blur measure: a
moulded rim is a bevelled, shaded plastic edge, soft on sharp photos (0.25-0.36 mm)."""
PHOTO_TILES = 4
"""The whole-photo blur measure judges a PHOTO_TILES x PHOTO_TILES grid of tiles, each a
quarter of the picture across: a test filling 10-15 % of its width lies in one or two."""
SHARP_TILE_PX = 1.0
"""Edge spread (px of the 1000-px copy) below which a tile is clearly sharp: reduced three
to four times, a phone photo in focus keeps its sharpest edges under a pixel (read
benchmark: the test's tile measures 0.0-0.65 on fit photos on soft fabric or wood, whose
whole photo measures 2.7-3.4), while burst frames keep 1.15 and more in every tile."""
_FLOOR_PX = 0.9


def edge_spread_px(
    grey: np.ndarray,
    reach: int,
    featureless: float,
    mask: np.ndarray | None = None,
    directional: bool = False,
    min_directions: int = 1,
) -> float:
    """Gaussian sigma (px) of the sharpest edges: slope over local contrast (see
    :func:`edge_spread_mm`).

    ``mask`` limits the measure to a region (outside it the image counts as flat).
    With ``directional``, edges are grouped by the direction of their normal (four
    directions, judged at their crests) and the softest direction holding a fair share
    of them counts: motion blur softens only the edges across the motion. That needs
    many edges, as a whole photo has. ``featureless`` is returned when nothing has
    contrast enough to judge by, or when fewer than ``min_directions`` directions hold
    enough edges (edges of one direction only cannot show motion across them).
    """
    grey = grey.astype(np.float32)
    if mask is not None:
        if mask.sum() < 10:
            return featureless
        grey = np.where(mask, grey, float(np.median(grey[mask])))
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3) / 8
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3) / 8
    slope = np.sqrt(gx * gx + gy * gy)  # not cv2.magnitude: see structure.edge_strength
    kernel = np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)
    contrast = cv2.dilate(grey, kernel) - cv2.erode(grey, kernel)
    inside = contrast if mask is None else contrast[mask]
    strong = contrast >= max(20.0, 0.3 * float(np.percentile(inside, 95)))
    if mask is not None:
        strong &= mask
    if not directional:
        groups = [(slope, strong)]
    else:
        # At their crests only, and rising at least 2 % of their contrast per pixel:
        # quantisation steps of smooth shading are no edges.
        strong &= (slope >= cv2.dilate(slope, np.ones((3, 3), np.uint8))) & (
            slope >= 0.02 * contrast
        )
        groups = []
        for k in range(4):
            a = k * math.pi / 4
            along = np.abs(gx * math.cos(a) + gy * math.sin(a))
            sel = strong & (along >= math.cos(math.pi / 8) * slope)  # normal within 22.5 deg
            if sel.sum() >= 0.2 * strong.sum():
                groups.append((along, sel))
    groups = [(grad, sel) for grad, sel in groups if sel.sum() >= 10]
    if len(groups) < min_directions:
        return featureless
    worst = None
    for grad, sel in groups:
        sharpest = float(np.percentile(grad[sel] / contrast[sel], 95))
        sigma_px = 1.0 / (math.sqrt(2 * math.pi) * max(sharpest, 1e-6))
        # A perfect step already spreads over about a pixel (sampling, the derivative
        # filter): remove that floor so low-resolution photos are not judged blurred.
        sigma_px = math.sqrt(max(sigma_px**2 - _FLOOR_PX**2, 0.0))
        worst = sigma_px if worst is None else max(worst, sigma_px)
    return featureless if worst is None else worst


def photo_blur_px(image: np.ndarray) -> float:
    """Edge spread of the whole photo (Gaussian sigma) in pixels of a 1000-px-wide copy.

    For photos where no test could be found: a photo blurred all over is better
    answered with "hold still" than with "we could not find the test".

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> scene = cv2.resize(rng.integers(0, 255, (30, 40), dtype=np.uint8), (800, 600),
    ...                    interpolation=cv2.INTER_NEAREST)
    >>> sharp, soft = photo_blur_px(scene), photo_blur_px(cv2.GaussianBlur(scene, (0, 0), 6))
    >>> bool(sharp < 1.0 < 4.0 < soft)
    True
    """
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    scale = 1000.0 / max(grey.shape[:2])
    if scale < 1:
        grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    # Blurred all over means blurred everywhere: a soft texture filling most of the picture
    # (fabric, wood) must not outvote a sharp test lying on it, which may fill 10 % of its
    # width. A tile with edges in two directions or more (motion softens one direction
    # only) that is clearly sharp makes the photo sharp; otherwise the whole photo judges.
    rows, cols = grey.shape[:2]
    th, tw = -(-rows // PHOTO_TILES), -(-cols // PHOTO_TILES)
    tiles = [
        edge_spread_px(
            grey[y : y + th, x : x + tw], 8, math.nan, directional=True, min_directions=2
        )
        for y in range(0, rows, th)
        for x in range(0, cols, tw)
    ]
    sharpest = min((t for t in tiles if not math.isnan(t)), default=math.inf)
    if sharpest < SHARP_TILE_PX:
        spread = sharpest
    else:
        spread = edge_spread_px(grey, 8, 0.0, directional=True)  # a blank scene is not blurred
    return spread * scale if scale > 1 else spread


def edge_spread_mm(image: np.ndarray, homography: np.ndarray, kit: Kit) -> float:
    """How blurred the photo is where it matters: edge spread as a Gaussian sigma, mm.

    Judged on features that are sharp on real units: the lines themselves (inside
    the window) and the print around the window. The moulded rim is left out (a band
    of :data:`RIM_BAND_MM` each side of the window's edge): a bevelled, shaded plastic
    edge is soft on sharp photos; it counts only where neither lines nor print show
    any edge. A step of contrast ``C`` blurred by
    a Gaussian of sigma ``s`` has a steepest slope of ``C / (s * sqrt(2 pi))``, so
    ``s`` follows from slope and local contrast at the sharpest edges, whatever their
    contrast. Measured at the photo's own resolution and converted to millimetres, so
    it does not depend on distance. NaN when the region is mostly clipped white.

    Parameters
    ----------
    image : ndarray
        The photo (BGR), at any decoding scale.
    homography : ndarray
        3x3 map from template pixels to pixels of ``image`` placing the window
        where it was found.
    kit : Kit

    Examples
    --------
    >>> from pipeline.kit import load_kit
    >>> kit = load_kit("datasets/kits/demo/kit.json")
    >>> face = kit.template[:, :, :3]
    >>> sharp = edge_spread_mm(face, np.eye(3), kit)
    >>> soft = edge_spread_mm(cv2.GaussianBlur(face, (0, 0), 5), np.eye(3), kit)
    >>> bool(sharp < 0.2 < 0.4 < soft)
    True
    """
    ppm = float(np.clip(window_px_per_mm(kit, homography), 1.0, 20.0))
    margin = 3.0  # print within 3 mm of the window: its labels, arrows, names
    region = rectify_window(image, kit, homography, px_per_mm=ppm, margin_mm=margin)
    if float(clipped_mask(region).mean()) > 0.5:
        return math.nan  # washed out: no edges to judge by, and exposure says why
    grey = cv2.cvtColor(region, cv2.COLOR_BGR2GRAY) if region.ndim == 3 else region
    rows, cols = grey.shape
    v = (np.arange(rows) + 0.5) / ppm - margin  # mm across the window from its edge
    u = (np.arange(cols) + 0.5) / ppm - margin  # mm along the flow
    across = np.minimum(v, kit.window_width_mm - v)[:, None]
    along = np.minimum(u, kit.window_length_mm - u)[None, :]
    depth = np.minimum(across, along)  # mm inside the window's edge (negative: outside)
    reach = max(3, round(2.0 * ppm))  # contrast within +-2 mm
    # The lines inside the window and the print around it, the rim left out.
    sharp = (depth >= RIM_BAND_MM) | (depth <= -RIM_BAND_MM)
    spread = edge_spread_px(grey, reach, math.nan, sharp)
    if not math.isnan(spread):
        return spread / ppm
    # Neither lines nor print: the rim is all there is; a window without any edge is as
    # good as blurred.
    return edge_spread_px(grey, reach, math.inf) / ppm
