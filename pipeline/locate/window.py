"""Find the result window itself, near where the print puts it.

Units of one product are not identical: the moulded window, and the membrane
with its lines behind it, sit up to 1.5 mm off the print from one unit to the
next, and a little turned or scaled against it. So once the print has placed
the template (:func:`pipeline.locate.align.refine`), the window is searched in
the photo within the kit's tolerances (:class:`pipeline.kit.WindowTolerance`;
by default +-2 mm each way, +-4 degrees, +-6 % scale, the widest the search is
built for; shifts are searched :data:`POSE_SLACK_MM` further there, for the error of
the print's own place): the template's rim -- a band from ``RIM_IN_MM`` inside the
window's edge to ``RIM_OUT_MM`` outside, where rim, bevel and membrane edge
show -- is matched against the photo's structure over a grid of turns and
scales, every shift at once (normalised cross-correlation), and the agreement at the
place found is judged side by side, since a rim lit from one side shows sides of
different contrast. The lines are then
read relative to the window found, and anchored on the control line
(:func:`pipeline.bands.find_lines`).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from pipeline.kit import MAX_WINDOW_SHIFT_MM, Kit
from pipeline.locate.correlate import Area, MaskedPattern, masked_pattern, masked_zncc, no_agreement
from pipeline.locate.geometry import local_scale
from pipeline.locate.pyramid import Pyramid
from pipeline.locate.structure import blur_sigma, edge_strength, subpixel_peak
from pipeline.locate.template import sample_template

RIM_OUT_MM = 0.8
"""The rim band reaches this far outside the window's edge (moulded rims are 0.5-1 mm)."""
RIM_IN_MM = 0.5
"""... and this far inside: the membrane's edge and the rim's shade on it, before lines."""
MAX_SEARCH_PPM = 4.0
"""px/mm of the search: with sub-pixel peaks about 0.05 mm, plenty for the window's place,
since the lines are then found on the membrane itself."""
MIN_SEARCH_PPM = 2.5
"""Below this the rim is a pixel or two wide: too coarse to search (a far photo)."""
POSE_SLACK_MM = 0.75
"""The shift search reaches this much beyond the kit's tolerance: the tolerance is how far a
unit's window sits from its own print, but the search starts where the print was *found*,
which is itself off where a hand-applied label covers part of the print (0.8-1.7 mm at the
window on the read benchmark's wide slice, photo 033: a window misregistered 1.2 mm was
found 2.06 mm from that place, on the edge of a 2-mm search, and sent to be read by eye).
Only with the widest tolerance (the kit promises nothing narrower): a kit that narrows it
promises precise units, and its product check stays as strict as it asked."""


def search_reach_mm(kit: Kit) -> float:
    """How far from the print's place the window is searched (:data:`POSE_SLACK_MM`).

    Examples
    --------
    >>> from pipeline.kit import load_kit
    >>> search_reach_mm(load_kit("datasets/kits/demo/kit.json"))
    2.75
    """
    shift = kit.window_tolerance.shift_mm
    return shift + POSE_SLACK_MM if shift >= MAX_WINDOW_SHIFT_MM else shift


_NEAR_MM = 0.8  # shift search around the upright match while turning and scaling
_STEPS = np.array([-1.0, -0.5, 0.5, 1.0])  # turns and scales tried, shares of the tolerance
_CLEAR_GAIN = 0.005  # rim agreement a turned pose must add to count
_SCALE_GAIN = 0.03
"""... and a scaled one: a moulded window's size is the mould's, and the print's homography
already carries the photo's scale, so a window scaled against the print must win clearly.
On a many-line kit a test line near the window's end looks like its rim's edge: the read
benchmark's wide slice, photo 071, found a window 6 % small (gaining under 0.03), one end
1.2 mm off, and sent it to be read by eye (window agreement 0.51); kept at scale, 0.61 and
0.2 mm off."""
_MOVE_GAIN = 0.1
"""Rim agreement the window found must add over the print's place to be taken: a unit
misregistered by 1-1.5 mm gains 0.4 and more by moving; on many-line kits, where strong lines
cross the rim band, and on strips, the match can drift by a millimetre for a few hundredths."""


