"""Patch alignment: refine a template -> photo homography on the template's structure.

Template patches (corners and straight edges of the print and the outline) are
found near where the current homography puts them, by normalised
cross-correlation of structure, coarse to fine; a robust fit turns the matches
into a corrected homography. The code box and the membrane are left out: they
differ from unit to unit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from pipeline.color import channel_min
from pipeline.kit import Kit
from pipeline.locate.correlate import Area, masked_zncc
from pipeline.locate.geometry import centre_px_per_mm
from pipeline.locate.pyramid import Pyramid
from pipeline.locate.structure import disk, edge_strength, subpixel_peak, zncc
from pipeline.locate.template import Pass, prepared_pass

COARSE_PPM = 2.0  # px/mm of the coarse alignment level
_FINE_PPM = 6.0  # px/mm of the finest alignment level (the photo may cap it lower)


@dataclass
class _Match:
    homography: np.ndarray
    matched: int = 0
    inliers: int = 0
    window_inliers: int = 0
    patches: int = 0
    scores: dict[str, float] = field(default_factory=dict)
    correction: np.ndarray | None = None  # 3x3, frame -> frame: the fit's own correction


@dataclass(frozen=True)
class _Seen:
    """The photo seen in a pass's frame through one homography, for matching and scoring."""

    view: np.ndarray  # the warped photo (or its weakest channel, where only that is needed)
    real: np.ndarray  # inside the picture (clipped and ignored pixels included)
    structure: np.ndarray  # its blurred edge strength, as the template's


def _resampled(seen: _Seen, correction: np.ndarray) -> _Seen:
    """``seen`` as the photo looks through the homography a pass corrected by ``correction``
    (frame -> frame; :attr:`_Match.correction`), resampled rather than warped and filtered
    anew: the correction moves the frame by a pixel or so, and resampling the blurred
    structure costs about half of warping the photo, taking its gradients and blurring them
    (0.7 against 1.5 ms inside a 12-MP read at 6 px/mm).

    The view through the corrected map at frame pixel ``u`` is the view seen at
    ``correction @ u``; the weakest channel is all a judge of clipping needs of the view.

    Examples
    --------
    >>> ramp = np.tile(np.arange(8, dtype=np.float32), (4, 1))
    >>> seen = _Seen(np.zeros((4, 8, 3), np.uint8), np.ones((4, 8), bool), ramp)
    >>> moved = _resampled(seen, np.array([[1, 0, 1.0], [0, 1, 0], [0, 0, 1]]))
    >>> moved.structure[0, :4].tolist(), bool(moved.real[0, 6]), bool(moved.real[0, 7])
    ([1.0, 2.0, 3.0, 4.0], True, False)
    """
    size = (seen.real.shape[1], seen.real.shape[0])
    flags = cv2.WARP_INVERSE_MAP

    def warped(image: np.ndarray, interpolation: int) -> np.ndarray:
        return cv2.warpPerspective(image, correction, size, flags=interpolation | flags)

    return _Seen(
        view=warped(channel_min(seen.view), cv2.INTER_LINEAR),
        real=warped(seen.real.view(np.uint8), cv2.INTER_NEAREST) > 0,
        structure=warped(seen.structure, cv2.INTER_LINEAR),
    )


def _look(level: Pass, pyramid: Pyramid, homography: np.ndarray) -> _Seen:
    # Clipped pixels stay in: glare leaves patches flat, so they miss the match threshold,
    # and a face clipped white in bright light still shows its print.
    view, real = pyramid.warp(
        homography, level.frame_to_template, level.size, judge=False, clipped_unseen=False
    )
    return _Seen(view, real, cv2.GaussianBlur(edge_strength(view), (0, 0), level.blur))