@dataclass(frozen=True)
class WindowFit:
    """Where the result window was found.

    Attributes
    ----------
    homography : ndarray
        3x3 map from template px to image px that puts the template's window where
        the window was found (the print's homography composed with a small similarity).
    score : float
        Agreement of the rim's structure at the found place: the mean of each side's ZNCC
        over its part of the rim band (:func:`_sides_zncc`; 0.93-1.0 on a kit's rendered
        units, 0.58-0.98 with bevelled rims lit from one side, under 0.4 where no window
        is); NaN when too little of it is in view.
    shift_mm : float
        How far the window sits from where the print puts it.
    angle_deg, scale : float
        Its turn and relative size against the template.
    at_limit : bool
        The best shift lies on the edge of the search (the tolerance plus
        :data:`POSE_SLACK_MM`): the window may lie beyond.
    """

    homography: np.ndarray
    score: float
    shift_mm: float
    angle_deg: float
    scale: float
    at_limit: bool

    def metrics(self) -> dict[str, float]:
        """The fit as named numbers, for the location's metrics."""
        return {
            "window_score": self.score,
            "window_shift_mm": round(self.shift_mm, 3),
            "window_angle_deg": round(self.angle_deg, 2),
            "window_scale": round(self.scale, 4),
        }


@dataclass(frozen=True)
class _RimFrame:
    """The template around its window at one resolution: structure and the rim band."""

    ppm: float
    size: tuple[int, int]  # frame (width, height)
    frame_to_template: np.ndarray  # 3x3
    centre: np.ndarray  # window centre, frame px
    outer: np.ndarray  # (4, 2) frame px: the band's outer rectangle
    structure: np.ndarray  # float32
    band: np.ndarray  # float32 0/1, (4, height, width): the band's four sides
    blur: float
    reach: int  # shift search radius, frame px
    grid: tuple[tuple[float, ...], tuple[float, ...]]  # the turns and scales sampled
    poses: dict[tuple[float, float], _Pose] = field(default_factory=dict)

    def turned(
        self, angle: float, scale: float, q: np.ndarray, box: tuple[int, int, int, int]
    ) -> _Pose:
        """The structure and the rim band turned and scaled by ``q``, cut to ``box``, ready
        to correlate; the grid's poses are made once per kit, poses in between every time."""
        key = (angle, scale)
        cached = self.poses.get(key)
        if cached is not None:
            return cached
        x0, y0, x1, y1 = box
        pattern = cv2.warpAffine(self.structure, q[:2], self.size)[y0:y1, x0:x1]
        band = np.stack(
            [cv2.warpAffine(side, q[:2], self.size)[y0:y1, x0:x1] for side in self.band]
        )
        made = _Pose(
            masked_pattern(pattern, band.sum(0)),
            [s for s in (_side(pattern, side) for side in band) if s is not None],
            (pattern.shape[0], pattern.shape[1]),
        )
        if angle in self.grid[0] and scale in self.grid[1]:
            self.poses[key] = made
        return made


@dataclass(frozen=True)
class _Side:
    """One side of the rim band, cut to where the band is: the pattern over that part, and
    where the part starts in the whole pattern (correlating the zeros around it adds
    nothing but time)."""

    pattern: MaskedPattern
    top: int
    left: int


@dataclass(frozen=True)
class _Pose:
    """The rim's pattern at one turn and scale: over the whole band and side by side (the
    sides with too little of the band to judge left out)."""

    whole: MaskedPattern | None
    sides: list[_Side]
    shape: tuple[int, int]  # the pattern's (rows, columns)


_FRAMES: OrderedDict[tuple[str, float, float], _RimFrame] = OrderedDict()


def _rim_frame(kit: Kit, ppm: float, margin_mm: float) -> _RimFrame:
    tolerance = kit.window_tolerance
    reach_mm = search_reach_mm(kit)
    key = (kit.content_key, ppm, margin_mm)
    cached = _FRAMES.get(key)
    if cached is not None:
        _FRAMES.move_to_end(key)
        return cached
    w = kit.window
    k = ppm / kit.px_per_mm  # frame px per template px
    g = margin_mm * kit.px_per_mm
    x0, y0 = w.x - g, w.y - g
    size = (round((w.w + 2 * g) * k), round((w.h + 2 * g) * k))
    frame_to_template = np.array([[1 / k, 0, x0], [0, 1 / k, y0], [0, 0, 1.0]])
    framed = sample_template(kit.template, frame_to_template, size, k)
    face = framed[:, :, :3] * (framed[:, :, 3:4] / 255.0)
    blur = blur_sigma(ppm)
    structure = cv2.GaussianBlur(edge_strength(face), (0, 0), blur)

    def rect(grow_mm: float) -> tuple[int, int, int, int]:
        d = (g - grow_mm * kit.px_per_mm) * k
        return (round(d), round(d), round(size[0] - d), round(size[1] - d))

    ring = np.zeros((size[1], size[0]), np.float32)
    ox0, oy0, ox1, oy1 = rect(RIM_OUT_MM)
    ix0, iy0, ix1, iy1 = rect(-RIM_IN_MM)
    ring[oy0:oy1, ox0:ox1] = 1.0
    ring[iy0:iy1, ix0:ix1] = 0.0
    # Each pixel of the ring belongs to the side of the window's edge nearest to it.
    ex0, ey0, ex1, ey1 = rect(0.0)
    yy, xx = np.mgrid[0 : size[1], 0 : size[0]]
    nearest = np.argmin(np.abs(np.stack([xx - ex0, ex1 - xx, yy - ey0, ey1 - yy])), axis=0)
    band = np.stack([ring * (nearest == k) for k in range(4)]).astype(np.float32)
    outer = np.array([[ox0, oy0], [ox1, oy0], [ox1, oy1], [ox0, oy1]], float)
    frame = _RimFrame(
        ppm=ppm,
        size=size,
        frame_to_template=frame_to_template,
        centre=np.array([(size[0] - 1) / 2, (size[1] - 1) / 2]),
        outer=outer,
        structure=structure,
        band=band,
        blur=blur,
        reach=max(1, math.ceil(reach_mm * ppm)),
        grid=(
            tuple(float(a) for a in np.unique([0.0, *(_STEPS * tolerance.angle_deg)])),
            tuple(float(s) for s in np.unique([1.0, *(1.0 + _STEPS * tolerance.scale)])),
        ),
    )
    _FRAMES[key] = frame
    while len(_FRAMES) > 32:
        _FRAMES.popitem(last=False)
    return frame


def _similarity(centre: np.ndarray, angle_deg: float, scale: float) -> np.ndarray:
    a = math.radians(angle_deg)
    lin = scale * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    q = np.eye(3)
    q[:2, :2] = lin
    q[:2, 2] = centre - lin @ centre
    return q