def _match(level: Pass, seen: _Seen, homography: np.ndarray, motion: str = "homography") -> _Match:
    """One pass: find each template patch near where ``homography`` puts it, fit a homography.

    ``seen`` is the photo in the pass's frame through ``homography`` (:func:`_look`).
    Patches are compared by normalised cross-correlation of structure, so colour and
    contrast do not matter; RANSAC drops patches that matched clutter or the side of
    the cassette.
    """
    real, photo = seen.real, seen.structure
    tpl = level.structure
    half, r = level.half, level.radius
    src, dst, normal, trust, on_window = [], [], [], [], []
    # Python numbers, not numpy scalars: the loop's index arithmetic costs less than the match.
    for (cx, cy), near, known, (x0, y0, x1, y1), n, t in zip(
        level.centres.tolist(),
        level.near_window.tolist(),
        level.masked,
        level.crops.tolist(),
        level.normals.tolist(),
        level.trust.tolist(),
        strict=True,
    ):
        if not (real[cy - half, cx - half] and real[cy + half, cx + half]):
            continue  # beyond the picture's edge or under glare: nothing to match
        top, left = cy - half + y0, cx - half + x0  # patch origin in the frame
        patch = tpl[top : cy - half + y1, left : cx - half + x1]
        area = photo[top - r : cy - half + y1 + r, left - r : cx - half + x1 + r]
        if known is None:
            # Finite everywhere: OpenCV answers a flat window without a mask with 0.
            res = cv2.matchTemplate(area, patch, cv2.TM_CCOEFF_NORMED)
        else:
            # OpenCV's masked mode from plain correlations, at a third less cost; a window
            # flat under the mask (beyond the picture) gives no correlation, as OpenCV's
            # division by zero did.
            res = masked_zncc(Area(area), known, known.mask.shape, flat_value=-1.0)
        _, peak, _, (px, py) = cv2.minMaxLoc(res)
        if not peak > 0.5:
            continue
        dx, dy = subpixel_peak(res, px, py)
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
    result.correction = correction
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
    # One least-squares row per corner coordinate and per edge (across the edge): row r
    # measures (cx, cy) . (mapped point - target) of point p[r], so corners and edges share
    # one set of vector steps, built once (a few hundred microseconds of numpy calls saved
    # per fit over building each row block every iteration).
    p = np.concatenate([np.flatnonzero(corner), np.flatnonzero(corner), np.flatnonzero(edge)])
    n_corner = int(corner.sum())
    cx = np.concatenate([np.ones(n_corner), np.zeros(n_corner), normals[edge, 0]])
    cy = np.concatenate([np.zeros(n_corner), np.ones(n_corner), normals[edge, 1]])
    points = np.column_stack([u[p], np.ones(len(p))])  # (rows, 3): homogeneous source
    along_x, along_y = cx[:, None] * points, cy[:, None] * points
    target = cx * v[p, 0] + cy * v[p, 1]
    row_trust = trust[p]
    rows = np.zeros((len(p), 8))
    cut2 = (3 * tol) ** 2
    ridge = np.eye(params)
    for _ in range(6):
        mapped = points @ h.T
        inv_w = 1.0 / mapped[:, 2]
        projected = (cx * mapped[:, 0] + cy * mapped[:, 1]) * inv_w
        res = projected - target
        np.multiply(along_x, inv_w[:, None], out=rows[:, 0:3])
        np.multiply(along_y, inv_w[:, None], out=rows[:, 3:6])
        np.multiply(points[:, :2], (-inv_w * projected)[:, None], out=rows[:, 6:8])
        jp = rows[:, :params]
        # Tukey weights: patches far off (clutter, the cassette's side wall) count for nothing.
        wts = np.maximum(1.0 - res * res / cut2, 0.0)
        wts *= wts
        wts *= row_trust
        if np.count_nonzero(wts) < params + 1:
            return None
        jw = jp * wts[:, None]
        hess = jw.T @ jp
        step = np.linalg.solve(hess + 1e-6 * np.trace(hess) * ridge, -(jw.T @ res))
        h = h + np.array(
            [
                [step[0], step[1], step[2]],
                [step[3], step[4], step[5]],
                [step[6] if params == 8 else 0.0, step[7] if params == 8 else 0.0, 0.0],
            ]
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


def alignment_scores(
    level: Pass, pyramid: Pyramid, homography: np.ndarray, seen: _Seen | None = None
) -> dict[str, float]:
    """How well the template's structure agrees with the photo through ``homography``.

    ``seen``: the photo already seen through ``homography`` in this pass's frame
    (:func:`_look`), which spares warping it again.
    """
    seen = seen or _look(level, pyramid, homography)
    real = _judged(level, pyramid, homography, seen)
    return {
        "score": _agreement(level, seen, real, level.mask),
        "window_score": _agreement(level, seen, real, level.window_mask),
        "outline_score": _agreement(level, seen, real, level.outline_mask),
        "seen": float((level.mask & real).sum() / max(1, level.mask.sum())),
    }


def _judged(level: Pass, pyramid: Pyramid, homography: np.ndarray, seen: _Seen) -> np.ndarray:
    """Where the view through ``homography`` may judge the template's agreement (bool)."""
    hidden = pyramid.ignored(homography, level.frame_to_template, level.size)
    # The label where the code was found is no evidence for or against the kit.
    real = seen.real if hidden is None else seen.real & ~hidden
    # Compare only where the photo shows something: not beyond its edge (whose artificial
    # step the erosion keeps out), not where clipping may hide print. Clipping hides print
    # (glare); on the face's brightest material it is what bright light does to a white face,
    # which agrees with the kit, and the print's edges beside it are real evidence.
    real = cv2.erode(real.astype(np.uint8), disk(2 * level.blur + 1)) > 0
    real &= (channel_min(seen.view) < 250) | level.bright
    return real


def _agreement(level: Pass, seen: _Seen, real: np.ndarray, where: np.ndarray) -> float:
    """ZNCC of the template's and the photo's structure over ``where`` in view (``real``)."""
    judged = where & real
    n = np.count_nonzero(judged)
    if n < 0.25 * np.count_nonzero(where) or n < 10:
        return math.nan  # too little of it in view to judge
    return zncc(level.structure, seen.structure, judged)


def _agrees_better(
    level: Pass, pyramid: Pyramid, before: np.ndarray, after: np.ndarray, seen: _Seen
) -> bool:
    """Whether a pass's correction makes the print agree at least as well, at its level.

    On a narrow kit (a 5-mm strip offers the coarse pass half a dozen patches, the middle
    one a dozen, nearly in a line) a fit can follow a few wrong matches and throw a start
    good to 1-2 mm 10-15 mm along the kit, where the finer passes cannot bring it back;
    its agreement then drops (0.83-0.89 -> 0.57-0.68 on the read benchmark's strip
    photos), where a correction towards the kit raises it. Unjudgeable (too little in
    view): the correction stands. ``seen``: the photo through ``before`` (:func:`_look`).
    Only the print's agreement (``score`` of :func:`alignment_scores`) is computed.
    """
    if np.array_equal(after, before):
        return True  # the pass could not fit: the same view, the same agreement
    old = _agreement(level, seen, _judged(level, pyramid, before, seen), level.mask)
    after_seen = _look(level, pyramid, after)
    new = _agreement(level, after_seen, _judged(level, pyramid, after, after_seen), level.mask)
    return not new < old


def _schedule(photo_ppm: float, coarse: bool) -> list[tuple[float, float, float, str]]:
    """(px/mm, patch mm, search radius mm, motion) of each pass, coarse to fine.

    The coarse pass fits an affine map: its few, blurry patches cannot pin down
    perspective.
    """
    # Whole px/mm steps: each step's template structure and patches are built once per kit.
    fine = float(np.clip(round(photo_ppm), COARSE_PPM, _FINE_PPM))
    mid = float(np.clip(round(photo_ppm), COARSE_PPM, 4.0))
    passes = [(COARSE_PPM, 8.0, 6.0, "affine")] if coarse else []
    passes.append((mid, 5.0, 2.5, "homography"))
    passes.append((fine, 4.0, 1.0, "homography"))
    return passes


def refine(
    image: np.ndarray,
    kit: Kit,
    homography: np.ndarray,
    *,
    coarse: bool = True,
    pyramid: Pyramid | None = None,
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
    pyramid = pyramid or Pyramid(image)
    h = np.asarray(homography, float)
    match = _Match(h)
    level, seen, start = None, None, h
    schedule = _schedule(centre_px_per_mm(kit, h), coarse)
    for k, (ppm, patch_mm, radius_mm, motion) in enumerate(schedule):
        level = prepared_pass(kit, ppm, patch_mm, radius_mm)
        seen = _look(level, pyramid, h)
        match = _match(level, seen, h, motion)
        # The finest pass searches 1 mm and cannot throw the kit off; its sub-millimetre
        # corrections lower the agreement at times (0.906 -> 0.893 while 0.7 mm closer on
        # a cassette of the read benchmark's main mix) and must stand. From the code's start
        # (no coarse pass, good to a fraction of a millimetre) the middle pass's correction
        # stands too, sparing a warped view and two agreement scores (about 1 ms a 12-MP
        # read): the check rejected 2 of 76 such corrections on 120 benchmark photos; a
        # correction that throws the kit off leaves the attempt unaccepted, and the attempt
        # with the coarse pass follows (one of the two: 0.21 from the code's start, then
        # 0.90, where the check kept 0.75 from the code's start).
        last = k == len(schedule) - 1
        judged = coarse and not last
        if judged and not _agrees_better(level, pyramid, h, match.homography, seen):
            continue
        start, h = h, match.homography
    assert level is not None
    assert seen is not None
    # A last pass that could not fit left the map as it was: the photo is seen through it;
    # one that fitted moved the view by its correction, a pixel or so: the view resampled.
    if not np.array_equal(h, start) and match.correction is not None:
        seen = _resampled(seen, match.correction)
    metrics = alignment_scores(level, pyramid, h, seen)
    metrics.update(
        patches=float(match.patches),
        matched=float(match.matched),
        inliers=float(match.inliers),
        window_inliers=float(match.window_inliers),
    )
    return h, metrics