def find_window(image: np.ndarray | Pyramid, kit: Kit, homography: np.ndarray) -> WindowFit | None:
    """Search the result window near where ``homography`` (template -> image) puts it.

    Parameters
    ----------
    image : ndarray or Pyramid
        The photo (BGR) or its pyramid.
    kit : Kit
        Its ``window_tolerance`` bounds the search.
    homography : ndarray
        3x3 map from template px to image px, placed on the print.

    Returns
    -------
    WindowFit or None
        ``None`` when the photo is too coarse on the window to search it.

    Examples
    --------
    >>> from pipeline.kit import load_kit
    >>> kit = load_kit("datasets/kits/demo/kit.json")
    >>> photo = cv2.warpAffine(kit.template[:, :, :3], np.float32([[0.6, 0, 30], [0, 0.6, 40]]),
    ...                        (260, 640), borderValue=(90, 90, 90))
    >>> print_place = np.array([[0.6, 0, 30 - 0.6 * 12], [0, 0.6, 40], [0, 0, 1]])
    >>> fit = find_window(photo, kit, print_place)   # the print says 1.2 mm further left
    >>> round(fit.shift_mm, 1), fit.score > 0.8
    (1.2, True)
    """
    pyramid = image if isinstance(image, Pyramid) else Pyramid(image)
    tol = kit.window_tolerance
    w = kit.window
    centre_t = np.array([w.x + w.w / 2, w.y + w.h / 2])
    photo_ppm = local_scale(homography, (float(centre_t[0]), float(centre_t[1]))) * kit.px_per_mm
    if photo_ppm < MIN_SEARCH_PPM:
        return None
    ppm = float(min(MAX_SEARCH_PPM, math.floor(photo_ppm)))
    # Turning and scaling move the window's ends furthest: the frame must hold them too.
    half_diag_mm = 0.5 * math.hypot(w.w, w.h) / kit.px_per_mm
    sweep_mm = half_diag_mm * (math.radians(tol.angle_deg) + tol.scale)
    frame = _rim_frame(kit, ppm, search_reach_mm(kit) + RIM_OUT_MM + sweep_mm + 0.5)

    view, real = pyramid.warp(homography, frame.frame_to_template, frame.size)
    photo = cv2.GaussianBlur(edge_strength(view), (0, 0), frame.blur)
    in_band = frame.band.sum(axis=0) > 0
    if real[in_band].mean() < 0.5:
        return WindowFit(homography, math.nan, 0.0, 0.0, 1.0, False)
    # Unseen pixels (beyond the picture, glare, the code label) carry no structure evidence.
    photo[~real] = float(np.median(photo[real])) if real.any() else 0.0

    def agreement(
        angle: float, scale: float, around: tuple[int, int], reach: int, sides: bool = False
    ) -> np.ndarray | None:
        """Rim agreement for this turn and scale at every shift within ``reach`` frame px
        of ``around`` (``around`` at the map's centre); None where the frame cannot hold
        them. The whole band places the window (its long sides fix turn and scale best);
        ``sides`` judges the agreement side by side."""
        q = _similarity(frame.centre, angle, scale)
        corners = frame.outer @ q[:2, :2].T + q[:2, 2]
        x0, y0 = np.floor(corners.min(0)).astype(int) - 1
        x1, y1 = np.ceil(corners.max(0)).astype(int) + 2
        ax, ay = around
        if (
            x0 + ax - reach < 0
            or y0 + ay - reach < 0
            or x1 + ax + reach > frame.size[0]
            or y1 + ay + reach > frame.size[1]
        ):
            return None
        pose = frame.turned(angle, scale, q, (x0, y0, x1, y1))
        area = Area(photo[y0 + ay - reach : y1 + ay + reach, x0 + ax - reach : x1 + ax + reach])
        if sides:
            return _sides_zncc(area, pose.sides, pose.shape)
        return masked_zncc(area, pose.whole, pose.shape)

    def peak_of(
        res: np.ndarray | None, around: tuple[int, int], reach: int
    ) -> tuple[float, float, float]:
        """(score, dx, dy) of the best shift in an :func:`agreement` map."""
        if res is None:
            return -1.0, 0.0, 0.0
        _, peak, _, (px, py) = cv2.minMaxLoc(res)
        dx, dy = subpixel_peak(res, px, py)
        return float(peak), around[0] + px + dx - reach, around[1] + py + dy - reach

    def score_at(
        angle: float, scale: float, around: tuple[int, int], reach: int, sides: bool = False
    ) -> tuple[float, float, float]:
        """Best rim agreement for this pose near ``around``: (score, dx, dy)."""
        return peak_of(agreement(angle, scale, around, reach, sides), around, reach)

    # The shift first, upright and at scale; then the turn near that shift, then the scale.
    # Rim agreement changes little with small turns and scales (the rim is long and thin
    # next to its blur), so a pose away from the template's must win clearly.
    upright = agreement(0.0, 1.0, (0, 0), frame.reach)
    best = (peak_of(upright, (0, 0), frame.reach), 0.0, 1.0)
    # Where the print puts it: the upright map at no shift, else that one shift alone.
    print_place = (
        float(upright[frame.reach, frame.reach])
        if upright is not None
        else score_at(0.0, 1.0, (0, 0), 0)[0]
    )
    near = (round(best[0][1]), round(best[0][2]))
    small = max(1, round(_NEAR_MM * ppm))
    turned = max(
        (
            (found, a, 1.0)
            for a, found in _outward(
                frame.grid[0], 0.0, best[0][0], lambda a: score_at(a, 1.0, near, small)
            )
        ),
        key=lambda item: item[0][0],
        default=best,
    )
    if turned[0][0] > best[0][0] + _CLEAR_GAIN:
        best = turned
    angle = best[1]
    scaled = max(
        (
            (found, angle, s)
            for s, found in _outward(
                frame.grid[1], 1.0, best[0][0], lambda s: score_at(angle, s, near, small)
            )
        ),
        key=lambda item: item[0][0],
        default=best,
    )
    if scaled[0][0] > best[0][0] + _SCALE_GAIN:
        best = scaled
    (peak, dx, dy), angle, scale = best
    # Judged side by side where it was found (see _sides_zncc).
    judged = score_at(angle, scale, (round(dx), round(dy)), 1, sides=True)[0]
    if peak - print_place < _MOVE_GAIN:
        # Not clearly better than where the print puts it: the print's place stands (lines
        # crossing the rim band, or a strip's pads, can pull the match a little astray).
        return WindowFit(homography, judged, 0.0, 0.0, 1.0, False)
    r = frame.reach
    # Only a shift at its limit means the window may lie beyond: turn and scale at theirs
    # still put the rim within a few tenths of a millimetre.
    at_limit = bool(max(abs(dx), abs(dy)) >= r - 0.5)
    # Frame px: shift after the turn about the window's centre; then in template px.
    moved = np.array([[1, 0, dx], [0, 1, dy], [0, 0, 1.0]]) @ _similarity(
        frame.centre, angle, scale
    )
    to_template = frame.frame_to_template
    to_found = to_template @ moved @ np.linalg.inv(to_template)
    found_h = homography @ to_found
    return WindowFit(
        homography=found_h / found_h[2, 2],
        score=judged,
        shift_mm=float(math.hypot(dx, dy) / ppm),
        angle_deg=float(angle),
        scale=float(scale),
        at_limit=at_limit,
    )


def _outward(
    grid: tuple[float, ...],
    centre: float,
    centre_score: float,
    score: Callable[[float], tuple[float, float, float]],
) -> list[tuple[float, tuple[float, float, float]]]:
    """The poses of ``grid`` (turns or scales) scored outward from ``centre`` on each side,
    a side left as soon as a pose agrees no better than the one before it.

    The rim's agreement rises towards the window's own turn and scale and falls beyond it,
    so a pose further out than one that lost cannot win: on the read benchmark's photos
    the search scored two or three of the four poses of each grid instead of all four.

    Returns
    -------
    list of (value, score)
        Each pose tried, with ``score(value)`` (agreement, dx, dy).

    Examples
    --------
    >>> agreement = {-2.0: 0.7, -1.0: 0.8, 1.0: 0.95, 2.0: 0.97}
    >>> tried = _outward((-2.0, -1.0, 0.0, 1.0, 2.0), 0.0, 0.9,
    ...                  lambda a: (agreement[a], 0.0, 0.0))
    >>> [value for value, _ in tried]
    [1.0, 2.0, -1.0]
    """
    tried = []
    for side in ([v for v in grid if v > centre], [v for v in reversed(grid) if v < centre]):
        last = centre_score
        for value in side:
            found = score(value)
            tried.append((value, found))
            if not found[0] > last:
                break
            last = found[0]
    return tried


def _sides_zncc(area: Area, sides: list[_Side], shape: tuple[int, ...]) -> np.ndarray:
    """Rim agreement at every shift: the mean over the rim's four sides of each side's own
    normalised cross-correlation (:func:`~pipeline.locate.correlate.masked_zncc`).

    A moulded rim is lit from one side: one bevel bright, the opposite one shaded, so its
    sides show different contrast that the template's flat print does not predict. Each
    side judged on its own scale, the rim agrees wherever it is in place; a side with
    too little of it in view (no pattern) does not count.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> pattern = rng.random((20, 30)).astype(np.float32)
    >>> sides = np.zeros((4, 20, 30), np.float32)
    >>> sides[0, :, :10], sides[1, :, 20:] = 1, 1
    >>> area = rng.random((26, 36)).astype(np.float32)
    >>> area[2:22, 4:34] = pattern
    >>> area[2:22, 24:34] *= 5   # one side lit far more brightly
    >>> cut = [s for s in (_side(pattern, side) for side in sides) if s is not None]
    >>> res = _sides_zncc(Area(area), cut, pattern.shape)
    >>> [int(i) for i in np.unravel_index(res.argmax(), res.shape)], round(float(res.max()), 3)
    ([2, 4], 1.0)
    """
    if not sides:
        return no_agreement(area.centred, shape)
    out_rows = area.centred.shape[0] - shape[0] + 1
    out_columns = area.centred.shape[1] - shape[1] + 1
    maps = []
    for side in sides:
        rows, columns = side.pattern.mask.shape
        part = area.cut(side.top, side.left, rows + out_rows - 1, columns + out_columns - 1)
        maps.append(masked_zncc(part, side.pattern, (rows, columns)))
    return np.mean(maps, axis=0).astype(np.float32)


def _side(pattern: np.ndarray, band: np.ndarray) -> _Side | None:
    """``pattern`` ready to correlate over one side's ``band``, cut to the band's extent;
    None where the band is too small to judge."""
    rows, columns = np.nonzero(band)
    if rows.size == 0:
        return None
    top, bottom, left, right = rows.min(), rows.max() + 1, columns.min(), columns.max() + 1
    cut = masked_pattern(pattern[top:bottom, left:right], band[top:bottom, left:right])
    return None if cut is None else _Side(cut, int(top), int(left))
